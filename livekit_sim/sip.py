"""SIP: ``SIP/CreateSIPParticipant`` with a scripted answer per dialled number.

Errors are what LiveKit sends for a call that does not connect: the Twirp code that
livekit/protocol maps the SIP response to (``sipCodeToGRPCCode`` in livekit/sip.go), the message
``sip status <code>: <reason>`` and the meta ``sip_status_code``/``sip_status``, from which the
Python client raises ``SipCallError``. An answered call adds a participant of kind SIP to the room.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import Message
from livekit.api.access_token import Claims
from livekit.protocol.models import ParticipantInfo
from livekit.protocol.sip import CreateSIPParticipantRequest, SIPParticipantInfo

from .errors import TwirpError, check_name_length
from .model import new_id

ANSWERS = ("answer", "busy", "noanswer", "decline")
DEFAULT_TRUNK = "ST_simtrunk"
RING_S = 2.0  # the callee picks up (or refuses) after ringing this long
DEFAULT_RINGING_TIMEOUT_S = 30  # LiveKit's default when a request leaves ringing_timeout unset
TRUNK_NOT_FOUND = "requested sip trunk does not exist"

# answer -> (Twirp code, SIP status code, reason phrase), as LiveKit maps the SIP response.
FAILURES: dict[str, tuple[str, int, str]] = {
    "busy": ("resource_exhausted", 486, "Busy Here"),
    "noanswer": ("deadline_exceeded", 408, "Request Timeout"),  # the ringing timeout ran out
    "decline": ("permission_denied", 603, "Decline"),
}


def parse_answer(text: str) -> str:
    if text not in ANSWERS:
        raise ValueError(f"SIP answer must be one of: {', '.join(ANSWERS)}; got {text!r}")
    return text


@dataclass(frozen=True)
class Later:
    """A reply that comes ``delay_s`` later on the clock (ringing): the server sleeps without the lock."""

    delay_s: float
    then: Callable[[float], Message]


@dataclass
class Telephony:
    """Outbound trunks, the scripted answer per number, and every call placed."""

    trunks: set[str] = field(default_factory=lambda: {DEFAULT_TRUNK})
    answers: dict[str, str] = field(default_factory=dict)
    default_answer: str = "answer"
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (room, number, answer) per dial

    def answer_for(self, number: str) -> str:
        return self.answers.get(number, self.default_answer)


class CallingWorld(Protocol):
    """What dialling needs of the world (world.World is one): its telephony, joining a room, and
    scheduling what happens later. A protocol, so that this module does not import world.py, which
    imports it."""

    telephony: Telephony

    def join(self, room: str, info: ParticipantInfo, t: float) -> None: ...

    def schedule(self, t: float, fn: Callable[[float], object]) -> None: ...


def may_call(claims: Claims, req: object) -> bool:
    return bool(claims.sip and claims.sip.call)


def create_sip_participant(
    world: CallingWorld, req: CreateSIPParticipantRequest, t: float
) -> Message | Later:
    telephony = world.telephony
    if not req.sip_trunk_id:
        raise TwirpError("invalid_argument", "missing sip trunk id")
    if req.sip_trunk_id not in telephony.trunks:
        raise TwirpError("not_found", TRUNK_NOT_FOUND)
    if not req.sip_call_to:
        raise TwirpError("invalid_argument", "missing sip call to")
    if not req.room_name:
        raise TwirpError("invalid_argument", "missing room name")
    # The callee joins the room as this identity, and LiveKit refuses a join over its limits.
    check_name_length("room name", req.room_name)
    check_name_length("participant identity", req.participant_identity)
    number, room, trunk = req.sip_call_to, req.room_name, req.sip_trunk_id
    answer = telephony.answer_for(number)
    telephony.calls.append((room, number, answer))
    ringing = req.ringing_timeout.seconds if req.ringing_timeout.seconds > 0 else DEFAULT_RINGING_TIMEOUT_S
    if answer == "answer" and ringing < RING_S:
        answer = "noanswer"
    identity = req.participant_identity or f"sip_{number}"
    call_id = new_id("SCL_")
    info = SIPParticipantInfo(
        participant_id=new_id("PA_"), participant_identity=identity, room_name=room, sip_call_id=call_id
    )

    def callee_joins(at: float) -> None:
        participant = ParticipantInfo(
            sid=info.participant_id,
            identity=identity,
            name=req.participant_name or identity,
            kind=ParticipantInfo.Kind.SIP,
            state=ParticipantInfo.State.ACTIVE,
            attributes={
                "sip.callID": call_id,
                "sip.callStatus": "active",
                "sip.phoneNumber": number,
                "sip.trunkID": trunk,
            },
        )
        world.join(room, participant, at)

    if not req.wait_until_answered:  # the call is placed; whether it connects shows in the room later
        if answer == "answer":
            world.schedule(t + RING_S, callee_joins)
        return info
    if answer == "answer":

        def answered(at: float) -> Message:
            callee_joins(at)
            return info

        return Later(RING_S, answered)
    code, sip_code, reason = FAILURES[answer]

    def refused(at: float) -> Message:
        meta = {"sip_status_code": str(sip_code), "sip_status": reason}
        raise TwirpError(code, f"sip status {sip_code}: {reason}", meta)

    return Later(float(ringing) if answer == "noanswer" else RING_S, refused)
