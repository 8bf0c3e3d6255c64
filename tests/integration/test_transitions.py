"""What a verified dispatch costs: Step Functions Standard bills every state entered (issue 6).

With LiveKit webhooks the wait for a cold-starting agent is one "Await agent" ended by the agent's
participant_joined, however long the agent sleeps (up to the webhook backstop; a job LiveKit refuses
at once, which sends no webhook, is seen by the look "Await agent" makes right after recording its
wait: issue 13); the deciding step records the outcome and the announcement ends the execution (issue
14: 5 states). Without webhooks the workflow polls at the poll interval. Either way no wait runs past
the join deadline. Real ASL, real handlers, the simulator on virtual time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, LocalApi, LocalEngine
from tests.integration.conftest import escalation_of, request

# A warm agent or a cold start alike: the join webhook ends the first wait.
VERIFIED_WITH_WEBHOOKS = [
    "Dispatch agent",
    "Await agent",
    "Check participants",
    "Agent joined?",
    "Announce agent verified",
]
# A poll cycle (no webhooks): what each look that finds nobody costs.
POLL_CYCLE = ["Await agent", "Check participants", "Agent joined?"]


@pytest.fixture
def livekit_webhooks() -> str:
    """This module's simulator sends its webhooks to the stack: the stack expects them."""
    return "Enabled"


@pytest.fixture
def webhooks(sim: LiveKitSimulator, engine: LocalEngine) -> Iterator[LiveKitSimulator]:
    """The simulator, its webhooks delivered to the API function's POST /livekit/webhook."""
    sim.set_webhook(LocalApi(engine).deliver_webhook)
    yield sim
    sim.set_webhook(None)


def waits_s(result: ExecutionResult) -> list[int]:
    """The seconds each wait was given ("Await agent"'s timeout, or "Wait for agent"), in order."""
    found = []
    for event in result.history:
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") in ("Await agent", "Wait for agent"):
            found.append(json.loads(details["input"])["wait_s"])
    return found


def test_with_webhooks_a_10_s_and_a_20_s_cold_start_enter_the_same_five_states(
    webhooks: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given agents asleep for 10 s and for 20 s, webhooks delivered, the default options
    counts = {}
    for cold_start_s in (10, 20):
        agent = f"agent-cold-{cold_start_s}"
        webhooks.set_agent(agent, f"wake:{cold_start_s}")

        # When each dispatch is verified
        result = engine.run(request(f"room-cold-{cold_start_s}", agent))

        # Then it is verified on the first dispatch: one wait ended by the join webhook
        assert result.status == "SUCCEEDED", result.cause
        assert result.output is not None and result.output["attempts"] == 1
        assert result.output["status"] == "verified" and result.output["agent_identity"]
        assert cold_start_s <= result.output["join_latency_s"] < cold_start_s + 1
        assert result.states_entered() == VERIFIED_WITH_WEBHOOKS
        assert waits_s(result) == [45]  # the backstop (the join timeout's): a lost webhook is caught
        counts[cold_start_s] = result.state_transitions()

    # And the cost does not depend on how long the agent slept (issues 6 and 14: equal, at most 6)
    assert counts[10] == counts[20] == len(VERIFIED_WITH_WEBHOOKS) == 5


def test_with_webhooks_a_warm_agent_is_verified_on_the_shortest_path(
    webhooks: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent (it joins within a second of its dispatch)
    webhooks.set_agent("agent-warm", "warm")

    # When its dispatch is verified
    result = engine.run(request("room-warm", "agent-warm"))

    # Then the join webhook (or the look after recording the wait) ended the first wait: 5 states
    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == VERIFIED_WITH_WEBHOOKS
    assert waits_s(result) == [45]


def test_with_webhooks_a_call_adds_only_the_dial(webhooks: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given an agent asleep for 10 s and a call requested once it is verified
    webhooks.set_agent("agent-call", "wake:10")
    payload = {
        **request("room-call", "agent-call"),
        "sip": {"trunk_id": "ST_simtrunk", "call_to": "+15550100123", "participant_identity": "callee"},
    }

    # When the dispatch is verified and the callee dialled
    result = engine.run(payload)

    # Then the path is the verified one to "Agent joined?", then the dial, its record and announcement
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["status"] == "verified"
    assert result.output["sip"]["answered"] is True
    assert result.states_entered() == [
        *VERIFIED_WITH_WEBHOOKS[:4],
        "Dial callee",
        "Record outcome",
        "Announce outcome",
        "Outcome?",
        "Agent verified",
    ]


def test_with_webhooks_expected_but_none_coming_no_wait_outlasts_the_join_deadline(
    engine: LocalEngine, sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given an agent that never joins, webhooks expected (the default) but none delivered
    sim.set_agent("ghost-agent", "never")
    started = clock.now()

    # When one attempt of 45 s is awaited, with a 30 s backstop
    result = engine.run(request("room-ghost", "ghost-agent", max_attempts=1, webhook_backstop_s=30))

    # Then the first look comes after the backstop, the last wait is cut to the 15 s left, and the
    # escalation comes at the deadline, not a backstop later
    assert escalation_of(result)["cause"] == "not_joined"
    assert waits_s(result) == [30, 15]
    assert 45 <= clock.now() - started < 46


@pytest.mark.parametrize("livekit_webhooks", ["Disabled"])
def test_without_webhooks_the_workflow_polls_at_the_poll_interval(
    engine: LocalEngine, sim: LiveKitSimulator, livekit_webhooks: str
) -> None:
    # Given a stack told that LiveKit sends no webhooks, and an agent asleep for 10 s
    sim.set_agent("sleepy-agent", "wake:10")

    # When a dispatch is verified with a 3 s poll interval
    result = engine.run(request("room-poll", "sleepy-agent", poll_interval_s=3))

    # Then every wait lasted the poll interval and ended by its timeout; the fourth look (12 s) found
    # the agent, within one poll interval of its join; each poll cycle costs 3 more states
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["attempts"] == 1
    assert waits_s(result) == [3, 3, 3, 3]
    assert 10 <= result.output["join_latency_s"] < 11
    assert result.states_entered().count("Check participants") == 4
    assert result.state_transitions() == len(VERIFIED_WITH_WEBHOOKS) + 3 * len(POLL_CYCLE)


@pytest.mark.parametrize("livekit_webhooks", ["Disabled"])
def test_without_webhooks_the_last_poll_is_cut_to_the_join_deadline(
    engine: LocalEngine, sim: LiveKitSimulator, clock: VirtualClock, livekit_webhooks: str
) -> None:
    # Given an agent that never joins, polled every 3 s
    sim.set_agent("ghost-agent", "never")
    started = clock.now()

    # When one attempt of 7 s is awaited
    result = engine.run(
        request("room-cut", "ghost-agent", poll_interval_s=3, join_timeout_s=7, max_attempts=1)
    )

    # Then the waits are 3, 3 and the 1 s left, and the escalation comes at the deadline
    assert escalation_of(result)["cause"] == "not_joined"
    assert waits_s(result) == [3, 3, 1]
    assert 7 <= clock.now() - started < 8
