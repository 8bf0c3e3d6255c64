"""The wait resumed by LiveKit webhooks, with polling as the safety net: real ASL, real handlers.

The simulator's webhooks go to the API function's ``POST /livekit/webhook`` (as API Gateway proxy
events), which resumes the "Await agent" task with SendTaskSuccess. Times are the virtual clock's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from livekit.protocol.models import ParticipantInfo, Room

from clocks import VirtualClock
from dispatch_verify_cli import describe
from livekit_sim import LiveKitSimulator, event_body, signed_headers
from local_engine import ExecutionResult, LocalApi, LocalEngine
from tests.integration.conftest import dispatch_landing_late, request

POLL_S = 3


@pytest.fixture
def livekit_webhooks() -> str:
    """This module's simulator sends its webhooks to the stack: the stack expects them."""
    return "Enabled"


@pytest.fixture
def api(engine: LocalEngine) -> LocalApi:
    return LocalApi(engine)


@pytest.fixture
def webhooks(sim: LiveKitSimulator, api: LocalApi) -> Iterator[LiveKitSimulator]:
    """The simulator, sending its webhooks to the API function (set_webhook again to drop some)."""
    sim.set_webhook(api.deliver_webhook)
    yield sim
    sim.set_webhook(None)


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def wakes(result: ExecutionResult) -> list[str]:
    """How each wait ended, in order: "webhook", "look", or the error (States.Timeout, ...)."""
    found = []
    for event in result.history:
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == "Check participants":
            wake = json.loads(details["input"]).get("wake") or {}
            found.append(wake.get("by") or wake.get("Error") or "none")
    return found


def detection_lag_s(result: ExecutionResult) -> float:
    """From the agent's join (LiveKit's joined_at) to the check that saw it."""
    assert result.output is not None, result.cause
    return epoch(result.output["finished_at"]) - epoch(result.output["agent_joined_at"])


def waiting_tokens(engine: LocalEngine) -> list[dict[str, Any]]:
    """The wait items still holding a task token (an item stays, its token is removed once used)."""
    table = engine.function("DispatchAgentFunction").environment["WAIT_TABLE_NAME"]
    items = boto3.client("dynamodb", region_name=engine.region).scan(TableName=table)["Items"]
    return [item for item in items if "task_token" in item]


def test_a_webhook_ends_the_wait_as_soon_as_the_agent_joins(
    webhooks: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent asleep for 10 s, and webhooks delivered
    webhooks.set_agent("sleepy-agent", "wake:10")

    # When a dispatch is verified with a 3 s poll interval
    result = engine.run(request("room-hook", "sleepy-agent", poll_interval_s=POLL_S))

    # Then the participant_joined webhook resumed the wait: the agent was seen within a fraction of a
    # poll interval of its join, on the first dispatch, and no token was left behind
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["attempts"] == 1
    assert wakes(result)[-1] == "webhook"
    assert set(wakes(result)[:-1]) <= {"States.Timeout"}
    assert 0 <= detection_lag_s(result) <= 0.3
    assert waiting_tokens(engine) == []
    assert webhooks.max_live_dispatches("room-hook", "sleepy-agent") == 1
    # And the progress a user sees says so
    lines = [line for event in result.history if (line := describe(event, 0, 0))]
    assert any("awaiting the agent: its join webhook, or a look in 45 s" in line for line in lines)
    assert any("participant_joined webhook for agent-AJ_" in line for line in lines)


def test_with_every_webhook_lost_the_agent_is_still_verified_by_polling(
    webhooks: LiveKitSimulator, engine: LocalEngine, api: LocalApi
) -> None:
    # Given the same sleeping agent, but every webhook dropped
    webhooks.set_webhook(api.deliver_webhook, drop=1.0)
    webhooks.set_agent("sleepy-agent", "wake:10")

    # When a dispatch is verified
    result = engine.run(request("room-lost", "sleepy-agent", poll_interval_s=POLL_S))

    # Then the one wait ended by its timeout, the webhook backstop (45 s by default, the join timeout's:
    # not the poll interval, since webhooks are expected), and the check after it found the agent, in
    # time (at the deadline a present agent is verified): later, still right
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["attempts"] == 1
    assert wakes(result) == ["States.Timeout"]
    assert 0 <= detection_lag_s(result) <= 45 - 10 + 0.2
    assert [r.deliveries for r in webhooks.webhooks] == [0] * len(webhooks.webhooks)
    assert any(r.event == "participant_joined" for r in webhooks.webhooks)


def test_duplicated_webhooks_verify_once(
    webhooks: LiveKitSimulator, engine: LocalEngine, api: LocalApi
) -> None:
    # Given every webhook delivered twice
    webhooks.set_webhook(api.deliver_webhook, duplicate=1.0)
    webhooks.set_agent("sleepy-agent", "wake:5")

    # When a dispatch is verified
    result = engine.run(request("room-twice", "sleepy-agent", poll_interval_s=POLL_S))

    # Then the first delivery resumed the wait and the second found nothing to resume: one verified
    # outcome, one dispatch, no failed step, no token left
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None and result.output["attempts"] == 1
    assert wakes(result)[-1] == "webhook"
    assert not [e for e in result.history if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    joined = [r for r in webhooks.webhooks if r.event == "participant_joined"]
    assert [r.deliveries for r in joined] == [2]
    assert waiting_tokens(engine) == []
    assert webhooks.max_live_dispatches("room-twice", "sleepy-agent") == 1


def test_one_join_webhook_replayed_hundreds_of_times_resumes_the_wait_once(
    webhooks: LiveKitSimulator, engine: LocalEngine, api: LocalApi, clock: VirtualClock
) -> None:
    # Given an agent that never joins, and one validly signed participant_joined of it (a captured
    # delivery, as from a proxy or a log) that is replayed 20 times a second for 15 s (571 times at
    # most) while the workflow waits: its token stays valid for 5 minutes
    webhooks.set_agent("ghost-agent", "never")
    start = clock.now()
    names = {"lk.agent.name": "ghost-agent", "lk.agent_name": "ghost-agent"}
    captured = ParticipantInfo(
        identity="agent-AJ_captured", kind="AGENT", state="ACTIVE", attributes=names, joined_at=int(start) + 1
    )
    body = event_body("participant_joined", Room(name="room-replay", sid="RM_r"), captured, start + 1, "EV_r")
    headers = signed_headers(body, webhooks.api_key, webhooks.api_secret)
    answers: list[int] = []

    def replay(now: float) -> None:
        if start + 1 <= now <= start + 16 and len(answers) < 571:
            answers.extend(api.deliver_webhook(body, headers) for _ in range(20))

    unsubscribe = clock.subscribe(replay)

    # When the agent is awaited for one attempt of 20 s
    try:
        result = engine.run(
            request("room-replay", "ghost-agent", poll_interval_s=POLL_S, join_timeout_s=20, max_attempts=1)
        )
    finally:
        unsubscribe()

    # Then every delivery was answered 200, but only the first one resumed a wait (the workflow cannot
    # tell it from a real join; the check after it found no agent); every later wait ran to its
    # timeout, and the request escalates with the cause the truth says
    assert len(answers) >= 300 and set(answers) == {200}
    assert wakes(result).count("webhook") == 1
    assert set(wakes(result)) == {"webhook", "States.Timeout"}
    assert result.status == "FAILED"
    assert json.loads(result.cause or "{}")["cause"] == "not_joined"


def test_an_agent_of_another_name_joining_does_not_end_the_wait(
    webhooks: LiveKitSimulator, engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given our agent never wakes, and 2 s into the wait an agent of another name joins the room
    webhooks.set_agent("ghost-agent", "never")
    start, joined = clock.now(), []

    def other_agent_joins(now: float) -> None:
        if not joined and now >= start + 2:
            joined.append(now)
            names = {"lk.agent.name": "other-agent", "lk.agent_name": "other-agent"}
            webhooks.add_participant("room-other", "agent-other", kind="AGENT", attributes=names)

    unsubscribe = clock.subscribe(other_agent_joins)

    # When our agent is awaited with one attempt of 6 s
    try:
        result = engine.run(
            request("room-other", "ghost-agent", poll_interval_s=POLL_S, join_timeout_s=6, max_attempts=1)
        )
    finally:
        unsubscribe()

    # Then the other agent's participant_joined was delivered but resumed nothing: every wait ran to
    # its timeout, and the request escalates
    assert joined, "the other agent never joined"
    assert any(r.event == "participant_joined" and r.deliveries == 1 for r in webhooks.webhooks)
    assert result.status == "FAILED"
    assert set(wakes(result)) == {"States.Timeout"}


def test_a_late_dispatch_whose_agent_joined_too_is_deleted_when_the_webhook_verifies(
    clock: VirtualClock, webhooks: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent asleep for 12 s, and 4 s after the workflow's dispatch a second dispatch of the
    # same agent and metadata (a lost CreateDispatch reply taking effect late); no check runs before
    # the join webhook, so both agents join when the worker wakes
    sim = webhooks
    sim.set_agent("late-agent", "wake:12")
    with dispatch_landing_late(clock, sim, "room-late", "late-agent", after_s=4) as landed:
        result = engine.run(request("room-late", "late-agent"), name="late-hook-1")
    clock.advance(5)  # the deleted dispatch's agent leaves within a few seconds

    # Then the check that verified the agent deleted the late dispatch, and the room is left with one
    assert result.status == "SUCCEEDED", result.cause
    assert landed and landed[0] not in {d.id for d in sim.live_dispatches("room-late", "late-agent")}
    agents = [
        p for p in sim.participants("room-late") if p.kind == 4 and p.state != 3
    ]  # AGENT, not DISCONNECTED
    assert len(agents) == 1
    assert agents[0].identity == result.output["agent_identity"]
