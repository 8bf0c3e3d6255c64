"""Await agent: the token is recorded before the look, so a join in between is never missed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from dispatch_verify.adapters.aws.waits import WaitTokens
from dispatch_verify.errors import LiveKitTransientError
from dispatch_verify.logic.await_agent import await_agent
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.models import WorkflowState
from dispatch_verify.ports.livekit import Job
from moto import mock_aws

from local_engine import create_table

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime
from .test_api_samples import TEMPLATE


@pytest.fixture
def tokens() -> Iterator[WaitTokens]:
    with mock_aws():
        yield WaitTokens(create_table(TEMPLATE, boto3.Session(), "WaitTokenTable"))


class Resumed:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, token: str, output: dict[str, Any]) -> bool:
        self.calls.append((token, output))
        return True


def dispatched(livekit: FakeLiveKit) -> WorkflowState:
    return dispatch_agent(a_state(poll_interval_s=3), livekit)


def test_the_token_is_recorded_for_the_room_and_agent_and_nothing_is_resumed_yet(
    livekit: FakeLiveKit, tokens: WaitTokens, now: FakeTime
) -> None:
    # Given a dispatched agent not in the room yet
    state, resume = dispatched(livekit), Resumed()

    # When the wait is set up
    result = await_agent(state, "token-1", livekit, tokens, resume)

    # Then the token waits under the room for that agent, expiring well after the poll interval,
    # and nobody resumed it
    assert result == "awaiting"
    (waiter,) = tokens.awaiting(ROOM, AGENT)
    assert (waiter.request_id, waiter.task_token) == (state.request_id, "token-1")
    assert waiter.expires_at > now() + 3
    assert tokens.awaiting(ROOM, "other-agent") == [] and tokens.awaiting("other-room", AGENT) == []
    assert resume.calls == []


def test_an_agent_that_joined_before_the_token_was_recorded_resumes_the_wait_at_once(
    livekit: FakeLiveKit, tokens: WaitTokens, now: FakeTime
) -> None:
    # Given the agent joined after the last check (its webhook found no token to resume)
    state, resume = dispatched(livekit), Resumed()
    livekit.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT)

    # When the wait is set up
    result = await_agent(state, "token-1", livekit, tokens, resume)

    # Then the look after recording resumes the task itself
    assert result == "already_joined"
    assert [(token, output["by"], output["agent_identity"]) for token, output in resume.calls] == [
        ("token-1", "look", "agent-AJ_1")
    ]
    assert livekit.calls[-1] == "list_participants"


def test_a_failed_look_leaves_the_wait_to_its_timeout(livekit: FakeLiveKit, tokens: WaitTokens) -> None:
    # Given LiveKit failing the look
    state, resume = dispatched(livekit), Resumed()
    livekit.fail_next("list_participants", LiveKitTransientError.of("livekit_unavailable", "503"))

    # When the wait is set up
    result = await_agent(state, "token-1", livekit, tokens, resume)

    # Then the token is recorded anyway and the task waits (its timeout leads to the check)
    assert result == "awaiting"
    assert [w.task_token for w in tokens.awaiting(ROOM, AGENT)] == ["token-1"]


def test_the_next_wait_replaces_the_token_and_a_stale_token_cannot_delete_it(
    livekit: FakeLiveKit, tokens: WaitTokens
) -> None:
    # Given a request that waited once, then again
    state = dispatched(livekit)
    await_agent(state, "token-1", livekit, tokens, Resumed())
    (first,) = tokens.awaiting(ROOM, AGENT)
    await_agent(state, "token-2", livekit, tokens, Resumed())

    # When the first wait's item is forgotten (a late duplicate webhook)
    forgotten = tokens.forget(first)

    # Then only the newest token remains, and the stale one did not remove it
    assert forgotten is False
    assert [w.task_token for w in tokens.awaiting(ROOM, AGENT)] == ["token-2"]


def test_a_wait_whose_token_cannot_be_recorded_fails_so_the_state_machine_polls(
    livekit: FakeLiveKit,
) -> None:
    # Given no table to record into
    state = dispatched(livekit)
    with mock_aws():
        tokens = WaitTokens("no-such-table")

        # When the wait is set up, Then it raises (the Catch falls back to the plain Wait), unlooked
        calls_before = len(livekit.calls)
        with pytest.raises(ClientError) as raised:
            await_agent(state, "token-1", livekit, tokens, Resumed())
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert livekit.calls[calls_before:] == []


def test_the_token_outlives_the_wait_the_state_computed(
    livekit: FakeLiveKit, tokens: WaitTokens, now: FakeTime
) -> None:
    # Given a dispatch expecting webhooks, looked at once: its next wait is the 30 s backstop, not the
    # 3 s poll interval
    from dispatch_verify.adapters.aws.waits import TOKEN_TTL_MARGIN_S

    state = dispatch_agent(a_state(poll_interval_s=3, webhook_backstop_s=30), livekit, webhooks=True)
    now.advance(3)
    state = check_participants(state, livekit, webhooks=True)
    assert state.wait_s == 30

    # When the wait is set up
    await_agent(state, "token-1", livekit, tokens, Resumed())

    # Then the token expires after that wait (plus the margin), so a webhook late in it still resumes it
    (waiter,) = tokens.awaiting(ROOM, AGENT)
    assert waiter.expires_at == int(now()) + 30 + TOKEN_TTL_MARGIN_S


@pytest.mark.parametrize(
    ("job", "cause"),
    [(Job("AJ_1", "JS_FAILED", error="no worker capacity"), "job_failed"), (None, None)],
)
def test_a_job_refused_at_once_ends_the_wait_at_once_and_a_pending_one_does_not(
    livekit: FakeLiveKit, tokens: WaitTokens, now: FakeTime, job: Job | None, cause: str | None
) -> None:
    # Given webhooks expected (the first wait is the 30 s backstop) and a dispatch whose job LiveKit
    # failed at once (no worker capacity: no webhook will say so), or one still without a job
    resume = Resumed()
    state = dispatch_agent(a_state(poll_interval_s=3, webhook_backstop_s=30), livekit, webhooks=True)
    assert state.wait_s == 30
    if job is not None:
        (dispatch,) = livekit.list_dispatches(ROOM)
        livekit.set_jobs(dispatch.dispatch_id, job)

    # When the wait is set up
    result = await_agent(state, "token-1", livekit, tokens, resume)

    # Then the failed job resumes the task at once, saying why, and the check that follows re-dispatches
    # (seconds after the dispatch, not at the backstop); a job not yet assigned keeps the wait
    if cause is None:
        assert (result, resume.calls) == ("awaiting", [])
        return
    assert result == "dispatch_over"
    assert [(token, output["by"], output["dispatch_over"]) for token, output in resume.calls] == [
        ("token-1", "look", cause)
    ]
    state = check_participants(state, livekit, webhooks=True)
    assert state.check is not None and (state.check.next, state.check.cause) == ("redispatch", cause)
