"""A job's and its agent's lifecycle as LiveKit's: JS_PENDING until a worker takes the job, JS_RUNNING
from then on (before the agent connects), the agent JOINED once connected and ACTIVE once its media is
up; and the behaviours that stop along the way: hang, joined, twin[:S], failover:S."""

from __future__ import annotations

from collections.abc import Callable

from livekit import api

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator

from .helpers import agents_named, dispatch, list_dispatch, lk

JS = api.JobStatus
STATE = api.ParticipantInfo.State
Make = Callable[..., LiveKitSimulator]


def jobs_of(sim: LiveKitSimulator, room: str) -> list[api.Job]:
    [d] = list_dispatch(sim, room)
    return list(d.state.jobs)


def test_a_hung_entrypoint_leaves_the_job_running_with_no_agent_in_the_room(
    make_sim: Make, clock: VirtualClock
) -> None:
    # Given a worker that takes the job but whose entrypoint hangs before connecting
    sim = make_sim(agents={"a": "hang"})
    t0 = clock.now()
    dispatch(sim, "call-1", "a")
    sim.add_participant("call-1", "caller")  # keeps the room open

    # When two minutes pass
    clock.advance(120)

    # Then the job is JS_RUNNING, taken by a worker, named for the identity its agent would have
    [job] = jobs_of(sim, "call-1")
    assert job.state.status == JS.JS_RUNNING
    assert job.state.worker_id.startswith("AW_")
    assert job.state.participant_identity == f"agent-{job.id}"
    assert job.state.started_at == round(t0 * 1e9)
    # And no agent ever connected
    assert agents_named(sim, "call-1", "a") == []


def test_an_agent_that_stays_joined_is_in_the_room_but_never_active_and_sends_no_join_webhook(
    make_sim: Make, clock: VirtualClock
) -> None:
    # Given an agent that connects but whose media never comes up, and a webhook receiver
    sim = make_sim(agents={"a": "joined"})
    received: list[str] = []
    sim.set_webhook(lambda body, headers: received.append(body))
    dispatch(sim, "call-1", "a")

    # When a minute passes
    clock.advance(60)

    # Then the agent is in the room, JOINED, its job running
    [agent] = agents_named(sim, "call-1", "a")
    assert agent.state == STATE.JOINED
    [job] = jobs_of(sim, "call-1")
    assert job.state.status == JS.JS_RUNNING and agent.identity == job.state.participant_identity
    # And LiveKit's participant_joined (sent on becoming ACTIVE) never came
    assert [r.event for r in sim.webhooks] == ["room_started"]


def test_two_agents_of_one_name_join_the_room_s_seconds_apart(make_sim: Make, clock: VirtualClock) -> None:
    # Given a name whose dispatch brings two agents, the second 2 s after the first
    sim = make_sim(agents={"a": "twin:2"})
    t0 = clock.now()
    dispatch(sim, "call-1", "a")

    # When the first has joined, and then the second
    clock.advance(0.3)
    first = agents_named(sim, "call-1", "a")
    clock.advance(2)
    both = agents_named(sim, "call-1", "a")

    # Then one agent was there, then two, each of its own running job, ACTIVE
    assert len(first) == 1 and len(both) == 2
    jobs = jobs_of(sim, "call-1")
    assert [j.state.status for j in jobs] == [JS.JS_RUNNING, JS.JS_RUNNING]
    assert {p.identity for p in both} == {j.state.participant_identity for j in jobs}
    assert sorted(p.joined_at_ms for p in both) == [int((t0 + 0.3) * 1000), int((t0 + 2.3) * 1000)]
    assert {p.state for p in both} == {STATE.ACTIVE}
    assert sim.max_agents("call-1", "a") == 2


def test_a_failed_job_is_followed_by_a_pending_one_on_the_same_dispatch_whose_agent_then_joins(
    make_sim: Make, clock: VirtualClock
) -> None:
    # Given a worker that dies on the first job; LiveKit offers the dispatch again, taken 5 s later
    sim = make_sim(agents={"a": "failover:5"})
    dispatch(sim, "call-1", "a")

    # When 4 s have passed
    clock.advance(4)

    # Then the dispatch has the failed job and a pending one, and no agent
    failed, pending = jobs_of(sim, "call-1")
    assert failed.state.status == JS.JS_FAILED and failed.state.error
    assert pending.state.status == JS.JS_PENDING and pending.state.participant_identity == ""
    assert agents_named(sim, "call-1", "a") == []

    # When the second job is taken and its agent joins (5 s, then 0.3 s)
    clock.advance(1.3)

    # Then the second job runs and its agent is in the room
    failed, running = jobs_of(sim, "call-1")
    assert failed.state.status == JS.JS_FAILED and running.state.status == JS.JS_RUNNING
    [agent] = agents_named(sim, "call-1", "a")
    assert agent.identity == running.state.participant_identity


def test_a_warm_agent_is_active_as_it_joins_so_its_webhook_comes_at_the_join(
    make_sim: Make, clock: VirtualClock
) -> None:
    # Given a warm agent and a webhook receiver
    sim = make_sim(agents={"a": "warm"})
    sim.set_webhook(lambda body, headers: None)
    t0 = clock.now()
    dispatch(sim, "call-1", "a")

    # When it has joined
    clock.advance(0.3)

    # Then it is ACTIVE already and participant_joined was sent at the join
    [agent] = agents_named(sim, "call-1", "a")
    assert agent.state == STATE.ACTIVE
    assert [r.event for r in sim.webhooks] == ["room_started", "participant_joined"]
    assert sim.webhooks[1].created_at == t0 + 0.3


def test_a_pending_job_that_the_worker_has_not_taken_is_cancelled_with_its_dispatch(
    make_sim: Make, clock: VirtualClock
) -> None:
    # Given the failover's second job, still pending
    sim = make_sim(agents={"a": "failover:30"})
    made = dispatch(sim, "call-1", "a")
    sim.add_participant("call-1", "caller")
    clock.advance(1)

    # When the dispatch is deleted before the worker takes it, and the worker's time comes
    lk(sim, lambda c: c.agent_dispatch.delete_dispatch(made.id, "call-1"))
    clock.advance(40)

    # Then the pending job was cancelled, never run, and no agent joined
    jobs = sim.jobs("call-1")
    assert [j.state.status for j in jobs] == [JS.JS_FAILED, JS.JS_CANCELLED]
    assert jobs[1].state.participant_identity == ""
    assert agents_named(sim, "call-1", "a") == []
