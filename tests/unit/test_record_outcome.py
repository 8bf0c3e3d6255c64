"""Record outcome: the outcome record, the summary the Fail state shows, and the metrics."""

from __future__ import annotations

import json

import pytest
from dispatch_verify.handlers import record_outcome as handler
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent, redispatch_agent
from dispatch_verify.logic.escalation import escalate
from dispatch_verify.logic.outcome import record_outcome
from dispatch_verify.models import StepError, WorkflowState
from dispatch_verify.ports.livekit import Job

from .conftest import AGENT, ROOM, LambdaContext, a_state
from .fakes import FakeLiveKit, FakeTime


def verified_on_second_attempt(livekit: FakeLiveKit, now: FakeTime) -> WorkflowState:
    """First dispatch at t0 never assigned; second at t0+21 s; its agent joins at t0+24.5 s."""
    state = dispatch_agent(a_state(join_timeout_s=20), livekit)
    now.advance(21)
    state = redispatch_agent(check_participants(state, livekit), livekit)
    livekit.set_jobs(
        state.attempts[-1].dispatch_id, Job("AJ_2", "JS_RUNNING", participant_identity="agent-AJ_2")
    )
    now.advance(3)
    state = check_participants(state, livekit)
    livekit.add_participant(ROOM, "agent-AJ_2", agent_name=AGENT, joined_at=now() + 0.5)
    now.advance(3)
    return check_participants(state, livekit)


def test_verified_outcome_measures_join_latency_from_the_first_dispatch(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given an agent verified on the second attempt
    state = verified_on_second_attempt(livekit, now)

    # When the outcome is recorded
    result = record_outcome(state)

    # Then it is verified, names the proving dispatch, and counts latency from the first dispatch
    outcome = result.outcome
    assert outcome is not None
    assert outcome.status == "verified" and outcome.cause is None
    assert outcome.agent_identity == "agent-AJ_2"
    assert outcome.dispatch_id == state.attempts[1].dispatch_id
    assert outcome.dispatch_ids == [a.dispatch_id for a in state.attempts]
    assert outcome.attempts == 2
    assert outcome.join_latency_s == 24.5
    assert outcome.first_dispatch_at == state.attempts[0].created_at
    assert json.loads(result.summary or "") == outcome.model_dump(mode="json")


def test_escalated_outcome_summary_is_the_escalation_bundle(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a request escalated because its only dispatch was never assigned
    state = dispatch_agent(a_state(join_timeout_s=10, max_attempts=1), livekit)
    now.advance(10)
    state = escalate(check_participants(state, livekit))

    # When the outcome is recorded
    result = record_outcome(state)

    # Then the outcome is escalated with the cause, and the summary is the bundle
    assert result.outcome is not None
    assert (result.outcome.status, result.outcome.cause) == ("escalated", "never_assigned")
    assert result.outcome.join_latency_s is None
    assert result.escalation is not None
    assert json.loads(result.summary or "") == result.escalation.model_dump(mode="json")


def test_outcome_after_escalate_itself_failed_still_carries_the_evidence(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a request whose Escalate step failed (its Catch leads to Record outcome)
    state = dispatch_agent(a_state(join_timeout_s=10, max_attempts=1), livekit)
    now.advance(10)
    state = check_participants(state, livekit)
    failure = StepError(Error="States.TaskFailed", Cause="SNS throttled")
    state = state.model_copy(update={"escalation_error": failure})

    # When the outcome is recorded
    result = record_outcome(state)

    # Then it is escalated with the cause the check found, and the summary is a bundle with the
    # dispatch evidence
    assert result.outcome is not None and result.outcome.status == "escalated"
    assert result.outcome.cause == "never_assigned"
    summary = json.loads(result.summary or "")
    assert [d["dispatch_id"] for d in summary["dispatches"]] == [state.attempts[0].dispatch_id]
    assert summary["cause"] == "never_assigned"


def test_handler_emits_latency_attempt_and_result_metrics_per_agent(
    livekit: FakeLiveKit, now: FakeTime, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an agent verified on the second attempt
    state = verified_on_second_attempt(livekit, now)
    capsys.readouterr()

    # When the record outcome handler runs
    handler.lambda_handler(
        {"state": state.model_dump(mode="json"), "execution_name": "exec-0001"}, lambda_context
    )

    # Then one EMF record carries the four metrics with the agent name and the kind as dimensions
    # (the exact set the alarms and the dashboard query)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emf,) = records
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "DispatchVerify"
    assert directive["Dimensions"] == [["AgentName", "Kind", "service"]]
    assert (emf["AgentName"], emf["Kind"]) == ("inbound-agent", "request")
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "AgentJoinLatency": "Seconds",
        "DispatchAttempts": "Count",
        "Verified": "Count",
        "Escalated": "Count",
    }
    assert emf["AgentName"] == AGENT
    values = [emf[name] for name in ("AgentJoinLatency", "DispatchAttempts", "Verified", "Escalated")]
    assert values == [[24.5], [2.0], [1.0], [0.0]]


def test_handler_records_an_escalation_that_followed_a_failed_prepare_request(
    now: FakeTime, lambda_context: LambdaContext
) -> None:
    # Given the raw input of a malformed request, its Catch error and the bundle Escalate added
    raw = {"room": ROOM, "agent_name": "", "error": {"Error": "InvalidRequestError", "Cause": "bad"}}

    # When the record outcome handler runs
    result = handler.lambda_handler({"state": raw, "execution_name": "bad-input"}, lambda_context)

    # Then the outcome is escalated under the execution name, with a summary for the Fail state
    assert result["outcome"]["status"] == "escalated"
    assert result["outcome"]["request_id"] == "bad-input"
    assert json.loads(result["summary"])["request_id"] == "bad-input"
