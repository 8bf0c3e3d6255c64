"""LiveKit as the steps see it: a few synchronous calls that return plain values, so the logic is
tested with an in-memory fake (tests/unit/fakes.py) and runs on LiveKit through
``adapters.livekit.LiveKitClient``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

AGENT_NAME_ATTRIBUTES = ("lk.agent.name", "lk.agent_name")  # agents framework, server
# The ParticipantInfo states of a participant in the room (not yet or no longer: JOINING, DISCONNECTED).
PRESENT_STATES = ("JOINED", "ACTIVE")


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str  # JobStatus name: JS_PENDING, JS_RUNNING, JS_SUCCESS, JS_FAILED, JS_CANCELLED
    error: str = ""
    participant_identity: str = ""
    room_sid: str = ""  # the room's sid, as the job names its room

    @property
    def ended(self) -> bool:
        return self.status not in ("JS_PENDING", "JS_RUNNING")


@dataclass(frozen=True)
class Dispatch:
    dispatch_id: str
    agent_name: str
    room: str
    metadata: str
    created_at: float  # LiveKit's creation time, epoch seconds
    deleted: bool = False
    jobs: tuple[Job, ...] = ()


@dataclass(frozen=True)
class Participant:
    identity: str
    kind: str  # ParticipantInfo.Kind name: STANDARD, SIP, AGENT, ...
    state: str  # ParticipantInfo.State name: JOINING, JOINED, ACTIVE, DISCONNECTED
    attributes: Mapping[str, str] = field(default_factory=dict)
    joined_at: float | None = None  # epoch seconds, LiveKit's clock

    def agent_names(self) -> list[str]:
        return [self.attributes[key] for key in AGENT_NAME_ATTRIBUTES if self.attributes.get(key)]


@dataclass(frozen=True)
class SipCall:
    """One outbound call: dial ``call_to`` over trunk ``trunk_id`` into ``room``."""

    trunk_id: str
    call_to: str
    room: str
    participant_identity: str
    participant_name: str | None = None
    wait_until_answered: bool = True
    ringing_timeout_s: int = 30


@dataclass(frozen=True)
class SipParticipant:
    participant_identity: str
    participant_id: str = ""
    sip_call_id: str = ""


class LiveKitPort(Protocol):
    """What the steps need from LiveKit. Errors are raised as ``DispatchVerifyError`` subclasses."""

    def create_room(self, room: str, empty_timeout_s: int | None) -> str:
        """Create the room (or find it: CreateRoom is idempotent); its sid."""
        ...

    def list_participants(self, room: str) -> list[Participant]: ...

    def list_dispatches(self, room: str) -> list[Dispatch]: ...

    def create_dispatch(self, room: str, agent_name: str, metadata: str) -> Dispatch: ...

    def delete_dispatch(self, room: str, dispatch_id: str) -> bool:
        """Delete a dispatch; False if LiveKit no longer knows it (which also counts as done)."""
        ...

    def delete_room(self, room: str) -> bool:
        """Delete a room, ending its dispatches and sessions; False if it was already gone."""
        ...

    def create_sip_participant(self, call: SipCall) -> SipParticipant:
        """Dial the callee into the room; a call that does not connect raises ``DialFailedError``."""
        ...
