"""Dial callee: dialled once, only after the agent is verified; a failed call carries its SIP status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dispatch_verify.adapters.livekit import dial_error
from dispatch_verify.errors import (
    DialFailedError,
    DispatchVerifyError,
    LiveKitPermanentError,
    LiveKitTransientError,
)
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dial import dial_callee, mask_number, sip_detail
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.escalation import escalate
from dispatch_verify.logic.outcome import record_outcome
from dispatch_verify.logic.request import prepare_request
from dispatch_verify.models import StepError, WorkflowState
from livekit import api

from .conftest import AGENT, ROOM, a_request
from .fakes import FakeLiveKit, FakeTime

NUMBER = "+4930123456"
SIP = {"trunk_id": "ST_out", "call_to": NUMBER, "participant_identity": "callee", "ringing_timeout_s": 25}


def a_call_state(**sip: Any) -> WorkflowState:
    return prepare_request({**a_request(), "sip": {**SIP, **sip}}, "exec-0001")


def verified(livekit: FakeLiveKit, state: WorkflowState) -> WorkflowState:
    state = dispatch_agent(state, livekit)
    livekit.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT)
    state = check_participants(state, livekit)
    assert state.check is not None and state.check.next == "verified"
    return state


def caught(error: Exception) -> StepError:
    payload = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
    return StepError(Error=type(error).__name__, Cause=json.dumps(payload))


def test_verified_agent_gets_the_callee_dialled_with_the_requested_call(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given an agent verified in the room, and a request with a call
    state = verified(livekit, a_call_state(participant_name="Customer"))

    # When the callee is dialled
    result = dial_callee(state, livekit)

    # Then one call was placed into the room as requested, and its participant is recorded
    (call,) = livekit.sip_calls
    assert (call.trunk_id, call.call_to, call.room) == ("ST_out", NUMBER, ROOM)
    assert (call.participant_identity, call.participant_name) == ("callee", "Customer")
    assert (call.wait_until_answered, call.ringing_timeout_s) == (True, 25)
    assert result.dialled is not None
    assert (result.dialled.participant_identity, result.dialled.answered) == ("callee", True)


def test_nothing_is_dialled_before_the_agent_is_verified(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a dispatched agent that has not joined
    state = check_participants(dispatch_agent(a_call_state(), livekit), livekit)

    # When "Dial callee" is run anyway
    # Then it refuses, and no call is placed
    with pytest.raises(DispatchVerifyError, match="before the agent was verified"):
        dial_callee(state, livekit)
    assert livekit.sip_calls == []


def test_callee_already_in_the_room_is_adopted_not_dialled_again(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a verified agent and a callee who joined from an earlier try whose reply was lost
    state = verified(livekit, a_call_state())
    livekit.add_participant(ROOM, "callee", kind="SIP")

    # When the callee is dialled
    result = dial_callee(state, livekit)

    # Then the callee is adopted as answered (present in the room) and no second call is placed
    assert livekit.sip_calls == []
    assert result.dialled is not None and result.dialled.participant_identity == "callee"
    assert result.dialled.answered is True


def test_call_not_waited_for_is_recorded_as_placed_not_answered(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a request that does not wait until answered
    state = verified(livekit, a_call_state(wait_until_answered=False))

    # When the callee is dialled
    result = dial_callee(state, livekit)

    # Then the outcome does not claim an answer
    assert result.dialled is not None and result.dialled.answered is False


def test_a_connected_call_is_verified_with_its_sip_block_and_the_number_masked(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given an agent verified and a callee dialled
    state = dial_callee(verified(livekit, a_call_state()), livekit)

    # When the outcome is recorded
    outcome = record_outcome(state).outcome

    # Then it is verified (one vocabulary: the sip block says the call was answered), no full number
    assert outcome is not None and outcome.status == "verified"
    assert outcome.sip is not None
    assert (outcome.sip.participant_identity, outcome.sip.answered) == ("callee", True)
    assert outcome.sip.call_to == "+******3456"
    assert NUMBER not in outcome.model_dump_json()


def test_request_without_a_call_stays_verified(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given an agent verified for a request without sip
    state = verified(livekit, prepare_request(a_request(), "exec-0001"))

    # When the outcome is recorded
    outcome = record_outcome(state).outcome

    # Then it is plain verified, without a call
    assert outcome is not None and (outcome.status, outcome.sip) == ("verified", None)


@pytest.mark.parametrize(
    ("code", "status", "sip_code", "sip_status", "reason"),
    [
        ("resource_exhausted", 429, 486, "Busy Here", "busy"),
        ("resource_exhausted", 429, 480, "Temporarily Unavailable", "no_answer"),
        ("deadline_exceeded", 504, 408, "Request Timeout", "no_answer"),
        ("permission_denied", 403, 603, "Decline", "declined"),
        ("not_found", 404, 404, "Not Found", "other"),
    ],
)
def test_busy_no_answer_and_declined_escalate_dial_failed_with_the_sip_details(
    livekit: FakeLiveKit, now: FakeTime, code: str, status: int, sip_code: int, sip_status: str, reason: str
) -> None:
    # Given a verified agent and a dial that LiveKit answered with a SIP failure (as livekit-api raises it)
    state = verified(livekit, a_call_state())
    meta = {"sip_status_code": str(sip_code), "sip_status": sip_status}
    failure = dial_error(
        api.SipCallError(code, f"sip status {sip_code}: {sip_status}", status=status, metadata=meta)
    )
    assert isinstance(failure, DialFailedError)

    # When the failure is caught and escalated
    result = escalate(state.model_copy(update={"error": caught(failure)}))

    # Then the bundle has cause dial_failed, the usual evidence, and the call with its SIP status
    bundle = result.escalation
    assert bundle is not None
    assert bundle.cause == "dial_failed" and bundle.attempts == 1
    assert bundle.sip is not None
    assert (bundle.sip.sip_status_code, bundle.sip.sip_status, bundle.sip.reason) == (
        sip_code,
        sip_status,
        reason,
    )
    assert (bundle.sip.trunk_id, bundle.sip.call_to, bundle.sip.answered) == ("ST_out", "+******3456", False)
    assert NUMBER not in bundle.model_dump_json()
    # And the outcome records the escalation with the same call details
    outcome = record_outcome(result).outcome
    assert outcome is not None and (outcome.status, outcome.cause) == ("escalated", "dial_failed")
    assert outcome.sip == bundle.sip
    # And it is announced as a call not connected, with the page's event id
    assert result.page is not None and result.page.subject.startswith("Call not connected")
    announced = record_outcome(result).announcement
    assert announced is not None and announced.detail_type == "CallNotConnected"
    assert announced.detail["event_id"] == result.page.event_id


@pytest.mark.parametrize(
    ("error", "kind", "cause"),
    [
        (
            api.ServerError("not_found", "requested sip trunk does not exist", status=404),
            DialFailedError,
            "dial_failed",
        ),
        (api.ServerError("unauthenticated", "permissions denied", status=401), LiveKitPermanentError, "auth"),
        (api.ServerError("unavailable", "no response from servers", status=503), LiveKitTransientError, None),
        (api.ServerError("resource_exhausted", "quota", status=429), LiveKitTransientError, "quota"),
    ],
)
def test_dial_errors_without_a_sip_status_are_classified_like_every_other_call_except_an_unknown_trunk(
    error: api.ServerError, kind: type[Exception], cause: str | None
) -> None:
    # Given an error of CreateSIPParticipant that carries no SIP status
    # When it is classified
    mapped = dial_error(error)

    # Then a missing trunk is a dial failure (not a missing room); the rest as for any LiveKit call
    assert type(mapped) is kind
    assert mapped.detail.sip_status_code is None
    if cause is not None:
        assert mapped.detail.cause == cause


def test_escalation_of_an_agent_never_verified_shows_the_call_was_not_dialled(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a request with a call whose agent never came
    state = dispatch_agent(a_call_state(), livekit)

    # When its call is described for the escalation
    detail = sip_detail(state)

    # Then nothing is claimed: not answered, no SIP status
    assert detail is not None
    assert (detail.answered, detail.sip_status_code, detail.reason) == (None, None, None)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15550100123", "+*******0123"),
        ("+1 (555) 010-0123", "+* (***) ***-0123"),
        ("sip:alice@example.com", "***:*****@*******.***"),
        ("123", "123"),
    ],
)
def test_phone_numbers_keep_only_their_last_four_digits(number: str, masked: str) -> None:
    # Given a callee's number (personal data)
    # When it is masked for logs and escalations
    # Then only the last four digits remain
    assert mask_number(number) == masked


@pytest.mark.parametrize(
    ("sip", "field"),
    [
        ({**SIP, "ringing_timeout_s": 41}, "sip.ringing_timeout_s"),
        ({**SIP, "trunk_id": ""}, "sip.trunk_id"),
        ({k: v for k, v in SIP.items() if k != "call_to"}, "sip.call_to"),
        ({**SIP, "dial": True}, "sip.dial"),
    ],
)
def test_malformed_call_is_an_invalid_request_naming_the_field_not_the_number(
    sip: dict[str, Any], field: str
) -> None:
    # Given a request whose call is malformed
    # When it is prepared
    with pytest.raises(DispatchVerifyError) as caught_error:
        prepare_request({**a_request(), "sip": sip}, "exec-0001")

    # Then it is invalid_request naming the field, without echoing the number
    assert caught_error.value.detail.cause == "invalid_request"
    assert field in caught_error.value.detail.message
    assert NUMBER not in caught_error.value.detail.message


def test_a_cancelled_request_is_never_dialled(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given an agent verified for a request with a call, which was cancelled meanwhile
    state = verified(livekit, a_call_state())

    # When Dial callee runs and the ledger refuses the dial (the request is no longer running)
    with pytest.raises(DispatchVerifyError, match="cancelled"):
        dial_callee(state, livekit, allowed=lambda: False)

    # Then no SIP participant was created
    assert not [p for p in livekit.list_participants(ROOM) if p.kind == "SIP"]
