"""Recognising the agent among a room's participants (the participant list is the ground truth)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dispatch_verify import clock
from dispatch_verify.models import MAX_PARTICIPANTS_SEEN, Check, ParticipantSeen
from dispatch_verify.ports.livekit import PRESENT_STATES, Participant


def find_agent(participants: list[Participant], agent_name: str) -> Participant | None:
    """The requested agent, present: kind AGENT, named by ``lk.agent.name`` or ``lk.agent_name``.

    An agent of another name (or none: a room's default dispatch) is never ours.
    """
    ours = [p for p in participants if is_named_agent(p, agent_name) and p.state in PRESENT_STATES]
    return min(ours, key=lambda p: p.joined_at or float("inf"), default=None)


def is_named_agent(participant: Participant, agent_name: str) -> bool:
    return participant.kind == "AGENT" and agent_name in participant.agent_names()


def seen(participants: list[Participant]) -> dict[str, Any]:
    """What a check keeps of the room: at most ``MAX_PARTICIPANTS_SEEN`` participants by name (agents
    first, then SIP callers, then the rest, each by join time) and the counts of all of them by kind.
    Check's fields of that name take it as is."""
    rank = {"AGENT": 0, "SIP": 1}
    kept = sorted(participants, key=lambda p: (rank.get(p.kind, 2), p.joined_at or 0.0))[
        :MAX_PARTICIPANTS_SEEN
    ]
    return {
        "participants": [
            ParticipantSeen(
                identity=p.identity,
                kind=p.kind,
                agent_name=next(iter(p.agent_names()), None),
                state=p.state,
                joined_at=clock.iso_utc(p.joined_at) if p.joined_at else None,
            )
            for p in kept
        ],
        "participants_total": len(participants),
        "participants_by_kind": dict(Counter(p.kind for p in participants)),
    }


def verified_check(participants: list[Participant], agent: Participant, now: float) -> Check:
    return Check(
        next="verified",
        checked_at=clock.iso_utc(now),
        **seen(participants),
        agent_identity=agent.identity,
        agent_joined_at=clock.iso_utc(agent.joined_at) if agent.joined_at else None,
        agent_joined_at_epoch=agent.joined_at,
    )
