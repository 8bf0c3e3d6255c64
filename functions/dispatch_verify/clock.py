"""The one place the Lambda steps read the time.

In AWS this is the wall clock. The local engine (local_engine/) replaces ``now`` with the clock it
shares with the LiveKit simulator, so that join deadlines and the simulator's timestamps agree
even when a test runs on virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch, UTC."""
    return _now()


def set_clock(source: Callable[[], float]) -> None:
    """Use ``source`` instead of the wall clock (the local engine calls this; Lambda never does)."""
    global _now
    _now = source


def reset_clock() -> None:
    set_clock(time.time)


def iso_utc(epoch_seconds: float) -> str:
    """UTC ISO-8601 with millisecond precision and a ``Z`` suffix, e.g. 2026-11-28T16:37:46.123Z."""
    stamp = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
