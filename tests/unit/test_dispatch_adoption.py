"""Which earlier dispatch a repeated dispatch step adopts (logic/dispatch.py): the newest of this
request's unclaimed ones, whatever order LiveKit lists them in."""

from __future__ import annotations

from dispatch_verify.logic.dispatch import dispatch_agent

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def test_of_two_dispatches_left_by_lost_tries_the_newest_is_adopted(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given two live dispatches of this request's agent and metadata that no attempt records (two
    # tries whose results were lost), the second made 5 s after the first
    metadata = a_state().request.metadata
    older = livekit.create_dispatch(ROOM, AGENT, metadata)
    now.advance(5)
    newer = livekit.create_dispatch(ROOM, AGENT, metadata)

    # When the dispatch step runs again
    result = dispatch_agent(a_state(), livekit, webhooks=False)

    # Then it adopts the newest and creates none
    assert [attempt.dispatch_id for attempt in result.attempts] == [newer.dispatch_id]
    assert older.dispatch_id != newer.dispatch_id
    assert livekit.calls.count("create_dispatch") == 2
