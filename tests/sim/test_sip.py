"""SIP: CreateSIPParticipant answers as LiveKit does: livekit-api raises SipCallError with the SIP status."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from livekit import api

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from livekit_sim.sip import DEFAULT_TRUNK, RING_S

from .helpers import KEY, SECRET, lk, participants, post, server_error

CREATE_SIP_PARTICIPANT = "/twirp/livekit.SIP/CreateSIPParticipant"
NUMBER = "+15550100123"


def dial(number: str = NUMBER, room: str = "call-1", **fields: Any) -> api.CreateSIPParticipantRequest:
    values: dict[str, Any] = {
        "sip_trunk_id": DEFAULT_TRUNK,
        "sip_call_to": number,
        "room_name": room,
        "participant_identity": "callee",
        "wait_until_answered": True,
        **fields,
    }
    return api.CreateSIPParticipantRequest(**values)


def sip_token(**grants: Any) -> str:
    access = api.AccessToken(KEY, SECRET).with_sip_grants(api.SIPGrants(**grants))
    return "Bearer " + access.with_ttl(datetime.timedelta(minutes=10)).to_jwt()


@pytest.fixture
def phone_sim(make_sim: Callable[..., LiveKitSimulator]) -> LiveKitSimulator:
    return make_sim(
        sip_answers={"+15550100486": "busy", "+15550100408": "noanswer", "+15550100603": "decline"}
    )


def test_answered_call_adds_a_sip_participant_to_the_room(
    phone_sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given a number that answers
    started = clock.now()

    # When it is dialled, waiting until answered
    info = lk(phone_sim, lambda c: c.sip.create_sip_participant(dial(participant_name="Customer")))

    # Then the reply names the SIP participant, which is in the room as kind SIP, after ringing
    assert info.participant_identity == "callee" and info.room_name == "call-1"
    assert info.participant_id.startswith("PA_") and info.sip_call_id.startswith("SCL_")
    (callee,) = participants(phone_sim, "call-1")
    assert callee.kind == api.ParticipantInfo.Kind.SIP and callee.identity == "callee"
    assert callee.name == "Customer"
    assert callee.attributes["sip.phoneNumber"] == NUMBER
    assert clock.now() - started == pytest.approx(RING_S)
    assert phone_sim.sip_calls() == [("call-1", NUMBER, "answer")]


@pytest.mark.parametrize(
    ("number", "code", "status", "sip_code", "sip_status"),
    [
        ("+15550100486", "resource_exhausted", 429, 486, "Busy Here"),
        ("+15550100408", "deadline_exceeded", 504, 408, "Request Timeout"),
        ("+15550100603", "permission_denied", 403, 603, "Decline"),
    ],
)
def test_call_that_does_not_connect_raises_sip_call_error_with_the_sip_status(
    phone_sim: LiveKitSimulator, number: str, code: str, status: int, sip_code: int, sip_status: str
) -> None:
    # Given a number scripted to refuse or not answer
    # When it is dialled with the official client
    error = server_error(phone_sim, lambda c: c.sip.create_sip_participant(dial(number)))

    # Then livekit-api raises SipCallError: LiveKit's Twirp code for that SIP response, and its status
    assert isinstance(error, api.SipCallError)
    assert (error.code, error.status) == (code, status)
    assert (error.sip_status_code, error.sip_status) == (sip_code, sip_status)
    assert error.message == f"sip status {sip_code}: {sip_status}"
    # And nobody joined the room
    assert phone_sim.participants("call-1") == []


def test_unanswered_call_rings_for_the_requested_ringing_timeout(
    phone_sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given a number that never answers and a 12 s ringing timeout
    request = dial("+15550100408")
    request.ringing_timeout.seconds = 12
    started = clock.now()

    # When it is dialled
    error = server_error(phone_sim, lambda c: c.sip.create_sip_participant(request))

    # Then the 408 comes after 12 s on the simulator's clock
    assert isinstance(error, api.SipCallError) and error.sip_status_code == 408
    assert clock.now() - started == pytest.approx(12)


def test_call_not_waited_for_returns_at_once_and_the_callee_joins_on_answer(
    phone_sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # When a number that answers is dialled without waiting
    lk(phone_sim, lambda c: c.sip.create_sip_participant(dial(wait_until_answered=False)))

    # Then the reply came before the answer, and the callee is in the room once it has rung
    assert phone_sim.participants("call-1") == []
    clock.advance(RING_S)
    assert [p.identity for p in phone_sim.participants("call-1")] == ["callee"]


def test_unknown_trunk_is_not_found_and_places_no_call(phone_sim: LiveKitSimulator) -> None:
    # When a number is dialled over a trunk the server does not know
    error = server_error(phone_sim, lambda c: c.sip.create_sip_participant(dial(sip_trunk_id="ST_nope")))

    # Then it is a plain not_found (no SIP status: nothing was dialled)
    assert not isinstance(error, api.SipCallError)
    assert (error.code, error.status, error.message) == (
        "not_found",
        404,
        "requested sip trunk does not exist",
    )
    assert phone_sim.sip_calls() == []


def test_added_trunks_are_accepted(make_sim: Callable[..., LiveKitSimulator]) -> None:
    # Given a simulator told about another trunk
    sim = make_sim(sip_trunks=("ST_outbound",))

    # When a call is placed over it
    lk(sim, lambda c: c.sip.create_sip_participant(dial(sip_trunk_id="ST_outbound")))

    # Then it connects
    assert sim.sip_trunks == {DEFAULT_TRUNK, "ST_outbound"}
    assert len(sim.sip_calls()) == 1


def test_a_token_without_the_sip_call_grant_is_refused(phone_sim: LiveKitSimulator) -> None:
    # Given a valid token whose SIP grants do not include call (and one with no SIP grants at all)
    body = {"sipTrunkId": DEFAULT_TRUNK, "sipCallTo": NUMBER, "roomName": "call-1"}
    for auth in (sip_token(admin=True, call=False), "Bearer " + api.AccessToken(KEY, SECRET).to_jwt()):
        # When it is used to dial
        status, ctype, raw = post(phone_sim, CREATE_SIP_PARTICIPANT, body, auth=auth)

        # Then LiveKit's answer for a missing grant comes back, and nothing is dialled
        assert (status, ctype) == (401, "application/json")
        assert json.loads(raw) == {"code": "unauthenticated", "msg": "permissions denied", "meta": {}}
    assert phone_sim.sip_calls() == []


def test_json_dial_with_the_sip_call_grant_answers_in_json(phone_sim: LiveKitSimulator) -> None:
    # When a JSON client (the Node SDK, curl) dials with a sip.call token
    body = {
        "sipTrunkId": DEFAULT_TRUNK,
        "sipCallTo": "+15550100486",
        "roomName": "call-1",
        "waitUntilAnswered": True,
    }
    status, ctype, raw = post(phone_sim, CREATE_SIP_PARTICIPANT, body, auth=sip_token(call=True))

    # Then the refusal is the Twirp JSON error with the SIP meta
    assert (status, ctype) == (429, "application/json")
    assert json.loads(raw) == {
        "code": "resource_exhausted",
        "msg": "sip status 486: Busy Here",
        "meta": {"sip_status_code": "486", "sip_status": "Busy Here"},
    }


def test_unknown_sip_answer_is_rejected(phone_sim: LiveKitSimulator) -> None:
    # When a number is scripted with an answer the simulator does not know
    # Then it says which answers exist
    with pytest.raises(ValueError, match="answer, busy, noanswer, decline"):
        phone_sim.set_sip_answer(NUMBER, "voicemail")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"participant_identity": "\U0001f4de" * 65},
            "participant identity length exceeds limits: max length 256",
        ),
        ({"room": "\U0001f4de" * 65}, "room name length exceeds limits: max length 256"),
    ],
)
def test_a_callee_identity_or_room_over_256_bytes_is_invalid_argument_and_places_no_call(
    phone_sim: LiveKitSimulator, fields: dict[str, str], message: str
) -> None:
    # Given a dial whose participant identity or room name is 260 bytes (65 four-byte emoji)
    # When it is dialled
    error = server_error(phone_sim, lambda c: c.sip.create_sip_participant(dial(**fields)))

    # Then LiveKit's limit refuses it before any call is placed
    assert (error.code, error.status, error.message) == ("invalid_argument", 400, message)
    assert phone_sim.sip_calls() == []
