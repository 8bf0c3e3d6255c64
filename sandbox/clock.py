"""Clocks shared by the LiveKit simulator, the local engine and the Lambda steps.

``RealClock`` is wall time (``dispatch-verify demo``/``run``/``sim``). ``VirtualClock`` starts at a
fixed instant and only moves when someone sleeps on it, so a 120 s wait finishes at once in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

_F = TypeVar("_F")


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
    time (which is how the tests use it). Thread-safe. ``subscribe`` lets a simulated world react
    as time passes (not only when it is asked something).
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._subscribers: list[tuple[object, Callable[[float], None]]] = []
        self._horizons: list[tuple[object, Callable[[], float | None]]] = []

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
            now, subscribers = self._now, list(self._subscribers)
        for _, callback in subscribers:  # outside the lock: a callback may read or move the clock
            callback(now)

    def subscribe(self, callback: Callable[[float], None]) -> Callable[[], None]:
        """Call ``callback(now)`` after every ``advance``/``sleep``, outside the clock's lock, in the
        advancing thread. Returns the function that unsubscribes it (idempotent)."""
        return self._register(self._subscribers, callback)

    def add_horizon(self, next_event_at: Callable[[], float | None]) -> Callable[[], None]:
        """Tell whoever waits on this clock when something next happens (a simulated world's next
        scheduled event), so that a long wait can jump there instead of crawling. Returns the
        function that removes it (idempotent)."""
        return self._register(self._horizons, next_event_at)

    def _register(self, registry: list[tuple[object, _F]], fn: _F) -> Callable[[], None]:
        entry = (object(), fn)  # removing takes out this registration, not an equal one
        with self._lock:
            registry.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in registry:
                    registry.remove(entry)

        return remove

    def next_event_at(self) -> float | None:
        """The earliest time a horizon announces (None: nobody expects anything)."""
        with self._lock:
            horizons = [fn for _, fn in self._horizons]
        times = [t for t in (fn() for fn in horizons) if t is not None]
        return min(times, default=None)
