"""Fault injection: Twirp errors and latency for the next calls of one method."""

from __future__ import annotations

import pytest
from livekit import api

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator

from .helpers import dispatch, list_dispatch, server_error


def create(room: str) -> api.CreateAgentDispatchRequest:
    return api.CreateAgentDispatchRequest(agent_name="warm-agent", room=room)


def test_injected_fault_fails_the_next_count_calls_then_answers_normally(sim: LiveKitSimulator) -> None:
    # Given two injected unavailable faults on CreateDispatch
    sim.inject_fault("CreateDispatch", "unavailable", count=2)
    # When it is called three times
    errors = [server_error(sim, lambda c: c.agent_dispatch.create_dispatch(create("r"))) for _ in range(2)]
    d = dispatch(sim, "r", "warm-agent")
    # Then two calls fail with 503 unavailable, the third succeeds, and only it made a dispatch
    assert [(e.code, e.status, e.message) for e in errors] == [
        ("unavailable", 503, "no response from servers")
    ] * 2
    assert [x.id for x in list_dispatch(sim, "r")] == [d.id]
    assert [c[1:] for c in sim.calls if c[0] == "CreateDispatch"] == [("unavailable", 503)] * 2 + [
        ("ok", 200)
    ]


def test_injected_fault_applies_only_to_its_method(sim: LiveKitSimulator) -> None:
    sim.inject_fault("ListParticipants", "internal", message="boom")
    dispatch(sim, "r", "warm-agent")  # unaffected
    err = server_error(sim, lambda c: c.room.list_participants(api.ListParticipantsRequest(room="r")))
    assert (err.code, err.status, err.message) == ("internal", 500, "boom")


def test_latency_only_fault_advances_the_clock_then_answers(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given 2 s of latency on CreateDispatch
    t0 = clock.now()
    sim.inject_fault("CreateDispatch", None, latency_s=2.0)
    # When it is called
    d = dispatch(sim, "r", "warm-agent")
    # Then it succeeds, created 2 s later on the clock
    assert clock.now() == t0 + 2.0
    assert d.state.created_at == round((t0 + 2.0) * 1e9)


def test_applied_fault_takes_effect_although_the_caller_sees_an_error(sim: LiveKitSimulator) -> None:
    # Given a lost reply: the dispatch is made but the caller gets deadline_exceeded
    sim.inject_fault("CreateDispatch", "deadline_exceeded", applied=True)
    err = server_error(sim, lambda c: c.agent_dispatch.create_dispatch(create("r")))
    # When the caller naively retries
    dispatch(sim, "r", "warm-agent")
    # Then two dispatches are live
    assert (err.code, err.status) == ("deadline_exceeded", 504)
    assert sim.max_live_dispatches("r", "warm-agent") == 2


@pytest.mark.parametrize(
    ("code", "latency_s", "count"), [("no_such_code", 0.0, 1), (None, 0.0, 1), ("internal", 0.0, 0)]
)
def test_inject_fault_rejects_bad_arguments(
    sim: LiveKitSimulator, code: str | None, latency_s: float, count: int
) -> None:
    with pytest.raises(ValueError):
        sim.inject_fault("CreateDispatch", code, count=count, latency_s=latency_s)
