"""The workflow against LiveKit's job lifecycle (real ASL on the local engine, the simulator's hang,
joined, twin and failover agents): what is verified, and how an escalation explains itself."""

from __future__ import annotations

from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine
from tests.integration.conftest import escalation_of, request


def test_a_job_a_worker_took_whose_agent_never_connects_escalates_not_joined_pointing_at_the_entrypoint(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent whose worker takes every job but whose entrypoint hangs before connecting
    sim.set_agent("hung-agent", "hang")

    # When a dispatch is verified with two attempts of 10 s
    result = engine.run(request("room-hung", "hung-agent", join_timeout_s=10, max_attempts=2))

    # Then it escalates not_joined, its jobs seen running, and the sentence points at the entrypoint
    bundle = escalation_of(result)
    assert bundle["cause"] == "not_joined"
    assert {job["status"] for job in bundle["job_states"]} == {"JS_RUNNING"}
    assert "entrypoint" in bundle["explanation"] and "JS_RUNNING" in bundle["explanation"]


def test_a_job_no_worker_takes_escalates_not_joined_pointing_at_the_workers(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent whose jobs stay pending
    sim.set_agent("ghost-agent", "never")

    # When a dispatch is verified with one attempt of 10 s
    result = engine.run(request("room-pending", "ghost-agent", join_timeout_s=10, max_attempts=1))

    # Then it escalates not_joined too, but the sentence says no worker took the job
    bundle = escalation_of(result)
    assert bundle["cause"] == "not_joined"
    assert "JS_PENDING" in bundle["explanation"] and "entrypoint" not in bundle["explanation"]


def test_an_agent_that_stays_joined_is_verified(sim: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given an agent that connects but never becomes ACTIVE (no participant_joined webhook either)
    sim.set_agent("joined-agent", "joined")

    # When a dispatch is verified
    result = engine.run(request("room-joined", "joined-agent"))

    # Then it is verified on the first dispatch: JOINED is in the room
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["attempts"] == 1


def test_a_failed_job_followed_by_another_on_the_same_dispatch_is_waited_for_and_verified(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a worker that dies on the first job; the dispatch's second job is taken 8 s later
    sim.set_agent("failover-agent", "failover:8")

    # When a dispatch is verified with a 20 s join timeout
    result = engine.run(request("room-failover", "failover-agent", join_timeout_s=20))

    # Then it is verified on that one dispatch, its second job's agent, with no re-dispatch
    assert result.status == "SUCCEEDED", result.cause
    outcome = result.output
    assert outcome is not None and outcome["attempts"] == 1
    [first, second] = sim.jobs("room-failover", "failover-agent")
    assert outcome["agent_identity"] == second.state.participant_identity != first.state.participant_identity
    assert sim.max_live_dispatches("room-failover", "failover-agent") == 1


def test_of_two_agents_of_the_name_the_first_to_join_is_the_one_verified(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a dispatch that brings two agents of the name, the second 2 s after the first
    sim.set_agent("twin-agent", "twin:2")

    # When a dispatch is verified
    result = engine.run(request("room-twin", "twin-agent"))

    # Then the first agent's identity is the one verified
    assert result.status == "SUCCEEDED", result.cause
    first = sim.jobs("room-twin", "twin-agent")[0]
    assert result.output is not None and result.output["agent_identity"] == first.state.participant_identity
