"""Clocks shared by the LiveKit simulator, the local engine and the Lambda steps.

``RealClock`` is wall time (``dispatch-verify demo``/``run``/``sim``). ``VirtualClock`` starts at a
fixed instant and only moves when someone sleeps on it, so a 120 s wait finishes at once in tests.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

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


class _WorldHooks:
    """What a simulated world hooks into a virtual clock: ``subscribe`` (react as time passes, not
    only when asked something) and ``add_horizon`` (say when something next happens, so that a wait
    can stop there instead of crawling). ``_hooks_lock`` guards both registries."""

    _hooks_lock: threading.Lock | threading.Condition

    def __init__(self) -> None:
        self._subscribers: list[tuple[object, Callable[[float], None]]] = []
        self._horizons: list[tuple[object, Callable[[], float | None]]] = []

    def subscribe(self, callback: Callable[[float], None]) -> Callable[[], None]:
        """Call ``callback(now)`` each time time moves, outside the clock's lock (``VirtualClock``: in
        the thread that moved it; ``DiscreteClock``: in its scheduler thread, before any sleeper due
        then wakes). Returns the function that unsubscribes it (idempotent)."""
        return self._register(self._subscribers, callback)

    def add_horizon(self, next_event_at: Callable[[], float | None]) -> Callable[[], None]:
        """``next_event_at()`` announces when something next happens (None: nothing scheduled); it is
        called outside the clock's lock. Returns the function that removes it (idempotent)."""
        return self._register(self._horizons, next_event_at)

    def _register(self, registry: list[tuple[object, _F]], fn: _F) -> Callable[[], None]:
        entry = (object(), fn)  # removing takes out this registration, not an equal one
        with self._hooks_lock:
            registry.append(entry)

        def remove() -> None:
            with self._hooks_lock:
                if entry in registry:
                    registry.remove(entry)

        return remove

    def next_event_at(self) -> float | None:
        """The earliest time a horizon announces (None: nobody expects anything)."""
        with self._hooks_lock:
            horizons = [fn for _, fn in self._horizons]
        return min((t for t in (fn() for fn in horizons) if t is not None), default=None)


class VirtualClock(_WorldHooks):
    """Time that advances only by ``sleep``/``advance``.

    A sleep advances the shared time by the full amount, so it suits one workflow execution at a
    time (which is how the tests use it). Thread-safe. ``subscribe`` lets a simulated world react
    as time passes (not only when it is asked something).
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        super().__init__()
        self._now = start
        self._lock = self._hooks_lock = threading.Lock()

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


class DiscreteClock(_WorldHooks):
    """Virtual time for many concurrent actors: a discrete-event (conservative) scheduler.

    ``VirtualClock`` moves time by the full amount of any sleep, which is right for one execution at
    a time and wrong for many: one execution's 3 s wait would age every other one by 3 s. Here time
    moves only when every *actor* is blocked on the clock, and then straight to the earliest thing
    that happens: the earliest wake-up of a sleeper, or the next event a horizon announces (the
    simulator's next join). So N executions started in the same virtual minute interleave exactly as
    their timelines say, however long each one's handlers take in real time.

    An actor is a thread that counts as runnable: one inside ``running()``, a thread started with
    ``thread()`` (it inherits the starter's claim), or a thread blocked in ``sleep``/``Event.wait``
    that has been woken. A thread that sleeps without being an actor becomes one for its sleep. Work
    done by threads that are not actors (an HTTP server thread answering an actor) is covered by the
    actor waiting for it. ``subscribe`` callbacks (the simulator advancing its world) run in the
    scheduler thread right after time moves, before any sleeper due then is woken.

    Use as a context manager (starts and stops the scheduler thread).
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        super().__init__()
        self._now = start
        self._cond = self._hooks_lock = threading.Condition()
        self._runnable = 0
        self._sleepers: list[tuple[float, int, _Waiter]] = []
        self._seq = 0
        self._moves = 0
        self._generation = 0  # changes whenever an actor starts or stops running
        self._local = threading.local()
        self._scheduler: threading.Thread | None = None
        self._stopping = False

    # -- time ------------------------------------------------------------------------------------
    def now(self) -> float:
        with self._cond:
            return self._now

    @property
    def moves(self) -> int:
        """How many times time has moved (a measure of the scheduler's work)."""
        with self._cond:
            return self._moves

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._cond:
            deadline = self._now + seconds
        self.sleep_until(deadline)

    def sleep_until(self, deadline: float) -> None:
        with self.running():
            waiter = _Waiter()
            with self._cond:
                if deadline <= self._now or self._stopping:
                    return
                self._block(waiter, deadline)
            waiter.woken.wait()

    def event(self) -> DiscreteEvent:
        """A ``threading.Event`` whose ``wait(timeout)`` counts the timeout on this clock."""
        return DiscreteEvent(self)

    # -- actors ----------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[None]:
        """The calling thread is an actor for the block: time stands still while it runs."""
        held = getattr(self._local, "held", 0)
        if held == 0:
            self._claim()
        self._local.held = held + 1
        try:
            yield
        finally:
            self._local.held = held
            if held == 0:
                self._release()

    def thread(self, target: Callable[..., object], *args: object, **kwargs: Any) -> threading.Thread:
        """A thread that is an actor from the moment ``start`` is called until ``target`` returns."""
        return _ActorThread(self, target, args, kwargs)

    def _claim(self) -> None:
        with self._cond:
            self._runnable += 1
            self._generation += 1

    def _release(self) -> None:
        with self._cond:
            self._runnable -= 1
            if self._runnable < 0:
                raise RuntimeError("DiscreteClock: an actor released a claim it did not hold")
            self._cond.notify_all()

    def _block(self, waiter: _Waiter, deadline: float | None) -> None:
        """Under the lock: the calling actor stops running until ``waiter`` is woken (the scheduler
        at ``deadline``, or whoever sets the event it waits for); the waker runs it again."""
        if deadline is not None:
            self._seq += 1
            heapq.heappush(self._sleepers, (deadline, self._seq, waiter))
        self._runnable -= 1
        self._generation += 1
        self._cond.notify_all()

    def _wake(self, waiter: _Waiter) -> bool:
        """Under the lock: run ``waiter`` again (once). False if it was already woken."""
        if waiter.woken.is_set():
            return False
        self._runnable += 1
        self._generation += 1
        waiter.woken.set()
        return True

    # -- the scheduler -----------------------------------------------------------------------------
    def __enter__(self) -> DiscreteClock:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._scheduler is not None:
            raise RuntimeError("the DiscreteClock's scheduler is already running")
        self._stopping = False
        self._scheduler = threading.Thread(target=self._schedule, name="discrete-clock", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        """Stop moving time and wake every sleeper (so no thread stays blocked on a stopped clock)."""
        with self._cond:
            self._stopping = True
            while self._sleepers:
                self._wake(heapq.heappop(self._sleepers)[2])
            self._cond.notify_all()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None

    def _schedule(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._runnable > 0:
                    self._cond.wait()
                if self._stopping:
                    return
                self._drop_woken()
                next_wake = self._sleepers[0][0] if self._sleepers else None
                generation = self._generation
            horizon = self.next_event_at()  # outside the lock: a horizon may take the world's lock
            with self._cond:
                if self._runnable > 0 or self._generation != generation:
                    continue  # someone ran meanwhile: look again
                targets = [t for t in (next_wake, horizon) if t is not None]
                if not targets:
                    self._cond.wait(_IDLE_LOOK_S)  # nothing is scheduled: wait for an actor
                    continue
                self._now = max(self._now, min(targets))
                self._moves += 1
                now, subscribers = self._now, [fn for _, fn in self._subscribers]
                self._runnable += 1  # the scheduler runs the subscribers: time stands still
            try:
                for callback in subscribers:
                    callback(now)
            finally:
                with self._cond:
                    self._runnable -= 1
                    while self._sleepers and self._sleepers[0][0] <= self._now:
                        self._wake(heapq.heappop(self._sleepers)[2])
                    self._cond.notify_all()

    def _drop_woken(self) -> None:
        while self._sleepers and self._sleepers[0][2].woken.is_set():
            heapq.heappop(self._sleepers)


_IDLE_LOOK_S = 0.05  # real seconds between two looks at the horizons when nothing sleeps


class _Waiter:
    __slots__ = ("woken",)

    def __init__(self) -> None:
        self.woken = threading.Event()


class DiscreteEvent:
    """``threading.Event`` on a ``DiscreteClock``: ``wait(timeout)`` blocks the calling actor until
    the event is set or ``timeout`` seconds of *virtual* time have passed."""

    def __init__(self, clock: DiscreteClock) -> None:
        self._clock = clock
        self._flag = False
        self._waiters: list[_Waiter] = []

    def set(self) -> None:
        cond = self._clock._cond
        with cond:
            if self._flag:
                return
            self._flag = True
            for waiter in self._waiters:
                self._clock._wake(waiter)
            self._waiters.clear()
            cond.notify_all()

    def is_set(self) -> bool:
        with self._clock._cond:
            return self._flag

    def clear(self) -> None:
        with self._clock._cond:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        with clock.running():
            waiter = _Waiter()
            with clock._cond:
                if self._flag:
                    return True
                if (timeout is not None and timeout <= 0) or clock._stopping:
                    return False
                self._waiters.append(waiter)
                clock._block(waiter, None if timeout is None else clock._now + timeout)
            waiter.woken.wait()
            with clock._cond:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                return self._flag


class _ActorThread(threading.Thread):
    def __init__(self, clock: DiscreteClock, target: Callable[..., object], args: tuple[object, ...],
                 kwargs: dict[str, Any]) -> None:  # fmt: skip
        super().__init__(target=target, args=args, kwargs=kwargs, daemon=True)
        self._clock = clock
        self._done = DiscreteEvent(clock)

    def start(self) -> None:
        self._clock._claim()  # before the thread exists: no instant in which nobody holds the claim
        try:
            super().start()
        except BaseException:
            self._clock._release()
            raise

    def run(self) -> None:
        self._clock._local.held = 1
        try:
            super().run()
        finally:
            self._done.set()  # the joiner runs again before this thread's claim ends
            self._clock._local.held = 0
            self._clock._release()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread, ``timeout`` counted on the clock (the joiner is blocked meanwhile)."""
        if self._done.wait(timeout):
            super().join()
