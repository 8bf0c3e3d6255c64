"""Workflow runs through the real ASL, the real handlers and the LiveKit simulator, on virtual time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, LocalEngine

ROOT = Path(__file__).resolve().parents[2]
METADATA = {"purpose": "test"}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sim(clock: VirtualClock) -> Iterator[LiveKitSimulator]:
    with LiveKitSimulator(clock) as simulator:
        yield simulator


@pytest.fixture
def livekit_webhooks() -> str:
    """The template parameter LiveKitWebhooks. This simulator sends no webhooks unless a module wires
    them (``sim.set_webhook(LocalApi(engine).deliver_webhook)``), so the stack is told so and polls at
    the poll interval; a module that wires them overrides this fixture with "Enabled"."""
    return "Disabled"


@pytest.fixture
def engine(clock: VirtualClock, sim: LiveKitSimulator, livekit_webhooks: str) -> Iterator[LocalEngine]:
    credentials = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
    parameters = {"LiveKitWebhooks": livekit_webhooks}
    template = str(ROOT / "template.yaml")
    with LocalEngine(clock, credentials, template_path=template, parameters=parameters) as local:
        yield local


def request(room: str, agent: str, **options: Any) -> dict[str, Any]:
    return {
        "room": room,
        "agent_name": agent,
        "metadata": METADATA,
        "options": {"poll_interval_s": 3, "join_timeout_s": 45, **options},
    }


def escalation_of(result: ExecutionResult) -> dict[str, Any]:
    assert result.status == "FAILED", f"expected an escalation, got {result.status}: {result.output}"
    assert result.error == "AgentNotVerified"
    bundle = json.loads(result.cause or "")
    assert isinstance(bundle, dict)
    return bundle


@contextmanager
def dispatch_landing_late(
    clock: VirtualClock, sim: LiveKitSimulator, room: str, agent: str, after_s: float
) -> Iterator[list[str]]:
    """While inside, a dispatch of ``agent`` with ``request()``'s metadata appears in ``room``
    ``after_s`` virtual seconds from now, as a CreateDispatch whose reply was lost would take effect
    late. Yields the list its id is appended to."""
    due, landed = clock.now() + after_s, []

    def land(now: float) -> None:
        if not landed and now >= due:
            with sim.world.lock:
                landed.append(
                    sim.world.create_dispatch(
                        room, agent, json.dumps(METADATA, separators=(",", ":")), now
                    ).id
                )

    unsubscribe = clock.subscribe(land)
    try:
        yield landed
    finally:
        unsubscribe()
