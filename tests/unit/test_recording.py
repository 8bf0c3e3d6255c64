"""The step that decides an outcome records it (issue 14): Check participants and Re-dispatch agent a
verified one, Escalate an escalation; a verified check with a call asked for leaves it to the dial."""

from __future__ import annotations

import json

import pytest
from dispatch_verify.handlers import check_participants, escalate, redispatch_agent
from dispatch_verify.logic.announce import event_id
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.models import SipRequest, WorkflowState

from .conftest import AGENT, ROOM, LambdaContext, a_state
from .fakes import FakeLiveKit, FakeTime

SIP = {"trunk_id": "ST_trunk", "call_to": "+15550100123", "participant_identity": "callee"}


def step(state: WorkflowState) -> dict[str, object]:
    return {"state": state.model_dump(mode="json"), "execution_name": "exec-0001"}


def emitted_metrics(out: str) -> dict[str, float]:
    """The EMF metrics Powertools printed (one JSON line per flush)."""
    found: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def test_a_check_that_finds_the_agent_records_the_verified_outcome_and_its_announcement(
    connected: FakeLiveKit, now: FakeTime, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a dispatched agent that has joined
    state = dispatch_agent(a_state(), connected)
    connected.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT, joined_at=now() + 4)
    now.advance(5)

    # When "Check participants" runs
    result = WorkflowState.model_validate(check_participants.lambda_handler(step(state), lambda_context))

    # Then it decided verified and recorded the outcome itself: the outcome, the announcement "Announce
    # agent verified" puts (with the outcome's stable event id), the summary, and the metrics
    assert result.check is not None and result.check.next == "verified"
    assert result.outcome is not None and result.outcome.status == "verified"
    assert result.outcome.agent_identity == "agent-AJ_1" and result.outcome.join_latency_s is not None
    assert result.announcement is not None and result.announcement.detail_type == "AgentDispatchVerified"
    assert result.announcement.detail["event_id"] == event_id(state.request_id, "AgentDispatchVerified")
    assert result.summary is not None and json.loads(result.summary)["status"] == "verified"
    assert emitted_metrics(capsys.readouterr().out) == {
        "AgentJoinLatency": result.outcome.join_latency_s,
        "DispatchAttempts": 1,
        "Verified": 1,
        "Escalated": 0,
    }


@pytest.mark.parametrize("joined", [False, True])
def test_a_check_that_waits_or_leaves_the_outcome_to_the_dial_records_nothing(
    connected: FakeLiveKit,
    now: FakeTime,
    lambda_context: LambdaContext,
    joined: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a dispatch still waiting for its agent, or one verified whose request asks for a call
    state = dispatch_agent(a_state(), connected)
    if joined:
        state.request = state.request.model_copy(update={"sip": SipRequest.model_validate(SIP)})
        connected.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT, joined_at=now())

    # When "Check participants" runs
    result = WorkflowState.model_validate(check_participants.lambda_handler(step(state), lambda_context))

    # Then no outcome, announcement or metric: "Agent joined?" waits, or dials and records after it
    assert result.check is not None and result.check.next == ("verified" if joined else "wait")
    assert (result.outcome, result.announcement, result.summary) == (None, None, None)
    assert emitted_metrics(capsys.readouterr().out) == {}


def test_a_redispatch_that_finds_the_agent_records_the_verified_outcome(
    connected: FakeLiveKit, now: FakeTime, lambda_context: LambdaContext
) -> None:
    # Given a stale first attempt (its join timeout passed), then the agent arriving before the re-dispatch
    state = dispatch_agent(a_state(join_timeout_s=10), connected)
    now.advance(11)
    state.check = None
    connected.add_participant(ROOM, "agent-AJ_2", agent_name=AGENT, joined_at=now())

    # When "Re-dispatch agent" runs
    result = WorkflowState.model_validate(redispatch_agent.lambda_handler(step(state), lambda_context))

    # Then it dispatched nothing new and recorded the verified outcome for the announcement
    assert len(result.attempts) == 1
    assert result.outcome is not None and result.outcome.status == "verified"
    assert result.announcement is not None and result.announcement.detail_type == "AgentDispatchVerified"


def test_an_escalation_is_recorded_by_escalate_with_its_page_and_announcement(
    connected: FakeLiveKit, now: FakeTime, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a request whose one attempt is used up with no job ever assigned (the check decided escalate)
    state = dispatch_agent(a_state(max_attempts=1, join_timeout_s=5), connected)
    now.advance(6)
    state = WorkflowState.model_validate(check_participants.lambda_handler(step(state), lambda_context))
    assert state.check is not None and state.check.next == "escalate"
    capsys.readouterr()

    # When "Escalate" runs
    result = WorkflowState.model_validate(escalate.lambda_handler(step(state), lambda_context))

    # Then the bundle, the page, the outcome and its announcement share one event id, the summary the
    # Fail state shows is the bundle, and the metrics count one escalation
    assert result.escalation is not None and result.page is not None
    assert result.outcome is not None and (result.outcome.status, result.outcome.cause) == (
        "escalated",
        "never_assigned",
    )
    assert result.announcement is not None and result.announcement.detail_type == "AgentDispatchEscalated"
    ids = {result.escalation.event_id, result.page.event_id, result.announcement.detail["event_id"]}
    assert ids == {event_id(state.request_id, "AgentDispatchEscalated")}
    assert result.summary is not None and json.loads(result.summary)["cause"] == "never_assigned"
    assert emitted_metrics(capsys.readouterr().out)["Escalated"] == 1
