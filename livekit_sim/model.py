"""Plain data of the simulated world and LiveKit's id and time conventions."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

from livekit.protocol.agent import JobStatus
from livekit.protocol.models import ParticipantInfo, Room

DEFAULT_EMPTY_TIMEOUT_S = 300
DEFAULT_DEPARTURE_TIMEOUT_S = 20
AGENT_NAME_ATTRIBUTES = ("lk.agent.name", "lk.agent_name")
_ALPHABET = string.ascii_letters + string.digits
ENDED = (JobStatus.JS_SUCCESS, JobStatus.JS_FAILED, JobStatus.JS_CANCELLED)


def new_id(prefix: str) -> str:
    """LiveKit-style id: prefix plus 12 random base62 characters (``AD_``, ``AJ_``, ``RM_``...)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def ns(t: float) -> int:
    """Epoch seconds to epoch nanoseconds, the unit of dispatch and job timestamps."""
    return round(t * 1e9)


@dataclass
class RoomState:
    info: Room
    participants: dict[str, ParticipantInfo] = field(default_factory=dict)
    dispatch_ids: list[str] = field(default_factory=list)
    non_agent_ever_joined: bool = False
    last_non_agent_left: float | None = None


@dataclass
class Dispatch:
    id: str
    agent_name: str
    room: str
    metadata: str
    created_at: float
    deleted_at: float | None = None
    job_ids: list[str] = field(default_factory=list)


def is_agent(p: ParticipantInfo) -> bool:
    return p.kind == ParticipantInfo.Kind.AGENT
