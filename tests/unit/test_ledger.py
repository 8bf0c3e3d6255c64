"""The request ledger on a moto table built from the template's own definition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from dispatch_verify.adapters.aws import ledger
from dispatch_verify.adapters.aws.ledger import Ledger
from dispatch_verify.logic.outcome import record_outcome
from dispatch_verify.models import Attempt, WorkflowState
from dispatch_verify.ports.ledger import LedgerConflict, LedgerItem
from moto import mock_aws

from local_engine import create_table

from .conftest import a_state
from .fakes import FakeTime

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch, now: FakeTime) -> Iterator[str]:
    with mock_aws():
        name = create_table(TEMPLATE, boto3.Session(), "DispatchLedgerTable")
        monkeypatch.setenv("LEDGER_TABLE_NAME", name)
        yield name


def with_attempt(state: WorkflowState, dispatch_id: str = "AD_one") -> WorkflowState:
    state = state.model_copy(deep=True)
    state.attempts.append(
        Attempt(
            dispatch_id=dispatch_id,
            created_at="2027-01-15T08:00:00.000Z",
            created_at_epoch=1.0,
            deadline_epoch=2.0,
        )
    )
    return state


def test_the_template_table_is_keyed_by_request_id_and_expires_items(table: str) -> None:
    # Given the table built from the template
    dynamodb = boto3.client("dynamodb")

    # When its key and TTL are described
    key = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]

    # Then the request id is the key and expires_at the TTL attribute
    assert key == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    assert ttl == {"AttributeName": "expires_at", "TimeToLiveStatus": "ENABLED"}


def test_an_accepted_request_is_running_and_expires_after_the_ttl(table: str, now: FakeTime) -> None:
    # Given the ledger
    book = Ledger(table)

    # When a request is accepted
    book.accept(LedgerItem(request_id="req-1", room="r", agent_name="a", body_sha256="abc"))

    # Then it is stored running, with its body hash and an expiry 30 days on
    item = book.get("req-1")
    assert item is not None
    assert (item.status, item.body_sha256, item.room) == ("running", "abc", "r")
    assert item.expires_at == int(now()) + 30 * 86_400


def test_accepting_a_taken_request_id_raises_with_the_stored_item(table: str) -> None:
    # Given an accepted request
    book = Ledger(table)
    book.accept(LedgerItem(request_id="req-1", room="r", agent_name="a", body_sha256="first"))

    # When the same id is accepted again with another body
    with pytest.raises(LedgerConflict) as raised:
        book.accept(LedgerItem(request_id="req-1", room="r", agent_name="a", body_sha256="second"))

    # Then the conflict carries the first item, which is unchanged
    assert raised.value.existing.body_sha256 == "first"
    stored = book.get("req-1")
    assert stored is not None and stored.body_sha256 == "first"


def test_steps_record_attempts_and_the_outcome_even_without_an_api_item(table: str) -> None:
    # Given a request started without the API (no item yet), after its first dispatch
    state = with_attempt(a_state())

    # When the dispatch step and then Record outcome write the ledger
    ledger.record_progress(state)
    state.check = None
    done = record_outcome(state)
    ledger.record_outcome(done)

    # Then the item exists with the attempt, and the final status and cause
    item = Ledger(table).get(state.request_id)
    assert item is not None
    assert item.status == "escalated"
    assert item.cause == done.outcome.cause if done.outcome else False
    assert [a.dispatch_id for a in item.attempts] == ["AD_one"]
    assert (item.room, item.agent_name) == (state.request.room, state.request.agent_name)
    assert item.expires_at is not None


def test_a_late_step_never_turns_a_finished_request_back_to_running(table: str) -> None:
    # Given a request whose outcome is recorded
    state = with_attempt(a_state())
    ledger.record_outcome(record_outcome(state))

    # When a retried step writes progress afterwards
    ledger.record_progress(with_attempt(state, "AD_two"))

    # Then the item keeps its final status and attempts
    item = Ledger(table).get(state.request_id)
    assert item is not None
    assert item.status == "escalated"
    assert [a.dispatch_id for a in item.attempts] == ["AD_one"]


def test_without_a_ledger_table_the_steps_write_nothing(
    monkeypatch: pytest.MonkeyPatch, now: FakeTime
) -> None:
    # Given no LEDGER_TABLE_NAME (and no AWS at all)
    monkeypatch.delenv("LEDGER_TABLE_NAME", raising=False)

    # When a step records progress
    # Then nothing is called and nothing fails
    ledger.record_progress(with_attempt(a_state()))


def test_a_failing_ledger_write_is_logged_and_does_not_fail_the_step(
    monkeypatch: pytest.MonkeyPatch, now: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a ledger table that does not exist
    with mock_aws():
        monkeypatch.setenv("LEDGER_TABLE_NAME", "no-such-table")
        state = with_attempt(a_state())

        # When the steps write it
        ledger.record_progress(state)
        ledger.record_outcome(record_outcome(state))

    # Then each failure is logged as an error, and no exception reached the step
    errors = [record for record in caplog.records if record.getMessage() == "ledger write failed"]
    assert len(errors) == 2
