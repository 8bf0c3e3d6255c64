"""The clocks that the local engine and the LiveKit simulator share: real time, a virtual clock for
one execution at a time (tests), and a discrete-event clock for many at once (benchmarks, chaos)."""

from clocks.clock import Clock, DiscreteClock, DiscreteEvent, RealClock, VirtualClock

__all__ = ["Clock", "DiscreteClock", "DiscreteEvent", "RealClock", "VirtualClock"]
