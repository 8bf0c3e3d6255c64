"""Fixtures for the LiveKit simulator's specification: a virtual clock and served simulators."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator

from .helpers import KEY, SECRET


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # LiveKit's dev secret "secret" is shorter than PyJWT's recommended HMAC key length.
    for item in items:
        if "tests/sim/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_sim(clock: VirtualClock) -> Iterator[Callable[..., LiveKitSimulator]]:
    started: list[LiveKitSimulator] = []

    def make(**kwargs: Any) -> LiveKitSimulator:
        sim = LiveKitSimulator(clock, api_key=KEY, api_secret=SECRET, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., LiveKitSimulator]) -> LiveKitSimulator:
    return make_sim(agents={"warm-agent": "warm"})
