"""The dispatch-and-verify workflow, end to end: real ASL on the local engine, real handlers, simulator.

Every scenario also asserts that the room never held more than one live dispatch of the agent.
"""

from __future__ import annotations

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, LocalEngine
from tests.integration.conftest import dispatch_landing_late, escalation_of, request


def test_warm_agent_is_verified_on_the_first_dispatch(sim: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given an agent with a warm worker
    sim.set_agent("fast-agent", "warm")

    # When a dispatch is verified
    result = engine.run(request("room-warm", "fast-agent"), name="warm-1")

    # Then the agent is verified after one dispatch, with the dispatch and identity that proved it
    assert result.status == "SUCCEEDED", result.cause
    outcome = result.output
    assert outcome is not None
    assert outcome["status"] == "verified"
    assert outcome["request_id"] == "warm-1"
    assert outcome["attempts"] == 1
    assert outcome["agent_identity"].startswith("agent-AJ_")
    assert outcome["dispatch_id"].startswith("AD_")
    assert 0 < outcome["join_latency_s"] < 1
    assert outcome["started_at"].endswith("Z")
    assert engine.notifications() == []
    assert sim.max_live_dispatches("room-warm", "fast-agent") == 1


def test_agent_cold_starting_for_15_s_is_waited_for_and_verified(
    sim: LiveKitSimulator, engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given an agent asleep for 15 s after its first dispatch
    sim.set_agent("sleepy-agent", "wake:15")
    started = clock.now()

    # When a dispatch is verified with the default 45 s join timeout
    result = engine.run(request("room-cold", "sleepy-agent"))

    # Then it is verified on the first dispatch, about 15 s after it, and no re-dispatch happened
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert result.output["attempts"] == 1
    assert 15 <= result.output["join_latency_s"] < 16
    assert 15 <= clock.now() - started < 15 + 3 + 2  # found within one poll interval of the join
    assert sim.max_live_dispatches("room-cold", "sleepy-agent") == 1


def test_agent_that_never_wakes_uses_every_attempt_then_escalates_not_joined(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent whose job is accepted but never progresses
    sim.set_agent("ghost-agent", "never")

    # When a dispatch is verified with three attempts of 20 s
    result = engine.run(request("room-ghost", "ghost-agent", join_timeout_s=20, max_attempts=3))

    # Then it escalates not_joined after three dispatches, with the evidence
    bundle = escalation_of(result)
    assert bundle["cause"] == "not_joined"
    assert bundle["attempts"] == 3
    dispatch_ids = [d["dispatch_id"] for d in bundle["dispatches"]]
    assert len(set(dispatch_ids)) == 3
    assert all(d["created_at"].endswith("Z") for d in bundle["dispatches"])
    assert {job["status"] for job in bundle["job_states"]} == {"JS_PENDING"}
    # And the escalation went to SNS and EventBridge, once each
    notifications, events = engine.notifications(), engine.bus_events()
    assert len(notifications) == 1 and len(events) == 1
    assert notifications[0]["message"]["cause"] == "not_joined"
    assert events[0]["detail-type"] == "AgentDispatchEscalated"
    assert [d["dispatch_id"] for d in events[0]["detail"]["dispatches"]] == dispatch_ids
    assert sim.max_live_dispatches("room-ghost", "ghost-agent") == 1


def test_agent_with_no_worker_escalates_never_assigned(sim: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given an agent name no worker has registered for
    sim.set_agent("unregistered-agent", "none")

    # When a dispatch is verified
    result = engine.run(request("room-none", "unregistered-agent", join_timeout_s=10, max_attempts=2))

    # Then the dispatches never got a job and the cause says so
    bundle = escalation_of(result)
    assert bundle["cause"] == "never_assigned"
    assert bundle["job_states"] == []
    assert bundle["attempts"] == 2
    assert sim.max_live_dispatches("room-none", "unregistered-agent") == 1


def test_room_is_created_first_when_the_server_does_not_auto_create(
    clock: VirtualClock, engine: LocalEngine, sim: LiveKitSimulator
) -> None:
    # Given a server that answers not_found to a dispatch for a missing room
    sim.auto_create = False
    sim.set_agent("fast-agent", "warm")

    # When a dispatch is verified with room creation on (the default)
    result = engine.run(request("room-not-auto", "fast-agent"))

    # Then the room was created before the dispatch and the agent is verified
    assert result.status == "SUCCEEDED", result.cause
    assert "room-not-auto" in sim.room_names()
    assert sim.max_live_dispatches("room-not-auto", "fast-agent") == 1


def test_missing_room_without_room_creation_escalates_room_missing(
    engine: LocalEngine, sim: LiveKitSimulator
) -> None:
    # Given a server without automatic room creation
    sim.auto_create = False
    sim.set_agent("fast-agent", "warm")

    # When a dispatch is verified with room creation off
    result = engine.run(request("room-absent", "fast-agent", create_room=False))

    # Then LiveKit's not_found is escalated as room_missing, with LiveKit's answer in the bundle
    bundle = escalation_of(result)
    assert bundle["cause"] == "room_missing"
    assert bundle["last_error"]["code"] == "not_found"
    assert bundle["last_error"]["status"] == 404
    assert sim.max_live_dispatches("room-absent", "fast-agent") == 0


def test_wrong_api_secret_escalates_auth_without_retrying(clock: VirtualClock, sim: LiveKitSimulator) -> None:
    # Given credentials LiveKit rejects
    sim.set_agent("fast-agent", "warm")
    wrong = {"url": sim.url, "api_key": sim.api_key, "api_secret": "not-the-secret"}

    # When a dispatch is verified
    with LocalEngine(clock, wrong) as engine:
        result = engine.run(request("room-auth", "fast-agent"))
        lambda_output = "\n".join(engine.lambda_output)

    # Then it escalates auth after exactly one LiveKit call, and the secret appears nowhere
    bundle = escalation_of(result)
    assert bundle["cause"] == "auth"
    assert bundle["last_error"]["status"] == 401
    assert len(sim.calls) == 1
    assert "not-the-secret" not in (result.cause or "")
    assert "not-the-secret" not in lambda_output
    assert sim.max_live_dispatches("room-auth", "fast-agent") == 0


def test_503_burst_shorter_than_the_retry_budget_is_absorbed(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given LiveKit answering 503 to the next three CreateDispatch calls
    sim.set_agent("fast-agent", "warm")
    sim.inject_fault("CreateDispatch", "unavailable", count=3)

    # When a dispatch is verified
    result = engine.run(request("room-503", "fast-agent"))

    # Then the state machine retried the step and the agent is verified with a single dispatch
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["attempts"] == 1
    create_calls = [code for method, code, _ in sim.calls if method == "CreateDispatch"]
    assert create_calls == ["unavailable", "unavailable", "unavailable", "ok"]
    assert sim.max_live_dispatches("room-503", "fast-agent") == 1


def test_agent_that_joins_then_leaves_is_redispatched_and_never_counts(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent that leaves one second after joining, between two polls
    sim.set_agent("flaky-agent", "leave:1")

    # When a dispatch is verified
    result = engine.run(request("room-leave", "flaky-agent", max_attempts=2))

    # Then the departed agent never verified it: re-dispatched, then escalated joined_then_left
    bundle = escalation_of(result)
    assert bundle["cause"] == "joined_then_left"
    assert bundle["attempts"] == 2
    assert sim.max_live_dispatches("room-leave", "flaky-agent") == 1


def test_agent_of_another_name_in_the_room_does_not_verify(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a room where only an agent of another name is present, and no worker for ours
    sim.set_agent("wanted-agent", "none")
    sim.add_participant(
        "room-other",
        "agent-other",
        kind="AGENT",
        attributes={"lk.agent.name": "other-agent", "lk.agent_name": "other-agent"},
    )

    # When a dispatch of our agent is verified
    result = engine.run(request("room-other", "wanted-agent", join_timeout_s=6, max_attempts=1))

    # Then it is not verified, and the other agent is in the evidence
    bundle = escalation_of(result)
    assert bundle["cause"] == "never_assigned"
    assert [p["agent_name"] for p in bundle["participants"]] == ["other-agent"]
    assert sim.max_live_dispatches("room-other", "wanted-agent") == 1


def test_malformed_input_escalates_invalid_request_without_calling_livekit(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a request whose agent name is empty
    # When it is started
    result = engine.run({"room": "room-bad", "agent_name": ""}, name="bad-input")

    # Then it escalates invalid_request naming the field, and LiveKit was never called
    bundle = escalation_of(result)
    assert bundle["cause"] == "invalid_request"
    assert "agent_name" in bundle["last_error"]["message"]
    assert bundle["request_id"] == "bad-input"
    assert sim.calls == []


def failed_states(result: ExecutionResult) -> set[str]:
    """The states in which a task failed (retried or caught)."""
    failed, current = set(), ""
    for event in result.history:
        current = (event.get("stateEnteredEventDetails") or {}).get("name", current)
        if event["type"] == "TaskFailed":
            failed.add(current)
    return failed


def test_a_failed_escalation_still_records_the_original_cause(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent with no worker, and the escalation topic gone (SNS refuses to publish)
    sim.set_agent("absent-agent", "none")
    assert engine.stack is not None
    engine.session.client("sns").delete_topic(TopicArn=engine.stack.refs["EscalationTopic"])

    # When a dispatch is verified with one short attempt
    result = engine.run(request("room-no-topic", "absent-agent", join_timeout_s=6, max_attempts=1))

    # Then the page failed, yet the recorded outcome keeps the cause the workflow found, not the
    # page's own failure
    assert "Page on-call" in failed_states(result)
    bundle = escalation_of(result)
    assert bundle["cause"] == "never_assigned"


def test_a_dispatch_that_lands_late_is_deleted_before_its_agent_can_join_as_a_second_one(
    clock: VirtualClock, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent asleep for 12 s, and 4 s after the workflow's dispatch a second dispatch of the
    # same agent and metadata appears (a CreateDispatch whose reply was lost, taking effect late)
    sim.set_agent("late-agent", "wake:12")
    with dispatch_landing_late(clock, sim, "room-late", "late-agent", after_s=4) as landed:
        # When the workflow verifies the agent (polling every 3 s)
        result = engine.run(request("room-late", "late-agent"), name="late-1")

    # Then the late dispatch was deleted at the next check, the agent verified on the workflow's own
    # dispatch, and the room never held two agents of that name
    assert result.status == "SUCCEEDED", result.cause
    assert landed, "the late dispatch never landed"
    live = {d.id for d in sim.live_dispatches("room-late", "late-agent")}
    assert landed[0] not in live
    assert sim.max_agents("room-late", "late-agent") == 1
