"""A rollback mid-flight: executions started by the next version finish under this one. The next
version is this code with new fields in the state it writes (at the top level, in the request's
options, in an attempt); every later step, this version, must read past them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from dispatch_verify.handlers import dispatch_agent
from dispatch_verify.logic.intake import outcome_of_execution

from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine
from tests.integration.conftest import escalation_of, request


def writing_future_fields(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]], add: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    def next_version(event: dict[str, Any], context: Any) -> dict[str, Any]:
        state = handler(event, context)
        add(state)
        return state

    return next_version


@pytest.fixture
def next_version_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Dispatch agent" as the next version writes it: fields this version lacks, at the top, in the
    options and in the attempt."""

    def future_fields(state: dict[str, Any]) -> None:
        state["routing_hint"] = {"region": "eu"}
        state["request"]["options"]["ring_back_s"] = 5
        state["attempts"][-1]["worker_pool"] = "blue"

    monkeypatch.setattr(
        dispatch_agent, "lambda_handler", writing_future_fields(dispatch_agent.lambda_handler, future_fields)
    )


@pytest.mark.usefixtures("next_version_started")
def test_an_execution_the_next_version_started_is_verified_under_this_one(
    engine: LocalEngine, sim: LiveKitSimulator
) -> None:
    # Given an agent that wakes after 5 s and a state carrying the next version's fields
    sim.set_agent("agent-a", "wake:5")

    # When the rest of the execution runs under this version
    result = engine.run(request("rollback-room-1", "agent-a"))

    # Then it is verified as usual
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["status"] == "verified"


@pytest.mark.usefixtures("next_version_started")
def test_an_execution_the_next_version_started_escalates_with_its_cause_under_this_one(
    engine: LocalEngine, sim: LiveKitSimulator
) -> None:
    # Given an agent that never joins
    sim.set_agent("ghost", "never")

    # When the rest of the execution runs under this version
    bundle = escalation_of(engine.run(request("rollback-room-2", "ghost", join_timeout_s=6, max_attempts=1)))

    # Then it escalates with the real cause, not "internal" (a state this version could not read)
    assert bundle["cause"] == "not_joined"


def test_the_api_reads_an_outcome_the_next_version_wrote() -> None:
    # Given a finished execution whose output carries a field this version does not know
    output = {
        "status": "verified", "request_id": "req-1", "room": "r", "agent_name": "a", "kind": "request",
        "cause": None, "agent_identity": "agent-AJ_1", "dispatch_id": "AD_1", "dispatch_ids": ["AD_1"],
        "attempts": 1, "join_latency_s": 1.5, "started_at": "2027-01-15T08:00:00.000Z",
        "first_dispatch_at": "2027-01-15T08:00:00.000Z", "agent_joined_at": "2027-01-15T08:00:01.500Z",
        "finished_at": "2027-01-15T08:00:03.000Z", "sip": None, "ring_back_s": 5,
    }  # fmt: skip

    # When the API repairs a ledger item from it
    values = outcome_of_execution({"status": "SUCCEEDED", "output": json.dumps(output)})

    # Then it reads the outcome, not a failure to read it
    assert (values["status"], values["join_latency_s"]) == ("verified", 1.5)
