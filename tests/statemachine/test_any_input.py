"""Whatever JSON an execution is started with, it ends in a classified outcome (on the local engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine

from .conftest import TEMPLATE_PATH


@pytest.fixture(scope="module")
def sim() -> Iterator[LiveKitSimulator]:
    with LiveKitSimulator(VirtualClock()) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def engine(sim: LiveKitSimulator) -> Iterator[LocalEngine]:
    credentials = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
    with LocalEngine(sim.clock, credentials, template_path=str(TEMPLATE_PATH)) as local:
        yield local


@pytest.mark.parametrize("raw", [[1, 2], [], "dispatch please", 42, None], ids=repr)
def test_input_that_is_not_an_object_escalates_invalid_request(
    engine: LocalEngine, sim: LiveKitSimulator, raw: Any
) -> None:
    # Given an execution input that is valid JSON but not an object
    # When the workflow runs
    result = engine.run(raw)

    # Then it is not a runtime failure of the engine but an escalation of an invalid request
    assert (result.status, result.error) == ("FAILED", "AgentNotVerified"), result.cause
    bundle = json.loads(result.cause or "")
    assert bundle["cause"] == "invalid_request"
    assert "JSON object" in bundle["last_error"]["message"]
    assert sim.calls == []


def test_an_invalid_object_keeps_its_room_and_agent_in_the_evidence(engine: LocalEngine) -> None:
    # Given an input object whose options are out of range
    raw = {"room": "room-7", "agent_name": "inbound-agent", "options": {"poll_interval_s": 0}}

    # When the workflow runs
    result = engine.run(raw)

    # Then the escalation names the room and the agent it was asked for, and the bad field
    bundle = json.loads(result.cause or "")
    assert (bundle["cause"], bundle["room"], bundle["agent_name"]) == (
        "invalid_request",
        "room-7",
        "inbound-agent",
    )
    assert "poll_interval_s" in bundle["last_error"]["message"]
