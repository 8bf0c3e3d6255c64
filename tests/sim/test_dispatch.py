"""AgentDispatchService through the official Python client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit import api

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator

from .helpers import dispatch, list_dispatch, lk, participants, server_error

JS_RUNNING, JS_SUCCESS = api.JobStatus.JS_RUNNING, api.JobStatus.JS_SUCCESS


def test_create_dispatch_returns_at_once_with_no_jobs(sim: LiveKitSimulator, clock: VirtualClock) -> None:
    # When a warm agent is dispatched
    d = dispatch(sim, "call-1", "warm-agent", metadata='{"caller": "+1555"}')
    # Then the dispatch comes back accepted, before any worker: AD_ id, no jobs, created_at in ns
    assert d.id.startswith("AD_") and len(d.id) == 15
    assert (d.agent_name, d.room, d.metadata) == ("warm-agent", "call-1", '{"caller": "+1555"}')
    assert list(d.state.jobs) == []
    assert d.state.created_at == round(clock.now() * 1e9)


def test_create_dispatch_creates_the_missing_room_when_auto_create_is_on(sim: LiveKitSimulator) -> None:
    # When an agent is dispatched to a room that does not exist
    dispatch(sim, "fresh", "warm-agent")
    # Then the room exists
    assert sim.room_names() == ["fresh"]


def test_dispatch_calls_on_a_missing_room_answer_not_found_when_auto_create_is_off(
    make_sim: Callable[..., LiveKitSimulator],
) -> None:
    # Given a server that does not create rooms automatically
    sim = make_sim(agents={"a": "warm"}, auto_create=False)
    req = api.CreateAgentDispatchRequest(agent_name="a", room="nope")
    # When an agent is dispatched to a missing room
    err = server_error(sim, lambda c: c.agent_dispatch.create_dispatch(req))
    # Then: not_found, "requested room does not exist", and no room was made
    assert (err.code, err.status, err.message) == ("not_found", 404, "requested room does not exist")
    assert sim.room_names() == []
    assert server_error(sim, lambda c: c.agent_dispatch.list_dispatch("nope")).code == "not_found"


def test_every_create_dispatch_makes_a_new_dispatch(sim: LiveKitSimulator) -> None:
    # When the same dispatch is sent twice (a naive retry)
    first = dispatch(sim, "call-1", "warm-agent")
    second = dispatch(sim, "call-1", "warm-agent")
    # Then there are two dispatches, and later two agents
    assert first.id != second.id
    assert {d.id for d in list_dispatch(sim, "call-1")} == {first.id, second.id}
    assert sim.max_live_dispatches("call-1", "warm-agent") == 2


def test_get_dispatch_returns_one_dispatch_or_none(sim: LiveKitSimulator) -> None:
    # Given two dispatches
    d = dispatch(sim, "call-1", "warm-agent")
    dispatch(sim, "call-1", "warm-agent")
    # When one is fetched by id, and an unknown id too
    got = lk(sim, lambda c: c.agent_dispatch.get_dispatch(d.id, "call-1"))
    missing = lk(sim, lambda c: c.agent_dispatch.get_dispatch("AD_unknown", "call-1"))
    # Then the right one comes back, and None for the unknown id
    assert got is not None and got.id == d.id
    assert missing is None


def test_list_dispatch_shows_the_job_once_assigned(sim: LiveKitSimulator, clock: VirtualClock) -> None:
    # Given a dispatch to a warm agent
    d = dispatch(sim, "call-1", "warm-agent")
    clock.advance(1)
    # When dispatches are listed
    [listed] = list_dispatch(sim, "call-1")
    # Then it carries one running job with an AJ_ id, a worker and the agent's identity
    [job] = listed.state.jobs
    assert job.id.startswith("AJ_") and job.dispatch_id == d.id and job.agent_name == "warm-agent"
    assert job.state.status == JS_RUNNING and job.state.worker_id.startswith("AW_")
    assert job.state.participant_identity == f"agent-{job.id}"
    assert job.state.started_at == d.state.created_at  # ns, assigned at once


def test_delete_dispatch_ends_the_job_and_the_agent_leaves_within_two_seconds(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given a warm agent in the room
    d = dispatch(sim, "call-1", "warm-agent")
    clock.advance(1)
    assert len(participants(sim, "call-1")) == 1
    # When its dispatch is deleted
    deleted = lk(sim, lambda c: c.agent_dispatch.delete_dispatch(d.id, "call-1"))
    # Then the dispatch comes back marked deleted and is no longer listed
    assert deleted.id == d.id and deleted.state.deleted_at == round(clock.now() * 1e9)
    assert list_dispatch(sim, "call-1") == []
    # And within 2 s the agent has left
    clock.advance(2)
    assert participants(sim, "call-1") == []
    assert sim.max_live_dispatches("call-1", "warm-agent") == 1


def test_delete_dispatch_of_an_unknown_id_answers_not_found(sim: LiveKitSimulator) -> None:
    # Given a room
    dispatch(sim, "call-1", "warm-agent")
    # When an unknown dispatch is deleted
    err = server_error(sim, lambda c: c.agent_dispatch.delete_dispatch("AD_nope", "call-1"))
    # Then: not_found
    assert (err.code, err.status) == ("not_found", 404)


def test_max_live_dispatches_is_a_high_water_mark_of_undeleted_dispatches(sim: LiveKitSimulator) -> None:
    # Given a dispatch replaced properly (delete, then create) and then one duplicated
    first = dispatch(sim, "call-1", "warm-agent")
    lk(sim, lambda c: c.agent_dispatch.delete_dispatch(first.id, "call-1"))
    dispatch(sim, "call-1", "warm-agent")
    assert sim.max_live_dispatches("call-1", "warm-agent") == 1
    dispatch(sim, "call-1", "warm-agent")
    # Then the high-water mark saw two at once; other agents and rooms are counted apart
    assert sim.max_live_dispatches("call-1", "warm-agent") == 2
    assert len(sim.live_dispatches("call-1", "warm-agent")) == 2
    assert sim.max_live_dispatches("call-1", "other") == 0
    assert sim.max_live_dispatches("call-2", "warm-agent") == 0


def test_auto_create_can_be_switched_off_on_a_running_simulator(sim: LiveKitSimulator) -> None:
    # Given a running simulator whose automatic room creation is then switched off
    sim.auto_create = False
    # When an agent is dispatched to a missing room
    err = server_error(
        sim, lambda c: c.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(room="x"))
    )
    # Then: not_found
    assert (err.code, err.message) == ("not_found", "requested room does not exist")


def test_concurrent_dispatches_on_keep_alive_connections_are_all_recorded(sim: LiveKitSimulator) -> None:
    # When 20 dispatches are sent at once through one client session
    async def burst(c: api.LiveKitAPI) -> list[api.AgentDispatch]:
        req = api.CreateAgentDispatchRequest(agent_name="warm-agent", room="call-1")
        return await asyncio.gather(*(c.agent_dispatch.create_dispatch(req) for _ in range(20)))

    made = lk(sim, burst)
    # Then each made its own dispatch, and all 20 were live together
    assert len({d.id for d in made}) == 20
    assert sim.max_live_dispatches("call-1", "warm-agent") == 20
