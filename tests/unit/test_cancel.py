"""Cancel (logic/cancel.py) over the real ledger adapter on moto, a fake LiveKit and fake executions:
who is stopped, what is deleted, what is announced, and what a repeat or a race does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from dispatch_verify.adapters.aws import ledger
from dispatch_verify.adapters.aws.ledger import Ledger
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.logic.cancel import AlreadyFinished, cancel_dispatch
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.models import Outcome, WorkflowState
from dispatch_verify.ports.livekit import LiveKitPort
from moto import mock_aws

from local_engine import create_table

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:exec-0001"


class FakeExecutions:
    def __init__(self, status: str, execution_input: dict[str, Any]) -> None:
        self.status, self.input, self.stopped = status, json.dumps(execution_input), []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        raise AssertionError("a cancel starts nothing")

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return {"status": self.status, "input": self.input}

    def stop(self, execution_arn: str, cause: str) -> None:
        self.stopped.append(execution_arn)
        self.status = "ABORTED"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, now: FakeTime) -> Iterator[Ledger]:
    with mock_aws():
        name = create_table(TEMPLATE, boto3.Session(), "DispatchLedgerTable")
        monkeypatch.setenv("LEDGER_TABLE_NAME", name)
        yield Ledger(name)


def running(store: Ledger, livekit: FakeLiveKit, **options: Any) -> WorkflowState:
    """A request whose first dispatch is made and recorded, its execution started."""
    livekit.rooms[ROOM] = 600
    state = dispatch_agent(a_state(**options), livekit)
    ledger.record_progress(state, "waiting_for_agent")
    store.started(state.request_id, ARN)
    return state


def cancel(
    store: Ledger, executions: FakeExecutions, livekit: LiveKitPort, published: list[Outcome], **kw: Any
) -> Any:
    @contextmanager
    def connect() -> Iterator[LiveKitPort]:
        yield livekit

    return cancel_dispatch("exec-0001", store, executions, connect, published.append, **kw)


def test_an_unknown_request_is_none(store: Ledger, livekit: FakeLiveKit) -> None:
    assert cancel(store, FakeExecutions("RUNNING", {}), livekit, []) is None


def test_a_running_request_is_recorded_stopped_cleaned_up_and_announced_once(
    store: Ledger, livekit: FakeLiveKit
) -> None:
    # Given a running request with its dispatch, one of its own a step made before the stop (same agent
    # and metadata, not in the ledger yet), and another agent's dispatch in the same room
    state = running(store, livekit)
    request = state.request
    untracked = livekit.create_dispatch(ROOM, AGENT, request.metadata)
    other = livekit.create_dispatch(ROOM, "other-agent", request.metadata)
    executions = FakeExecutions("RUNNING", request.model_dump(mode="json"))
    published: list[Outcome] = []

    # When it is cancelled
    done = cancel(store, executions, livekit, published)

    # Then the ledger says cancelled, the execution was stopped, its two dispatches deleted (not the
    # other agent's), no room deleted (not asked), and one cancelled outcome announced
    assert done is not None and done.repeated is False
    assert done.item.status == "cancelled"
    assert executions.stopped == [ARN]
    assert sorted(done.dispatches_deleted) == sorted([state.attempts[0].dispatch_id, untracked.dispatch_id])
    assert [d.dispatch_id for d in livekit.live_in(ROOM)] == [other.dispatch_id]
    assert done.room_deleted is False and ROOM in livekit.rooms
    assert [(o.status, o.request_id, o.attempts) for o in published] == [("cancelled", "exec-0001", 1)]

    # And a repeat answers the same without doing anything again
    again = cancel(store, executions, livekit, published)
    assert again is not None and again.repeated is True and again.item.status == "cancelled"
    assert executions.stopped == [ARN] and len(published) == 1


def test_an_execution_that_ended_before_the_ledger_knew_is_finished_not_cancelled(
    store: Ledger, livekit: FakeLiveKit
) -> None:
    # Given a running ledger item whose execution has ended (its final write lost)
    state = running(store, livekit)
    executions = FakeExecutions("FAILED", state.request.model_dump(mode="json"))

    # When it is cancelled, Then the ledger is repaired from the execution and the cancel refused;
    # nothing is stopped, deleted or announced
    published: list[Outcome] = []
    with pytest.raises(AlreadyFinished):
        cancel(store, executions, livekit, published)
    assert executions.stopped == [] and published == []
    assert len(livekit.live_in(ROOM)) == 1


@pytest.mark.parametrize(("create_room", "deleted"), [(True, True), (False, False)])
def test_the_room_is_deleted_only_when_asked_and_the_workflow_was_let_create_it(
    store: Ledger, livekit: FakeLiveKit, create_room: bool, deleted: bool
) -> None:
    state = running(store, livekit, create_room=create_room)
    executions = FakeExecutions("RUNNING", state.request.model_dump(mode="json"))
    done = cancel(store, executions, livekit, [], delete_room=True)
    assert done is not None and done.room_deleted is deleted
    assert (ROOM in livekit.rooms) is not deleted


def test_a_request_that_ended_first_is_not_cancelled(store: Ledger, livekit: FakeLiveKit) -> None:
    # Given a request whose outcome was recorded (verified)
    state = running(store, livekit)
    store.finish_from_execution("exec-0001", {"status": "verified", "finished_at": "2027-01-15T08:00:09Z"})
    executions = FakeExecutions("SUCCEEDED", state.request.model_dump(mode="json"))

    # When it is cancelled, Then it says so, and nothing was done or announced
    published: list[Outcome] = []
    with pytest.raises(AlreadyFinished) as ended:
        cancel(store, executions, livekit, published)
    assert ended.value.item.status == "verified"
    assert published == [] and executions.stopped == []


def test_a_livekit_failure_during_the_clean_up_leaves_the_cancel_standing_and_announced(
    store: Ledger, livekit: FakeLiveKit
) -> None:
    state = running(store, livekit)
    livekit.fail_next("list_dispatches", DispatchVerifyError.of("livekit_unavailable", "unavailable"))
    executions = FakeExecutions("RUNNING", state.request.model_dump(mode="json"))
    published: list[Outcome] = []
    done = cancel(store, executions, livekit, published)
    assert done is not None and done.item.status == "cancelled" and done.dispatches_deleted == []
    assert executions.stopped == [ARN] and len(published) == 1


class ReadOnceStale(Ledger):
    """A ledger whose first read is the item as it was before another writer ended the request: the
    race between reading ``running`` and the conditional write."""

    def __init__(self, table: str, stale: Any) -> None:
        super().__init__(table)
        self._stale = stale

    def get(self, request_id: str) -> Any:
        stale, self._stale = self._stale, None
        return stale if stale is not None else super().get(request_id)


def test_a_cancel_that_loses_the_race_to_another_cancel_answers_as_a_repeat(
    store: Ledger, livekit: FakeLiveKit
) -> None:
    # Given a request read as running, while another cancel has already been recorded
    state = running(store, livekit)
    stale = store.get("exec-0001")
    executions = FakeExecutions("RUNNING", state.request.model_dump(mode="json"))
    assert cancel(store, executions, livekit, []) is not None  # the other cancel
    executions.status = "RUNNING"  # read before the other cancel's stop took effect
    racing = ReadOnceStale(store.table_name, stale)

    # When this cancel's conditional write fails, Then it answers as the repeat it is, doing nothing
    published: list[Outcome] = []
    done = cancel(racing, executions, livekit, published)
    assert done is not None and done.repeated is True and done.item.status == "cancelled"
    assert published == [] and executions.stopped == [ARN]


def test_a_cancel_that_loses_the_race_to_the_outcome_says_the_request_ended(
    store: Ledger, livekit: FakeLiveKit
) -> None:
    # Given a request read as running, while its outcome (verified) has been recorded meanwhile
    state = running(store, livekit)
    stale = store.get("exec-0001")
    store.finish_from_execution("exec-0001", {"status": "verified", "finished_at": "2027-01-15T08:00:09Z"})
    executions = FakeExecutions("RUNNING", state.request.model_dump(mode="json"))

    # When it is cancelled, Then the conditional write loses and the request is reported ended
    with pytest.raises(AlreadyFinished) as ended:
        cancel(ReadOnceStale(store.table_name, stale), executions, livekit, [])
    assert ended.value.item.status == "verified" and executions.stopped == []
