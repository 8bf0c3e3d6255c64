""" "Await agent" is the state machine's own DynamoDB write (no Lambda): the dispatching step prepares the
request's wait item before CreateDispatch, the wait records its token unless a join was marked since
the step looked, and the join webhook marks the item and resumes the token it finds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from dispatch_verify.adapters.aws import waits
from dispatch_verify.adapters.aws.waits import WaitTokens
from dispatch_verify.handlers import dispatch_agent as dispatch_handler
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.wait_time import WAIT_ITEM_MARGIN_S
from dispatch_verify.models import WorkflowState
from dispatch_verify.ports.livekit import Job
from moto import mock_aws

from local_engine import create_table

from .await_write import record_wait
from .conftest import AGENT, ROOM, LambdaContext, a_request, a_state
from .fakes import FakeLiveKit, FakeTime
from .test_api_samples import TEMPLATE


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        name = create_table(TEMPLATE, boto3.Session(), "WaitTokenTable")
        monkeypatch.setenv("WAIT_TABLE_NAME", name)
        yield name


@pytest.fixture
def tokens(table: str) -> WaitTokens:
    return WaitTokens(table)


@pytest.fixture
def dynamodb(table: str) -> Any:
    return boto3.client("dynamodb")


def prepared(livekit: FakeLiveKit, **options: Any) -> WorkflowState:
    """A dispatch as "Dispatch agent" makes it with webhooks expected: the item prepared first."""
    state = a_state(**options)
    looked_at = waits.expect_the_join(state, webhooks=True)
    return dispatch_agent(state, livekit, webhooks=True, looked_at=looked_at)


def test_a_wait_records_its_token_for_the_room_and_agent_and_the_join_resumes_it(
    livekit: FakeLiveKit, tokens: WaitTokens, dynamodb: Any, table: str, now: FakeTime
) -> None:
    # Given a dispatch, its item prepared, the agent not there yet
    state = prepared(livekit)
    assert tokens.awaiting(ROOM, AGENT) == []  # prepared: no token yet

    # When "Await agent" records its token, and the agent's join webhook comes 12 s later
    record_wait(dynamodb, state, "token-1", table)
    (waiter,) = tokens.awaiting(ROOM, AGENT)
    now.advance(12)
    marked = tokens.joined(ROOM, AGENT, now())

    # Then the token waited under the room, for that agent, expiring after the wait, and the join found
    # it; another agent or room finds nothing
    assert (waiter.request_id, waiter.task_token) == (state.request_id, "token-1")
    assert waiter.expires_at >= now() + (state.wait_s or 0) - 12
    assert [w.task_token for w in marked] == ["token-1"]
    assert tokens.joined(ROOM, "other-agent", now()) == [] and tokens.joined("other-room", AGENT, now()) == []


def test_a_join_marked_after_the_step_looked_refuses_the_recording_so_the_check_runs_at_once(
    livekit: FakeLiveKit, tokens: WaitTokens, dynamodb: Any, table: str, now: FakeTime
) -> None:
    # Given a dispatch, and the agent's join webhook handled before "Await agent" recorded its token
    # (a warm agent: nothing to resume yet, but the item prepared before CreateDispatch is marked)
    state = prepared(livekit)
    now.advance(0.4)
    assert tokens.joined(ROOM, AGENT, now()) == []

    # When "Await agent" tries to record its token
    with pytest.raises(ClientError) as refused:
        record_wait(dynamodb, state, "token-1", table)

    # Then the write is refused (the state machine's Catch goes to "Check participants" at once), and
    # no token waits for a webhook that already came
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert tokens.awaiting(ROOM, AGENT) == []


def test_a_join_marked_before_the_last_look_does_not_refuse_a_later_wait(
    livekit: FakeLiveKit, tokens: WaitTokens, dynamodb: Any, table: str, now: FakeTime
) -> None:
    # Given a join marked (the agent came, then left), and a check after it that waits again
    state = prepared(livekit, join_timeout_s=60)
    now.advance(5)
    tokens.joined(ROOM, AGENT, now())
    now.advance(1)
    state = check_participants(state, livekit, webhooks=True)
    assert state.check is not None and state.check.next == "wait"

    # When "Await agent" records its token
    record_wait(dynamodb, state, "token-2", table)

    # Then it is recorded: a join the check already looked past does not end the wait (no loop)
    assert [w.task_token for w in tokens.awaiting(ROOM, AGENT)] == ["token-2"]


def test_a_join_marked_at_the_instant_of_the_look_does_not_refuse_the_wait(
    livekit: FakeLiveKit, tokens: WaitTokens, dynamodb: Any, table: str, now: FakeTime
) -> None:
    # Given a join marked at the very instant a check looked (the look saw what LiveKit had then; on a
    # virtual clock, where handlers take no time, the two are often equal)
    state = prepared(livekit, join_timeout_s=60)
    now.advance(5)
    state = check_participants(state, livekit, webhooks=True)
    tokens.joined(ROOM, AGENT, now())

    # When "Await agent" records its token
    record_wait(dynamodb, state, "token-2", table)

    # Then it is recorded: only a mark later than the look refuses it (no check after check at one time)
    assert [w.task_token for w in tokens.awaiting(ROOM, AGENT)] == ["token-2"]


def test_a_used_token_is_removed_and_the_item_and_its_mark_stay_for_the_next_wait(
    livekit: FakeLiveKit, tokens: WaitTokens, dynamodb: Any, table: str, now: FakeTime
) -> None:
    # Given a recorded wait that a join resumed
    state = prepared(livekit)
    record_wait(dynamodb, state, "token-1", table)
    (waiter,) = tokens.joined(ROOM, AGENT, now() + 1)

    # When the webhook forgets the token it used, and again (a duplicate)
    first, again = tokens.forget(waiter), tokens.forget(waiter)

    # Then the token is gone once, and the item keeps its mark for the request's next wait
    assert (first, again) == (True, False)
    assert tokens.awaiting(ROOM, AGENT) == []
    item = dynamodb.get_item(
        TableName=table, Key={"room": {"S": ROOM}, "request_id": {"S": state.request_id}}
    )
    assert "joined_at" in item["Item"] and "task_token" not in item["Item"]


def test_the_dispatch_step_prepares_the_item_before_createdispatch(
    connected: FakeLiveKit, tokens: WaitTokens, dynamodb: Any, table: str, lambda_context: LambdaContext
) -> None:
    # Given LiveKit that notes whether the request's item existed when CreateDispatch came
    seen: list[bool] = []
    create = connected.create_dispatch

    def noting(room: str, agent_name: str, metadata: str) -> Any:
        seen.append(bool(dynamodb.scan(TableName=table)["Items"]))
        return create(room, agent_name, metadata)

    connected.create_dispatch = noting  # type: ignore[method-assign]

    # When "Dispatch agent" runs on a request, webhooks expected
    result = WorkflowState.model_validate(
        dispatch_handler.lambda_handler({"state": a_request(), "execution_name": "exec-9"}, lambda_context)
    )

    # Then the item was there first, for that agent, and the state says what "Await agent" writes: the
    # look before it, and a TTL past the wait
    assert seen == [True]
    (item,) = dynamodb.scan(TableName=table)["Items"]
    assert (item["room"]["S"], item["request_id"]["S"], item["agent_name"]["S"]) == (ROOM, "exec-9", AGENT)
    assert result.wait_item is not None and result.wait_s is not None
    looked_at, expires_at = float(result.wait_item.looked_at), int(result.wait_item.expires_at)
    assert looked_at <= result.attempts[0].created_at_epoch
    assert expires_at >= looked_at + result.wait_s + WAIT_ITEM_MARGIN_S - 1


@pytest.mark.parametrize("seen", ["failed job", "agent there", "pending"])
def test_a_job_refused_at_once_or_an_agent_already_there_makes_the_first_wait_one_second(
    livekit: FakeLiveKit, now: FakeTime, seen: str, table: str
) -> None:
    # Given LiveKit that fails the job at once (no worker capacity: no webhook says so), or an agent of
    # that name already in the room (its join came before the dispatch), or a job just pending
    create = livekit.create_dispatch

    def and_then(room: str, agent_name: str, metadata: str) -> Any:
        dispatch = create(room, agent_name, metadata)
        if seen == "failed job":
            livekit.set_jobs(dispatch.dispatch_id, Job("AJ_1", "JS_FAILED", error="no worker capacity"))
        elif seen == "pending":
            livekit.set_jobs(dispatch.dispatch_id, Job("AJ_1", "JS_PENDING"))
        return dispatch

    livekit.create_dispatch = and_then  # type: ignore[method-assign]
    if seen == "agent there":
        livekit.add_participant(ROOM, "agent-AJ_0", agent_name=AGENT, joined_at=now())

    # When it is dispatched, webhooks expected (the wait is otherwise the 45 s backstop)
    state = prepared(livekit)

    # Then the wait lasts a second, and the check after it decides (re-dispatch, or verified) seconds
    # after the dispatch, not at the backstop; a pending job waits the backstop
    if seen == "pending":
        assert state.wait_s == 45
        return
    assert state.wait_s == 1
    now.advance(1)
    state = check_participants(state, livekit, webhooks=True)
    assert state.check is not None
    assert state.check.next == ("redispatch" if seen == "failed job" else "verified")


def test_without_webhooks_no_item_is_prepared_and_no_extra_look_is_made(
    livekit: FakeLiveKit, dynamodb: Any, table: str
) -> None:
    # Given a stack that expects no webhooks
    state = a_state()

    # When the agent is dispatched
    looked_at = waits.expect_the_join(state, webhooks=False)
    calls_before = len(livekit.calls)
    state = dispatch_agent(state, livekit, webhooks=False, looked_at=looked_at)

    # Then nothing was written to the wait table, LiveKit was asked only to list and create, and the
    # wait is the poll interval
    assert dynamodb.scan(TableName=table)["Items"] == []
    assert livekit.calls[calls_before:] == ["list_dispatches", "create_dispatch"]
    assert state.wait_s == 3
