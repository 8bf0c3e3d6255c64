"""The local engine on its own fixture template (tests/engine/fixtures/), on virtual time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clocks import VirtualClock
from local_engine import LocalEngine

FIXTURE_TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "template.yaml"
LIVEKIT = {"url": "ws://livekit.local:7880", "api_key": "APIfixture", "api_secret": "fixture-secret"}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def engine(clock: VirtualClock) -> Iterator[LocalEngine]:
    with LocalEngine(clock, LIVEKIT, template_path=FIXTURE_TEMPLATE) as local:
        yield local
