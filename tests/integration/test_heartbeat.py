"""Heartbeats through the real ASL: a fresh room per run, deleted at the end whatever the outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dispatch_verify import recording
from livekit.protocol.agent import JobStatus

from dispatch_verify_cli import progress
from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, LocalEngine
from tests.integration.conftest import escalation_of, request


def heartbeat(agent: str, **options: Any) -> dict[str, Any]:
    """What the schedule sends (it cannot name the room), with quicker options for the tests."""
    return {
        "kind": "heartbeat",
        "agent_name": agent,
        "metadata": {"type": "heartbeat"},
        "options": {"poll_interval_s": 3, **options},
    }


def progress_lines(result: ExecutionResult) -> list[str]:
    """What `dispatch-verify run` and `heartbeat` print for this execution."""
    return [line for event in result.history if (line := progress.describe(event, 0.0, 0.0))]


def metric_records(engine: LocalEngine) -> list[dict[str, Any]]:
    """The EMF lines (CloudWatch embedded metric format) the steps printed."""
    return [json.loads(line) for line in engine.lambda_output if '"_aws"' in line]


def test_verified_heartbeat_runs_in_its_own_room_which_is_gone_afterwards(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When a heartbeat runs
    result = engine.run(heartbeat("fast-agent"), name="hb-verified")

    # Then the agent is verified in the room named after the execution, told it is a heartbeat
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["room"], result.output["kind"]) == ("heartbeat-hb-verified", "heartbeat")
    (job,) = sim.jobs(room="heartbeat-hb-verified")
    assert json.loads(job.metadata) == {"type": "heartbeat"}
    # And the room was closed after the outcome was recorded, so the agent's session ended
    assert "heartbeat-hb-verified" not in sim.room_names()
    assert "Close heartbeat room" in result.states_entered()
    assert job.state.status != JobStatus.JS_RUNNING
    assert any("heartbeat room 'heartbeat-hb-verified' closed" in line for line in progress_lines(result))


def test_escalated_heartbeat_leaves_neither_its_room_nor_a_live_dispatch(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent that accepts dispatches and never joins
    sim.set_agent("ghost-agent", "never")

    # When a heartbeat runs
    result = engine.run(heartbeat("ghost-agent", join_timeout_s=10, max_attempts=2), name="hb-ghost")

    # Then it escalates as any request would, marked as a heartbeat
    bundle = escalation_of(result)
    assert (bundle["cause"], bundle["kind"], bundle["room"]) == (
        "not_joined",
        "heartbeat",
        "heartbeat-hb-ghost",
    )
    # And afterwards the room is gone and no dispatch of it is live: every job ended
    assert "heartbeat-hb-ghost" not in sim.room_names()
    assert sim.world.live_count("heartbeat-hb-ghost", "ghost-agent") == 0
    jobs = sim.jobs(room="heartbeat-hb-ghost")
    assert len(jobs) == 2
    assert all(job.state.status == JobStatus.JS_CANCELLED for job in jobs)
    assert sim.max_live_dispatches("heartbeat-hb-ghost", "ghost-agent") == 1


def test_heartbeat_metrics_carry_kind_heartbeat_and_requests_kind_request(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When a heartbeat and then an ordinary request run
    engine.run(heartbeat("fast-agent"), name="hb-metrics")
    engine.run(request("room-metrics", "fast-agent"), name="req-metrics")

    # Then each outcome's metrics carry the kind next to the agent name, as the alarms query them
    records = metric_records(engine)
    assert [(r["Kind"], r["AgentName"], r["Verified"]) for r in records] == [
        ("heartbeat", "fast-agent", [1.0]),
        ("request", "fast-agent", [1.0]),
    ]
    assert all(
        r["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["AgentName", "Kind", "service"]] for r in records
    )


def test_an_ordinary_request_keeps_its_room(sim: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When an ordinary request is verified
    result = engine.run(request("room-kept", "fast-agent"))

    # Then its room stays open for the call, and no clean-up ran
    assert result.status == "SUCCEEDED", result.cause
    assert "room-kept" in sim.room_names()
    assert "Close heartbeat room" not in result.states_entered()


def test_a_failed_room_clean_up_does_not_change_a_verified_heartbeat(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent, and LiveKit refusing to delete rooms (a key without the roomCreate grant)
    sim.set_agent("fast-agent", "warm")
    sim.inject_fault("DeleteRoom", "permission_denied", count=10)

    # When a heartbeat runs
    result = engine.run(heartbeat("fast-agent"), name="hb-cleanup-fails")

    # Then it still succeeds as verified; the clean-up failed once (no retry of a permanent error)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["status"] == "verified"
    assert [c for c in sim.calls if c[0] == "DeleteRoom"] == [("DeleteRoom", "permission_denied", 403)]
    # And the live dispatch was deleted before the room anyway
    assert sim.world.live_count("heartbeat-hb-cleanup-fails", "fast-agent") == 0
    assert any("heartbeat room not closed" in line for line in engine.lambda_output)
    assert any(
        "NOT closed: LiveKitPermanentError (the outcome stands)" in line for line in progress_lines(result)
    )


def test_a_short_livekit_outage_while_closing_is_retried_until_the_room_is_gone(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent, and two 503s on the first room deletions
    sim.set_agent("fast-agent", "warm")
    sim.inject_fault("DeleteRoom", "unavailable", count=2)

    # When a heartbeat runs
    result = engine.run(heartbeat("fast-agent"), name="hb-cleanup-retried")

    # Then it is verified and the room is gone after the retries
    assert result.status == "SUCCEEDED", result.cause
    assert "heartbeat-hb-cleanup-retried" not in sim.room_names()
    assert [c[1] for c in sim.calls if c[0] == "DeleteRoom"] == ["unavailable", "unavailable", "ok"]


def test_invalid_heartbeat_is_escalated_and_recorded_and_ends_cleanly(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a heartbeat from a schedule deployed without an agent name
    # When it runs
    result = engine.run(
        {"kind": "heartbeat", "agent_name": "", "metadata": {"type": "heartbeat"}}, name="hb-bad"
    )

    # Then it escalates invalid_request with the room it would have used, and nothing is left behind
    bundle = escalation_of(result)
    assert (bundle["cause"], bundle["kind"], bundle["room"]) == (
        "invalid_request",
        "heartbeat",
        "heartbeat-hb-bad",
    )
    assert "heartbeat-hb-bad" not in sim.room_names()


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the record failed: none
def test_heartbeat_room_is_closed_even_when_its_outcome_cannot_be_recorded(
    sim: LiveKitSimulator, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm agent, and recording its outcome failing wherever it is recorded (a bug)
    sim.set_agent("fast-agent", "warm")

    def broken(state: object) -> object:
        raise RuntimeError("record failed")

    monkeypatch.setattr(recording, "record_outcome", broken)

    # When a heartbeat runs
    result = engine.run(heartbeat("fast-agent"), name="hb-unrecorded")

    # Then the execution says the outcome was not recorded, and the room is gone all the same
    assert (result.status, result.error) == ("FAILED", "OutcomeNotRecorded")
    assert "heartbeat-hb-unrecorded" not in sim.room_names()
