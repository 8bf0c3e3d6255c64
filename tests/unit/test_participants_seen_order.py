"""The order a check keeps the room's participants in (logic/participants.py's seen): by kind (agents,
SIP callers, the rest), and within a kind by join time, one without a join time first."""

from __future__ import annotations

from dispatch_verify.logic.participants import seen
from dispatch_verify.ports.livekit import Participant


def test_participants_of_one_kind_are_kept_by_join_time() -> None:
    # Given three listeners listed out of their join order, one with no join time
    room = [
        Participant("late", "STANDARD", "ACTIVE", joined_at=1_800_000_030.0),
        Participant("early", "STANDARD", "ACTIVE", joined_at=1_800_000_010.0),
        Participant("unknown", "STANDARD", "JOINING", joined_at=None),
    ]

    # Then they are kept by join time, the one without a time first
    assert [p.identity for p in seen(room)["participants"]] == ["unknown", "early", "late"]
