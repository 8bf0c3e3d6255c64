"""A crowded room must not make the state grow with it: Step Functions refuses a state over 256 KB
(States.DataLimitExceeded, which no States.ALL catch sees), so a check keeps the agents and a capped
list of names, and counts the rest."""

from __future__ import annotations

import json

from dispatch_verify.logic.participants import seen
from dispatch_verify.models import MAX_PARTICIPANTS_SEEN, Check
from dispatch_verify.ports.livekit import Participant


def crowd(listeners: int) -> list[Participant]:
    people = [
        Participant(
            identity=f"listener-{i:04d}-{'x' * 22}", kind="STANDARD", state="ACTIVE", joined_at=1.0 + i
        )
        for i in range(listeners)
    ]
    caller = Participant(identity="callee", kind="SIP", state="ACTIVE", joined_at=5_000.0)
    agent = Participant(
        identity="agent-AJ_1",
        kind="AGENT",
        state="ACTIVE",
        attributes={"lk.agent.name": "a"},
        joined_at=9_000.0,
    )
    return [*people, caller, agent]


def test_a_check_keeps_the_agents_and_callers_first_and_counts_everyone() -> None:
    # Given 1,700 listeners with 36-character identities, a SIP caller and the agent, who joined last
    kept = seen(crowd(1_700))

    # Then the agent and the caller are kept, the list is capped, and the counts are complete
    names = [p.identity for p in kept["participants"]]
    assert names[:2] == ["agent-AJ_1", "callee"]
    assert len(names) == MAX_PARTICIPANTS_SEEN
    assert kept["participants_total"] == 1_702
    assert kept["participants_by_kind"] == {"STANDARD": 1_700, "SIP": 1, "AGENT": 1}


def test_a_check_of_any_crowd_stays_a_few_kilobytes() -> None:
    # Given checks of ever larger crowds
    sizes = [
        len(
            json.dumps(
                Check(next="wait", checked_at="2027-01-15T08:00:00.000Z", **seen(crowd(n))).model_dump()
            )
        )
        for n in (10, 1_700, 20_000)
    ]

    # Then beyond the cap only the counts' digits grow: a few kilobytes, against the state's 256 KB
    assert sizes[0] < sizes[1]
    assert sizes[2] - sizes[1] < 16 and sizes[2] < 8_000
