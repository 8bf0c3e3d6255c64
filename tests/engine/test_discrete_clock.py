"""DiscreteClock: virtual time moves only when every actor waits, and then to the earliest wake-up."""

from __future__ import annotations

import threading
import time

import pytest

from clocks import DiscreteClock

START = 1_800_000_000.0


def _run_actors(clock: DiscreteClock, plans: dict[str, list[float]]) -> list[tuple[float, str]]:
    """Each actor sleeps its planned seconds one after another, noting the time it wakes."""
    seen: list[tuple[float, str]] = []
    lock = threading.Lock()

    def actor(name: str, sleeps: list[float]) -> None:
        for seconds in sleeps:
            clock.sleep(seconds)
            with lock:
                seen.append((clock.now() - START, name))

    _start_and_join(clock, [clock.thread(actor, name, sleeps) for name, sleeps in plans.items()])
    return sorted(seen)


def _start_and_join(clock: DiscreteClock, threads: list[threading.Thread]) -> None:
    with clock.running():  # time stands still until every actor has started
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def test_concurrent_sleepers_each_wake_on_their_own_timeline() -> None:
    # Given three actors sleeping at once (a VirtualClock would age each by the others' sleeps)
    with DiscreteClock(START) as clock:
        # When they run
        seen = _run_actors(clock, {"a": [3, 3, 3], "b": [5, 5], "c": [7]})

    # Then each wakes when its own sleeps add up to, and time ends at the latest of them
    assert seen == [(3, "a"), (5, "b"), (6, "a"), (7, "c"), (9, "a"), (10, "b")]
    assert clock.now() - START == 10


def test_time_stands_still_while_an_actor_runs_in_real_time() -> None:
    # Given an actor that works 0.3 s of real time while another sleeps 1 virtual second
    with DiscreteClock(START) as clock:
        during_work: list[float] = []

        def worker() -> None:
            time.sleep(0.3)  # a handler call: real time, not on the clock
            during_work.append(clock.now() - START)

        _start_and_join(clock, [clock.thread(clock.sleep, 1.0), clock.thread(worker)])

    # Then the sleeper's second did not pass until the worker was done
    assert during_work == [0.0]
    assert clock.now() - START == 1.0


def test_event_wait_ends_when_set_or_at_its_virtual_timeout() -> None:
    with DiscreteClock(START) as clock:
        event, results = clock.event(), {}

        def waiter(name: str, timeout: float) -> None:
            results[name] = (event.wait(timeout), clock.now() - START)

        def setter() -> None:
            clock.sleep(4)
            event.set()

        threads = [clock.thread(waiter, "short", 2), clock.thread(waiter, "long", 60), clock.thread(setter)]
        _start_and_join(clock, threads)

    # Then the short wait timed out at 2 s, the long one ended when the event was set at 4 s
    assert results == {"short": (False, 2.0), "long": (True, 4.0)}


def test_horizon_stops_time_at_the_worlds_next_event_and_subscribers_see_it() -> None:
    with DiscreteClock(START) as clock:
        events = [START + 2.5]
        fired: list[float] = []
        clock.add_horizon(lambda: events[0] if events else None)

        def on_move(now: float) -> None:
            if events and now >= events[0]:
                fired.append(now - START)
                events.clear()

        clock.subscribe(on_move)
        _start_and_join(clock, [clock.thread(clock.sleep, 10), clock.thread(clock.sleep, 10)])

    # Then time stopped at the announced event (a subscriber saw it), then went on to the sleepers
    assert fired == [2.5]
    assert clock.now() - START == 10


def test_thread_join_counts_its_timeout_on_the_clock() -> None:
    with DiscreteClock(START) as clock:
        child = clock.thread(clock.sleep, 100)
        with clock.running():
            child.start()
            child.join(timeout=30)
            # The joiner gave up after 30 virtual seconds; the child still sleeps
            assert child.is_alive()
            assert clock.now() - START == 30
            child.join()
        assert clock.now() - START == 100


def test_stop_wakes_every_sleeper_and_later_sleeps_return_at_once() -> None:
    clock = DiscreteClock(START)
    clock.start()
    with clock.running():  # an actor that never sleeps: time cannot move
        sleeper = clock.thread(clock.sleep, 5)
        sleeper.start()
        time.sleep(0.05)
        assert sleeper.is_alive()
        clock.stop()
        sleeper.join()
    clock.sleep(1)  # returns: a stopped clock does not block anyone
    assert clock.now() == START


def test_negative_sleep_is_refused() -> None:
    with DiscreteClock(START) as clock, pytest.raises(ValueError, match="backwards"):
        clock.sleep(-1)
