"""The telephony gate through the real ASL: the callee is dialled only once the agent is verified.

Real handlers, real livekit-api (CreateSIPParticipant, SipCallError) against the simulator's SIP service.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from livekit import api
from livekit.api import sip_service
from livekit.protocol.models import ParticipantInfo

from clocks import VirtualClock
from livekit_sim import DEFAULT_TRUNK, LiveKitSimulator
from local_engine import ExecutionResult, LocalEngine
from tests.integration.conftest import escalation_of, request

CALLEE = "+15550100123"
MASKED = "+*******0123"


def call_request(
    room: str, agent: str, number: str = CALLEE, options: dict[str, Any] | None = None, **sip: Any
) -> dict[str, Any]:
    payload = request(room, agent, **(options or {}))
    payload["sip"] = {
        "trunk_id": DEFAULT_TRUNK,
        "call_to": number,
        "participant_identity": "callee",
        "participant_name": "Customer",
        **sip,
    }
    return payload


def dial_failure_of(result: ExecutionResult) -> dict[str, Any]:
    assert result.status == "FAILED", f"expected a dial failure, got {result.status}: {result.output}"
    assert result.error == "DialFailed"
    bundle = json.loads(result.cause or "")
    assert isinstance(bundle, dict)
    assert bundle["cause"] == "dial_failed"
    return bundle


def sip_participants(sim: LiveKitSimulator, room: str) -> list[ParticipantInfo]:
    return [p for p in sim.participants(room) if p.kind == ParticipantInfo.Kind.SIP]


def test_verified_agent_then_answered_call_is_verified_with_the_call_answered(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent and a callee who answers
    sim.set_agent("fast-agent", "warm")

    # When a dispatch with a call is verified
    result = engine.run(call_request("room-call", "fast-agent"), name="call-1")

    # Then the agent was verified first, and then the callee was dialled into the room
    assert result.status == "SUCCEEDED", result.cause
    outcome = result.output
    assert outcome is not None
    assert outcome["status"] == "verified"  # one vocabulary: the sip block says how the call went
    assert outcome["agent_identity"].startswith("agent-AJ_")
    assert outcome["sip"]["participant_identity"] == "callee"
    assert outcome["sip"]["answered"] is True
    assert outcome["sip"]["sip_call_id"].startswith("SCL_")
    assert outcome["sip"]["call_to"] == MASKED
    entered = result.states_entered()
    assert (
        entered.index("Check participants") < entered.index("Dial callee") < entered.index("Record outcome")
    )
    # And the room holds the agent and the callee, who joined after the agent; one call was placed
    (callee,) = sip_participants(sim, "room-call")
    agent = next(p for p in sim.participants("room-call") if p.kind == ParticipantInfo.Kind.AGENT)
    assert callee.identity == "callee" and callee.joined_at_ms >= agent.joined_at_ms
    assert sim.sip_calls("room-call") == [("room-call", CALLEE, "answer")]
    assert engine.notifications() == []


def test_verified_agent_then_busy_callee_escalates_dial_failed_with_the_sip_status(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent and a callee whose line is busy
    sim.set_agent("fast-agent", "warm")
    sim.set_sip_answer(CALLEE, "busy")

    # When a dispatch with a call is verified
    result = engine.run(call_request("room-busy", "fast-agent"), name="busy-1")
    lambda_output = "\n".join(engine.lambda_output)

    # Then it fails DialFailed with the usual bundle plus the SIP details of the busy line
    bundle = dial_failure_of(result)
    assert bundle["sip"] == {
        "trunk_id": DEFAULT_TRUNK,
        "call_to": MASKED,
        "participant_identity": "callee",
        "answered": False,
        "sip_call_id": None,
        "sip_status_code": 486,
        "sip_status": "Busy Here",
        "reason": "busy",
    }
    assert bundle["last_error"]["code"] == "resource_exhausted"
    assert bundle["attempts"] == 1 and bundle["dispatches"][0]["dispatch_id"].startswith("AD_")
    # And it was escalated once, never redialled (486 is not a fault to retry), nobody joined
    notifications = engine.notifications()
    assert len(notifications) == 1 and len(engine.bus_events()) == 1
    assert notifications[0]["message"]["sip"]["reason"] == "busy"
    assert sim.sip_calls("room-busy") == [("room-busy", CALLEE, "busy")]
    assert sip_participants(sim, "room-busy") == []
    # And the full number is nowhere in the escalation or the logs
    assert CALLEE not in (result.cause or "")
    assert CALLEE not in json.dumps(notifications)
    assert CALLEE not in lambda_output


def test_agent_never_verified_means_nobody_is_ever_dialled(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent that never wakes
    sim.set_agent("ghost-agent", "never")

    # When a dispatch with a call is verified
    result = engine.run(
        call_request("room-ghost-call", "ghost-agent", options={"join_timeout_s": 9, "max_attempts": 2})
    )

    # Then it escalates as the agent's failure, and no call was ever placed
    bundle = escalation_of(result)
    assert bundle["cause"] == "not_joined"
    assert bundle["sip"]["answered"] is None and bundle["sip"]["sip_status_code"] is None
    assert "Dial callee" not in result.states_entered()
    assert sim.sip_calls() == []
    assert not any(method == "CreateSIPParticipant" for method, _, _ in sim.calls)
    assert sip_participants(sim, "room-ghost-call") == []


def test_token_without_the_sip_call_grant_escalates_auth_without_retrying(
    sim: LiveKitSimulator, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm agent, and a client whose tokens for SIP calls lack the sip.call grant
    sim.set_agent("fast-agent", "warm")
    monkeypatch.setattr(sip_service, "SIPGrants", lambda **_: api.SIPGrants(admin=False, call=False))

    # When a dispatch with a call is verified
    result = engine.run(call_request("room-grant", "fast-agent"))

    # Then LiveKit's refusal escalates auth at once: one refused call, nobody dialled
    bundle = escalation_of(result)
    assert bundle["cause"] == "auth"
    assert bundle["last_error"]["status"] == 401
    assert bundle["sip"]["call_to"] == MASKED
    sip_calls = [(code, status) for method, code, status in sim.calls if method == "CreateSIPParticipant"]
    assert sip_calls == [("unauthenticated", 401)]
    assert sim.sip_calls() == []


def test_unanswered_call_fails_after_the_ringing_timeout_as_no_answer(
    sim: LiveKitSimulator, engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given a warm agent and a callee who lets it ring
    sim.set_agent("fast-agent", "warm")
    sim.set_sip_answer(CALLEE, "noanswer")
    started = clock.now()

    # When a dispatch with a call that rings for 20 s is verified
    result = engine.run(call_request("room-ring", "fast-agent", ringing_timeout_s=20))

    # Then the dial failed as no answer (408), after ringing for 20 s on the simulator's clock
    bundle = dial_failure_of(result)
    assert (bundle["sip"]["sip_status_code"], bundle["sip"]["reason"]) == (408, "no_answer")
    assert clock.now() - started >= 20
    assert len(sim.sip_calls()) == 1


def test_declined_call_escalates_dial_failed_declined(sim: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given a warm agent and a callee who declines
    sim.set_agent("fast-agent", "warm")
    sim.set_sip_answer(CALLEE, "decline")

    # When a dispatch with a call is verified
    bundle = dial_failure_of(engine.run(call_request("room-decline", "fast-agent")))

    # Then the 603 is reported as declined, not as an auth problem (LiveKit says permission_denied)
    assert (bundle["sip"]["sip_status_code"], bundle["sip"]["sip_status"]) == (603, "Decline")
    assert bundle["sip"]["reason"] == "declined"


def test_unknown_trunk_escalates_dial_failed_with_livekits_answer(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When a dispatch with a call over a trunk LiveKit does not know is verified
    result = engine.run(call_request("room-trunk", "fast-agent", trunk_id="ST_missing"))

    # Then the dial failed (not "room missing"), with LiveKit's not_found in the evidence
    bundle = dial_failure_of(result)
    assert bundle["sip"]["reason"] == "other" and bundle["sip"]["sip_status_code"] is None
    assert bundle["last_error"]["code"] == "not_found"
    assert "trunk" in bundle["last_error"]["message"]


def test_503_burst_on_the_dial_is_retried_and_the_callee_dialled_once(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent and LiveKit answering 503 to the next two dials
    sim.set_agent("fast-agent", "warm")
    sim.inject_fault("CreateSIPParticipant", "unavailable", count=2)

    # When a dispatch with a call is verified
    result = engine.run(call_request("room-dial-503", "fast-agent"))

    # Then the state machine retried the step like the others and the callee was dialled once
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["status"] == "verified"
    assert result.output["sip"]["answered"] is True
    codes = [code for method, code, _ in sim.calls if method == "CreateSIPParticipant"]
    assert codes == ["unavailable", "unavailable", "ok"]
    assert len(sim.sip_calls()) == 1


def test_dial_whose_reply_was_lost_is_adopted_on_retry_not_placed_twice(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent and a dial that connects but whose reply is lost (a 503 after the fact)
    sim.set_agent("fast-agent", "warm")
    sim.inject_fault("CreateSIPParticipant", "unavailable", count=1, applied=True)

    # When a dispatch with a call is verified
    result = engine.run(call_request("room-lost-reply", "fast-agent"))

    # Then the retried step found the callee in the room and did not ring them again
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["sip"]["participant_identity"] == "callee"
    assert len(sim.sip_calls()) == 1
    assert len(sip_participants(sim, "room-lost-reply")) == 1


def test_request_without_a_call_is_verified_and_never_dials(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When a dispatch without sip is verified
    result = engine.run(request("room-no-call", "fast-agent"))

    # Then the outcome is plain "verified", with no call block, and "Dial callee" never ran
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["status"], result.output["sip"]) == ("verified", None)
    assert "Dial callee" not in result.states_entered()
    assert sim.sip_calls() == []
