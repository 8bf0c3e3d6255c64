"""A wait with no live dispatch to time it by (logic/wait_time.py): the whole interval of the mode."""

from __future__ import annotations

from dispatch_verify.logic.wait_time import wait_seconds

from .conftest import a_state
from .fakes import FakeTime


def test_without_a_live_dispatch_a_wait_is_the_whole_interval(now: FakeTime) -> None:
    # Given a request with no dispatch yet (no deadline to cut the wait to)
    state = a_state(poll_interval_s=4, webhook_backstop_s=25, join_timeout_s=2)

    # Then the wait is the poll interval, or the backstop when a join webhook is expected
    assert wait_seconds(state, now(), webhooks=False) == 4
    assert wait_seconds(state, now(), webhooks=True) == 25
