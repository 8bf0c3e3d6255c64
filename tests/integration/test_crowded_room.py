"""A crowded room, through the real state machine on an engine that enforces Step Functions' 256 KB of
state data. Before the state was bounded (every participant in it), 3,000 listeners made a verified
dispatch end FAILED with States.DataLimitExceeded (no escalation, no record), and 700 did the same to
an escalation (its bundle carries the list again); both specs fail so without the cap."""

from __future__ import annotations

import boto3

from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine
from tests.integration.conftest import escalation_of, request


def fill(sim: LiveKitSimulator, room: str, listeners: int) -> None:
    for i in range(listeners):
        sim.add_participant(room, f"listener-{i:05d}-{'x' * 21}")  # 36-character identities


def test_an_agent_joining_a_room_of_3000_listeners_is_verified(
    engine: LocalEngine, sim: LiveKitSimulator
) -> None:
    # Given 3,000 listeners in the room (the whole list: about 400 KB of state) and a warm agent
    fill(sim, "crowded-1", 3_000)
    sim.set_agent("agent-a", "warm")

    # When it is dispatched
    result = engine.run(request("crowded-1", "agent-a"))

    # Then it is verified; the outcome counts the room
    assert result.status == "SUCCEEDED", (result.error, (result.cause or "")[:300])
    assert result.output["status"] == "verified"


def test_an_agent_that_never_comes_to_a_room_of_700_escalates_with_a_record(
    engine: LocalEngine, sim: LiveKitSimulator
) -> None:
    # Given 700 listeners and an agent that never joins
    fill(sim, "crowded-2", 700)
    sim.set_agent("ghost", "never")

    # When it is dispatched
    bundle = escalation_of(engine.run(request("crowded-2", "ghost", join_timeout_s=6, max_attempts=1)))

    # Then it escalates with its cause and the room's count, announced and recorded
    assert bundle["cause"] == "not_joined"
    assert (bundle["participants_total"], bundle["participants_by_kind"]) == (700, {"STANDARD": 700})
    assert len(bundle["participants"]) < 700
    assert [n["attributes"]["cause"] for n in engine.notifications()] == ["not_joined"]
    table = engine.function("DispatchApiFunction").environment["LEDGER_TABLE_NAME"]
    items = boto3.client("dynamodb", region_name=engine.region).scan(TableName=table)["Items"]
    assert [item["status"]["S"] for item in items] == ["escalated"]
