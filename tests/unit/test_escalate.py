"""Escalate: the evidence bundle, its cause, and its publication to SNS and EventBridge."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dispatch_verify.errors import InvalidRequestError, LiveKitPermanentError
from dispatch_verify.handlers import escalate as handler
from dispatch_verify.handlers import record_outcome as record_outcome_handler
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent, redispatch_agent
from dispatch_verify.logic.escalation import escalate
from dispatch_verify.models import StepError, WorkflowState
from dispatch_verify.ports.livekit import Job
from moto import mock_aws

from .conftest import AGENT, ROOM, LambdaContext, a_state
from .fakes import FakeLiveKit, FakeTime

SECRET = "lk-api-secret-do-not-leak-0123456789abcdef"


def gave_up(livekit: FakeLiveKit, now: FakeTime) -> WorkflowState:
    """Two attempts whose jobs stayed pending, a caller in the room, check says escalate."""
    state = dispatch_agent(a_state(join_timeout_s=10, max_attempts=2), livekit)
    livekit.add_participant(ROOM, "sip-caller", kind="SIP")
    while True:
        livekit.set_jobs(state.attempts[-1].dispatch_id, Job(f"AJ_{len(state.attempts)}", "JS_PENDING"))
        now.advance(5)
        state = check_participants(state, livekit)
        assert state.check is not None
        if state.check.next == "escalate":
            return state
        if state.check.next == "redispatch":
            state = redispatch_agent(state, livekit)


def caught(error: Exception) -> StepError:
    """What an ASL Catch records for a Lambda function error."""
    payload = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
    return StepError(Error=type(error).__name__, Cause=json.dumps(payload))


def test_bundle_carries_every_dispatch_job_state_and_the_last_participants(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a request that used both attempts without the agent joining
    state = gave_up(livekit, now)

    # When it is escalated
    result = escalate(state)

    # Then the bundle holds the cause and the evidence, and its page is ready for "Page on-call"
    bundle = result.escalation
    assert bundle is not None and result.page is not None
    assert result.page.subject == f"Agent not verified: {AGENT} in {ROOM} (not_joined)"
    assert bundle.event_id == result.page.event_id
    assert bundle.cause == "not_joined"
    assert bundle.request_id == "exec-0001" and (bundle.room, bundle.agent_name) == (ROOM, AGENT)
    assert bundle.attempts == 2
    assert [d.dispatch_id for d in bundle.dispatches] == [a.dispatch_id for a in state.attempts]
    assert all(d.created_at.endswith("Z") for d in bundle.dispatches)
    # each dispatch with its own jobs (job <-> dispatch), the stale first one deleted, and when
    assert [[j.job_id for j in d.job_states] for d in bundle.dispatches] == [["AJ_1"], ["AJ_2"]]
    assert [d.deleted for d in bundle.dispatches] == [True, False]
    assert bundle.dispatches[0].deleted_at is not None and bundle.dispatches[0].deleted_at.endswith("Z")
    assert bundle.dispatches[1].deleted_at is None
    assert [j.job_id for j in bundle.job_states] == ["AJ_1", "AJ_2"]
    assert [p.identity for p in bundle.participants] == ["sip-caller"]


def test_caught_livekit_error_gives_the_cause_and_keeps_code_message_and_status(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a step that failed with LiveKit refusing the credentials
    state = dispatch_agent(a_state(), livekit)
    error = LiveKitPermanentError.of("auth", "invalid API key", code="unknown", status=401)
    state = state.model_copy(update={"error": caught(error)})

    # When it is escalated
    result = escalate(state)

    # Then the cause is auth and the LiveKit detail is kept as the last error
    assert result.escalation is not None and result.escalation.cause == "auth"
    assert result.last_error is not None
    assert (result.last_error.code, result.last_error.message, result.last_error.status) == (
        "unknown",
        "invalid API key",
        401,
    )
    assert result.escalation.last_error == result.last_error


def test_lambda_service_error_escalates_as_internal(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a step that failed in the Lambda service, not in our code
    state = a_state().model_copy(
        update={"error": StepError(Error="Lambda.ServiceException", Cause="Rate exceeded")}
    )

    # When it is escalated
    result = escalate(state)

    # Then the cause is internal and the error name is kept
    assert result.escalation is not None and result.escalation.cause == "internal"
    assert result.last_error is not None and result.last_error.code == "Lambda.ServiceException"


def test_escalation_after_prepare_request_failed_uses_the_raw_input_and_the_execution_name(
    now: FakeTime, lambda_context: LambdaContext, aws: None
) -> None:
    # Given the raw input of a request whose agent name was empty, plus the Catch's error
    error = InvalidRequestError.of(
        "invalid_request", "invalid request: agent_name: String should have at least 1 character"
    )
    raw = {"room": ROOM, "agent_name": "", "metadata": {"k": "v"}, "error": caught(error).model_dump()}

    # When the escalate handler runs in execution "bad-input"
    result = handler.lambda_handler({"state": raw, "execution_name": "bad-input"}, lambda_context)

    # Then the bundle names the execution, the room, and the field at fault
    bundle = result["escalation"]
    assert bundle["request_id"] == "bad-input"
    assert bundle["room"] == ROOM
    assert bundle["cause"] == "invalid_request"
    assert "agent_name" in bundle["last_error"]["message"]
    assert bundle["attempts"] == 0


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto, with nothing in it: Escalate makes no AWS call (the state machine publishes)."""
    with mock_aws():
        yield


def test_the_page_and_its_event_id_are_the_same_on_every_retry_of_the_step(
    livekit: FakeLiveKit, now: FakeTime, lambda_context: LambdaContext, aws: None
) -> None:
    # Given a request that gave up
    state = gave_up(livekit, now)
    event = {"state": state.model_dump(mode="json"), "execution_name": "exec-0001"}

    # When the escalate handler runs twice (Step Functions retried it), later
    first = handler.lambda_handler(event, lambda_context)
    now.advance(30)
    second = handler.lambda_handler(event, lambda_context)

    # Then the page names the same event id both times, and the bundle carries it: a subscriber
    # that sees a repeated page drops it by that id
    assert first["page"] == second["page"]
    assert first["escalation"]["event_id"] == first["page"]["event_id"]
    assert first["page"]["agent_name"] == AGENT


def test_calls_not_connected_and_agents_not_verified_have_event_ids_of_their_own(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given the same request escalated once as an agent that never came and once as a call that failed
    state = gave_up(livekit, now)
    agent = escalate(state)
    call = escalate(
        state.model_copy(update={"check": state.check.model_copy(update={"cause": "dial_failed"})})
    )

    # Then the two outcomes' pages differ in id and subject
    assert agent.page is not None and call.page is not None
    assert agent.page.event_id != call.page.event_id
    assert call.page.subject.startswith("Call not connected")


def test_published_escalation_contains_no_secret_and_no_metadata(
    livekit: FakeLiveKit,
    now: FakeTime,
    lambda_context: LambdaContext,
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given LiveKit credentials in the environment and private metadata in the request
    monkeypatch.setenv("LIVEKIT_URL", "https://example.livekit.cloud")
    monkeypatch.setenv("LIVEKIT_API_KEY", "APIkey123")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    state = dispatch_agent(a_state(), livekit)
    error = LiveKitPermanentError.of("auth", "invalid API key", code="unknown", status=401)
    state = state.model_copy(update={"error": caught(error)})

    # When the escalate handler runs
    result = handler.lambda_handler(
        {"state": state.model_dump(mode="json"), "execution_name": "exec-0001"}, lambda_context
    )

    # Then neither the secret nor the caller's number appears in the bundle or its page
    published = json.dumps([result["escalation"], result["page"]])
    assert SECRET not in published
    assert "+4930123456" not in published


def test_outcome_after_a_failed_prepare_request_keeps_the_published_bundle_as_summary(
    now: FakeTime, lambda_context: LambdaContext, aws: None
) -> None:
    # Given the raw input of a malformed request, escalated by the Escalate handler
    error = InvalidRequestError.of(
        "invalid_request", "invalid request: agent_name: String should have at least 1 character"
    )
    raw = {"room": ROOM, "agent_name": "", "error": caught(error).model_dump()}
    escalated = handler.lambda_handler({"state": raw, "execution_name": "bad-input"}, lambda_context)

    # When Record outcome runs on what Escalate returned
    result = record_outcome_handler.lambda_handler(
        {"state": escalated, "execution_name": "bad-input"}, lambda_context
    )

    # Then the Fail state's summary is the bundle that was published
    assert json.loads(result["summary"]) == escalated["escalation"]
    assert result["outcome"]["cause"] == "invalid_request"
