"""Agent fleet behaviours per agent name: warm, wake:S, never, none, reject, leave:S; and their
registry, ``BEHAVIOURS``, the one place each kind is defined."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import api

from clocks import VirtualClock
from livekit_sim import (
    BEHAVIOURS,
    Behaviour,
    BehaviourKind,
    LiveKitSimulator,
    behaviour_help,
    parse_behaviour,
)
from livekit_sim.agents import Fleet, Worker
from livekit_sim.behaviours import Arg
from livekit_sim.model import Dispatch

from .helpers import agents_named, dispatch, list_dispatch, lk

JS = api.JobStatus
Make = Callable[..., LiveKitSimulator]


def only_job(sim: LiveKitSimulator, room: str) -> api.Job:
    [d] = list_dispatch(sim, room)
    [job] = d.state.jobs
    return job


def test_warm_agent_joins_about_0_3_s_after_the_dispatch(make_sim: Make, clock: VirtualClock) -> None:
    # Given a warm agent
    sim = make_sim(agents={"a": "warm"})
    t0 = clock.now()
    # When it is dispatched
    dispatch(sim, "call-1", "a")
    # Then its job runs at once but the agent is not in the room before 0.3 s
    assert only_job(sim, "call-1").state.status == JS.JS_RUNNING
    assert agents_named(sim, "call-1", "a") == []
    clock.advance(0.3)
    [agent] = agents_named(sim, "call-1", "a")
    # And it is an ACTIVE AGENT named by both attributes, identity agent-<job id>, join times set
    job = only_job(sim, "call-1")
    assert agent.identity == f"agent-{job.id}" == job.state.participant_identity
    assert agent.kind == api.ParticipantInfo.Kind.AGENT and agent.state == api.ParticipantInfo.State.ACTIVE
    assert agent.attributes["lk.agent_name"] == "a" and agent.sid.startswith("PA_")
    assert agent.joined_at == int(t0 + 0.3) and agent.joined_at_ms == int((t0 + 0.3) * 1000)


def test_waking_agent_is_absent_before_s_seconds(make_sim: Make, clock: VirtualClock) -> None:
    # Given an agent that is asleep and wakes 15 s after the first dispatch
    sim = make_sim(agents={"a": "wake:15"})
    dispatch(sim, "call-1", "a")
    # When 14.9 s have passed
    clock.advance(14.9)
    # Then there is no agent, and the dispatch has no job yet
    assert agents_named(sim, "call-1", "a") == []
    assert list(list_dispatch(sim, "call-1")[0].state.jobs) == []


def test_waking_agent_joins_s_seconds_after_the_first_dispatch(make_sim: Make, clock: VirtualClock) -> None:
    # Given an asleep agent (wake:15), dispatched into two rooms 5 s apart
    sim = make_sim(agents={"a": "wake:15"})
    t0 = clock.now()
    dispatch(sim, "call-1", "a")
    clock.advance(5)
    dispatch(sim, "call-2", "a")
    # When 15 s have passed since the first dispatch
    clock.advance(10)
    # Then both agents joined at the wake, first dispatch + 15 s
    for room in ("call-1", "call-2"):
        [agent] = agents_named(sim, room, "a")
        assert agent.joined_at_ms == int((t0 + 15) * 1000)
        assert only_job(sim, room).state.status == JS.JS_RUNNING


def test_woken_agent_stays_warm_then_sleeps_again_after_idle(make_sim: Make, clock: VirtualClock) -> None:
    # Given an agent (wake:10, idle 600 s) woken by a first dispatch
    sim = make_sim(agents={"a": "wake:10"})
    first = dispatch(sim, "call-1", "a")
    clock.advance(10)
    # When its job ends and another dispatch follows 60 s later
    lk(sim, lambda c: c.agent_dispatch.delete_dispatch(first.id, "call-1"))
    clock.advance(60)
    dispatch(sim, "call-2", "a")
    clock.advance(0.3)
    # Then it joins like a warm agent
    assert len(agents_named(sim, "call-2", "a")) == 1
    # And after 600 s without jobs it is asleep again: a new dispatch waits another 10 s
    sim.add_participant("call-3", "caller")
    for d in list_dispatch(sim, "call-2"):
        lk(sim, lambda c, d=d: c.agent_dispatch.delete_dispatch(d.id, "call-2"))
    clock.advance(601)
    dispatch(sim, "call-3", "a")
    clock.advance(9)
    assert agents_named(sim, "call-3", "a") == []
    clock.advance(1)
    assert len(agents_named(sim, "call-3", "a")) == 1


def test_never_agent_gets_a_pending_job_and_never_joins(make_sim: Make, clock: VirtualClock) -> None:
    # Given the sleeping-agent case
    sim = make_sim(agents={"a": "never"})
    dispatch(sim, "call-1", "a")
    sim.add_participant("call-1", "caller")  # keeps the room open
    # When two minutes pass
    clock.advance(120)
    # Then a job exists, still JS_PENDING, and no agent ever joined
    job = only_job(sim, "call-1")
    assert job.state.status == JS.JS_PENDING and job.state.participant_identity == ""
    assert agents_named(sim, "call-1", "a") == []


def test_no_worker_registered_leaves_the_dispatch_without_jobs(make_sim: Make, clock: VirtualClock) -> None:
    # Given no worker for the agent name (default behaviour "none")
    sim = make_sim()
    # When it is dispatched and time passes
    dispatch(sim, "call-1", "unknown-agent")
    clock.advance(60)
    # Then the dispatch is accepted but keeps zero jobs
    [d] = list_dispatch(sim, "call-1")
    assert list(d.state.jobs) == []
    assert agents_named(sim, "call-1", "unknown-agent") == []


def test_rejecting_agent_fails_its_job_for_capacity(make_sim: Make, clock: VirtualClock) -> None:
    # Given a fleet with no capacity
    sim = make_sim(agents={"a": "reject"})
    # When it is dispatched
    dispatch(sim, "call-1", "a")
    clock.advance(1)
    # Then the job failed with a resource_exhausted error, and nobody joined
    job = only_job(sim, "call-1")
    assert job.state.status == JS.JS_FAILED
    assert "resource_exhausted" in job.state.error and "capacity" in job.state.error
    assert job.state.ended_at > 0
    assert agents_named(sim, "call-1", "a") == []


def test_leaving_agent_joins_then_leaves_after_s_seconds(make_sim: Make, clock: VirtualClock) -> None:
    # Given an agent that leaves 5 s after joining
    sim = make_sim(agents={"a": "leave:5"})
    dispatch(sim, "call-1", "a")
    sim.add_participant("call-1", "caller")
    # When it has joined (0.3 s) and then 5 s pass
    clock.advance(0.3)
    assert len(agents_named(sim, "call-1", "a")) == 1
    clock.advance(5)
    # Then it is gone and its job failed with "agent worker left the room"
    assert agents_named(sim, "call-1", "a") == []
    job = only_job(sim, "call-1")
    assert (job.state.status, job.state.error) == (JS.JS_FAILED, "agent worker left the room")


def test_deleting_the_dispatch_of_a_joined_agent_ends_its_job_successfully(
    make_sim: Make, clock: VirtualClock
) -> None:
    # Given a warm agent in the room
    sim = make_sim(agents={"a": "warm"})
    d = dispatch(sim, "call-1", "a")
    clock.advance(1)
    # When the dispatch is deleted and the agent has left
    lk(sim, lambda c: c.agent_dispatch.delete_dispatch(d.id, "call-1"))
    clock.advance(2)
    # Then its job ended JS_SUCCESS (deleted dispatches are not listed; the simulator keeps their jobs)
    [job] = sim.jobs("call-1", "a")
    assert job.dispatch_id == d.id
    assert job.state.status == JS.JS_SUCCESS and job.state.ended_at > job.state.started_at


def test_another_agent_in_the_room_is_not_the_dispatched_one(make_sim: Make, clock: VirtualClock) -> None:
    # Given another agent already present, and a dispatch of an agent that never comes
    sim = make_sim(agents={"mine": "none"})
    sim.add_participant(
        "call-1", "agent-other", kind="AGENT", attributes={"lk.agent.name": "other", "lk.agent_name": "other"}
    )
    dispatch(sim, "call-1", "mine")
    clock.advance(30)
    # Then the room has an agent, but not one named "mine"
    assert len(agents_named(sim, "call-1", "other")) == 1
    assert agents_named(sim, "call-1", "mine") == []


def test_set_agent_changes_the_behaviour_for_later_dispatches(make_sim: Make, clock: VirtualClock) -> None:
    # Given an agent with no worker, then a warm worker registered
    sim = make_sim()
    sim.set_agent("a", "warm")
    # When it is dispatched
    dispatch(sim, "call-1", "a")
    clock.advance(0.3)
    # Then it joins
    assert len(agents_named(sim, "call-1", "a")) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("warm", Behaviour("warm")),
        ("wake:12", Behaviour("wake", 12.0)),
        ("wake:12:30", Behaviour("wake", 12.0, 30.0)),
        (" Never ", Behaviour("never")),
        ("none", Behaviour("none")),
        ("reject", Behaviour("reject")),
        ("leave:2.5", Behaviour("leave", 2.5)),
    ],
)
def test_parse_behaviour_reads_every_kind(text: str, expected: Behaviour) -> None:
    assert parse_behaviour(text) == expected


@pytest.mark.parametrize("text", ["", "sleepy", "wake", "wake:x", "wake:-1", "leave", "warm:3", "leave:1:2"])
def test_parse_behaviour_rejects_bad_text_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="bad behaviour") as caught:
        parse_behaviour(text)
    assert "warm" in str(caught.value)  # the message lists what is allowed


# -- the registry: one place per kind ---------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def grammar_forms(kind: BehaviourKind) -> set[str]:
    """Every way the kind may be written with its labels: ``wake:S`` and ``wake:S:IDLE``."""
    required = [a.label for a in kind.args if a.default is None]
    optional = [a.label for a in kind.args if a.default is not None]
    return {":".join([kind.name, *required, *optional[:n]]) for n in range(len(optional) + 1)}


def test_the_readme_lists_exactly_the_registry_s_behaviours_in_its_order() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The LiveKit simulator", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"Agent behaviours per agent name:(.*?)\.\s", section, re.S)
    assert found, "the simulator section no longer lists the agent behaviours"
    listed = re.findall(r"`([^`]+)`", found.group(1))
    assert [text.split(":")[0] for text in listed] == list(BEHAVIOURS)
    for text in listed:
        assert text in grammar_forms(BEHAVIOURS[text.split(":")[0]]), text


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_every_kind_parses_its_own_text_back_and_has_a_help_line(name: str) -> None:
    kind = BEHAVIOURS[name]
    assert kind.name == name and kind.help and "\n" not in kind.help
    example = kind.make(*[7.5] * len(kind.args))
    assert example.kind == name and example.spec is kind
    assert parse_behaviour(str(example)) == example
    assert f"  {kind.usage} " in behaviour_help()  # the command line's help
    with pytest.raises(ValueError) as caught:
        parse_behaviour("?")
    assert repr(kind.usage) in str(caught.value)  # what a bad text is told


def test_a_behaviour_of_no_registered_kind_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="unknown behaviour kind 'sleepy'"):
        Behaviour("sleepy")


class Late(BehaviourKind):
    """A kind the fleet has never heard of: warm, but its agent joins S seconds after the dispatch."""

    name = "late"
    help = "joins S s after the dispatch"
    args = (Arg("S", "seconds"),)

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.assign(worker, dispatch, t, worker.behaviour.seconds)


def test_a_kind_added_to_the_registry_is_parsed_and_scheduled_without_touching_the_fleet(
    make_sim: Make, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new kind registered, and an agent of that kind
    monkeypatch.setitem(BEHAVIOURS, "late", Late())
    sim = make_sim(agents={"a": "late:4"})
    # When it is dispatched
    dispatch(sim, "call-1", "a")
    # Then the fleet did what the kind says: the agent joins 4 s later, not before
    clock.advance(3.9)
    assert agents_named(sim, "call-1", "a") == []
    clock.advance(0.1)
    assert len(agents_named(sim, "call-1", "a")) == 1
    assert "late:S" in behaviour_help()
