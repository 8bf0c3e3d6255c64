"""Test devices the chaos suite aims at one execution: faults for one room, replies held for real
seconds, a revoked API key, recorded tokens, and the most agents of one name in a room at once."""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit import api

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator

from .helpers import KEY, SECRET, dispatch, list_dispatch, lk, server_error


def create(room: str) -> api.CreateAgentDispatchRequest:
    return api.CreateAgentDispatchRequest(agent_name="warm-agent", room=room)


def test_a_fault_aimed_at_a_room_spares_calls_about_other_rooms(sim: LiveKitSimulator) -> None:
    # Given a fault aimed at room "b" only
    sim.inject_fault("CreateDispatch", "unavailable", count=1, room="b")
    # When room "a" and then room "b" dispatch
    dispatch(sim, "a", "warm-agent")
    err = server_error(sim, lambda c: c.agent_dispatch.create_dispatch(create("b")))
    # Then only "b" met it, once
    assert err.code == "unavailable"
    dispatch(sim, "b", "warm-agent")
    assert [c[1] for c in sim.calls if c[0] == "CreateDispatch"] == ["ok", "unavailable", "ok"]


def test_create_room_faults_match_the_room_by_its_name(sim: LiveKitSimulator) -> None:
    sim.inject_fault("CreateRoom", "internal", room="x")
    lk(sim, lambda c: c.room.create_room(api.CreateRoomRequest(name="y")))
    err = server_error(sim, lambda c: c.room.create_room(api.CreateRoomRequest(name="x")))
    assert err.code == "internal"


def test_clear_faults_drops_those_of_one_room(sim: LiveKitSimulator) -> None:
    sim.inject_fault("CreateDispatch", "unavailable", count=5, room="a")
    sim.inject_fault("CreateDispatch", "internal", count=1, room="b")
    sim.clear_faults("a")
    dispatch(sim, "a", "warm-agent")
    assert server_error(sim, lambda c: c.agent_dispatch.create_dispatch(create("b"))).code == "internal"


def test_a_held_reply_times_the_client_out_yet_the_call_took_effect(sim: LiveKitSimulator) -> None:
    # Given CreateDispatch answering 0.6 real seconds late, and a client that waits 0.2 s
    sim.inject_fault("CreateDispatch", None, hold_s=0.6)

    async def go() -> None:
        async with api.LiveKitAPI(sim.url, KEY, SECRET) as client:
            await asyncio.wait_for(client.agent_dispatch.create_dispatch(create("r")), 0.2)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(go())
    # Then the client gave up, but LiveKit made the dispatch
    assert time.monotonic() - started < 0.6
    assert len(list_dispatch(sim, "r")) == 1


def test_a_revoked_key_is_refused_from_its_revocation_time(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given the key revoked 5 s from now
    sim.revoke_api_key(at=clock.now() + 5)
    dispatch(sim, "r", "warm-agent")  # still valid
    clock.advance(5)
    # Then LiveKit answers as for an unknown key: plain-text 401 (the client reports code "unknown")
    err = server_error(sim, lambda c: c.agent_dispatch.list_dispatch("r"))
    assert err.status == 401
    assert ("ListDispatch", "unauthenticated", 401) in sim.calls
    # And restored, it works again
    sim.restore_api_key()
    assert len(list_dispatch(sim, "r")) == 1


def test_recorded_tokens_are_the_bearer_tokens_the_client_sent(sim: LiveKitSimulator) -> None:
    assert sim.tokens == set()
    sim.record_tokens()
    dispatch(sim, "r", "warm-agent")
    assert len(sim.tokens) == 1
    assert all(token.count(".") == 2 for token in sim.tokens)


def test_max_agents_counts_agents_of_one_name_present_at_once(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    named = {"lk.agent.name": "warm-agent"}
    # Given two dispatches of a warm agent (so two agents join), and another agent name
    dispatch(sim, "r", "warm-agent")
    dispatch(sim, "r", "warm-agent")
    sim.add_participant("r", "other", kind="AGENT", attributes={"lk.agent.name": "other-agent"})
    clock.advance(1)
    # Then two of that name were there at once; one of the other
    assert sim.max_agents("r", "warm-agent") == 2
    assert sim.max_agents("r", "other-agent") == 1
    assert sim.max_agents("elsewhere", "warm-agent") == 0
    # And one at a time stays one
    sim.add_participant("s", "a1", kind="AGENT", attributes=named)
    sim.remove_participant("s", "a1")
    sim.add_participant("s", "a2", kind="AGENT", attributes=named)
    assert sim.max_agents("s", "warm-agent") == 1
