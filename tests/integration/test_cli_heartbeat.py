"""`dispatch-verify heartbeat` as a user runs it: real time, real subprocess, the simulator as LiveKit."""

from __future__ import annotations

import json

from livekit_sim import LiveKitSimulator
from tests.integration.test_cli import env_for, live_sim, run_cli

__all__ = ["live_sim"]  # the fixture, shared with the `run` specs


def test_heartbeat_without_livekit_settings_runs_on_the_embedded_simulator_and_exits_0() -> None:
    # Given no LIVEKIT_* variables
    # When `heartbeat --json` runs
    done = run_cli("heartbeat", "--json")

    # Then a warm demo agent is verified in a fresh heartbeat room, which is closed at the end
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome["status"], outcome["kind"]) == ("verified", "heartbeat")
    assert outcome["room"] == f"heartbeat-{outcome['request_id']}"
    assert "embedded LiveKit simulator" in done.stderr
    assert f"heartbeat room {outcome['room']!r} closed" in done.stderr


def test_heartbeat_against_a_livekit_server_verifies_the_named_agent_and_deletes_its_room(
    live_sim: LiveKitSimulator,
) -> None:
    # Given a LiveKit server with a warm agent
    # When `heartbeat --agent-name` runs against it
    done = run_cli("heartbeat", "--agent-name", "fast-agent", "--json", env=env_for(live_sim))

    # Then the agent is verified, and its heartbeat room is gone from the server afterwards
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome["status"], outcome["agent_name"]) == ("verified", "fast-agent")
    assert outcome["room"].startswith("heartbeat-")
    assert outcome["room"] not in live_sim.room_names()
    assert live_sim.jobs(room=outcome["room"]) != []


def test_heartbeat_exits_2_when_livekit_refuses_the_credentials(live_sim: LiveKitSimulator) -> None:
    # Given credentials the server rejects
    env = {**env_for(live_sim), "LIVEKIT_API_SECRET": "not-the-secret"}

    # When `heartbeat` runs
    done = run_cli("heartbeat", "--agent-name", "fast-agent", "--json", env=env)

    # Then it exits 2 with the cause
    assert done.returncode == 2, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome["status"], outcome["cause"]) == ("escalated", "auth")


def test_heartbeat_against_a_server_needs_the_agent_name(live_sim: LiveKitSimulator) -> None:
    # Given LIVEKIT_* pointing at a server
    # When `heartbeat` runs without --agent-name
    done = run_cli("heartbeat", env=env_for(live_sim))

    # Then it is a usage error, without a traceback
    assert done.returncode == 1
    assert "--agent-name" in done.stderr and "Traceback" not in done.stderr


def test_heartbeat_with_only_part_of_the_livekit_settings_names_what_is_missing() -> None:
    done = run_cli("heartbeat", "--agent-name", "a", env={"LIVEKIT_URL": "http://127.0.0.1:9"})

    assert done.returncode == 1
    assert "LIVEKIT_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_heartbeat_of_an_agent_name_the_template_refuses_is_a_usage_error(live_sim: LiveKitSimulator) -> None:
    # Given an agent name outside the HeartbeatAgentName parameter's AllowedPattern
    # When `heartbeat` runs with it (the stack is deployed with it, as CloudFormation would be asked to)
    done = run_cli("heartbeat", "--agent-name", "my agent!", env=env_for(live_sim))

    # Then CloudFormation's refusal is a usage error naming the parameter, and nothing ran
    assert done.returncode == 1, done.stderr
    assert "HeartbeatAgentName" in done.stderr and "Traceback" not in done.stderr
    assert live_sim.jobs() == []
