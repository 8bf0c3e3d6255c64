"""An attempt is stamped with LiveKit's own creation time of its dispatch (join latency is measured
on LiveKit's clocks), while how long it waits is counted on the step's clock: the two may disagree."""

from __future__ import annotations

from dispatch_verify.clock import iso_utc
from dispatch_verify.logic.dispatch import dispatch_agent

from .conftest import ROOM, a_state
from .fakes import FakeLiveKit, FakeTime

SKEW_S = 7.5  # LiveKit's clock behind the step's


def test_an_attempt_carries_livekit_s_creation_time_and_a_deadline_on_the_step_s_clock(now: FakeTime) -> None:
    # Given a LiveKit whose clock is 7.5 s behind the step's
    livekit = FakeLiveKit(lambda: now() - SKEW_S)
    livekit.rooms[ROOM] = None

    # When the agent is dispatched with a 45 s join timeout
    attempt = dispatch_agent(a_state(join_timeout_s=45), livekit).attempts[0]

    # Then the attempt's creation time is LiveKit's, and its deadline 45 s after now on the step's clock
    assert attempt.created_at_epoch == now() - SKEW_S
    assert attempt.created_at == iso_utc(now() - SKEW_S)
    assert attempt.deadline_epoch == now() + 45


def test_a_dispatch_without_a_creation_time_is_stamped_with_the_step_s_clock(now: FakeTime) -> None:
    # Given a LiveKit answer that leaves the dispatch's creation time out (zero on the wire)
    livekit = FakeLiveKit(lambda: 0.0)
    livekit.rooms[ROOM] = None

    # When the agent is dispatched
    attempt = dispatch_agent(a_state(), livekit).attempts[0]

    # Then the step's clock stands in, so no latency is measured from 1970
    assert attempt.created_at_epoch == now()
