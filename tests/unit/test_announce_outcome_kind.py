"""An outcome's announcement takes its detail-type from the outcome itself: a verified request without a
call is an agent verified, with a call a call connected (logic/announce.py's announcement)."""

from __future__ import annotations

from dispatch_verify.logic.announce import CALL_CONNECTED, VERIFIED, announcement, event_id
from dispatch_verify.models import Outcome, SipDetail

ANSWERED = SipDetail(trunk_id="ST_out", call_to="********0123", participant_identity="callee", answered=True)


def a_verified_outcome(sip: SipDetail | None) -> Outcome:
    return Outcome(
        status="verified",
        request_id="req-1",
        room="support-call-4711",
        agent_name="inbound-agent",
        agent_identity="agent-AJ_1",
        started_at="2027-01-15T08:00:00.000Z",
        finished_at="2027-01-15T08:00:05.000Z",
        sip=sip,
    )


def test_a_verified_request_without_a_call_is_announced_as_the_agent_verified() -> None:
    made = announcement(a_verified_outcome(sip=None), None)
    assert made.detail_type == VERIFIED
    assert made.detail["event_id"] == event_id("req-1", VERIFIED)


def test_a_verified_request_whose_call_connected_is_announced_as_the_call_connected() -> None:
    made = announcement(a_verified_outcome(sip=ANSWERED), None)
    assert made.detail_type == CALL_CONNECTED
    assert made.detail["event_id"] == event_id("req-1", CALL_CONNECTED)
