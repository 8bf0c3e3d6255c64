"""Clocks shared by the LiveKit simulator, the local engine and the Lambda steps.

``RealClock`` is wall time (``dispatch-verify demo``/``run``/``sim``). ``VirtualClock`` starts at a
fixed instant and only moves when someone sleeps on it, so a 120 s wait finishes at once in tests.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Time that advances only by ``sleep``/``advance``.

    A sleep advances the shared time by the full amount, so it suits one workflow execution at a
    time (which is how the tests use it). Thread-safe.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += seconds
