"""Every outcome announced once per channel, however AWS made the steps retry.

"Page on-call" (SNS, escalations only) and "Announce outcome" (EventBridge, every outcome) are service
integration states of their own, each with its own Retry; the faults are AWS's own answers, injected
between the clients and moto (local_engine/aws_faults.py) and counted only when a request received them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs

from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, LocalEngine
from tests.integration.conftest import escalation_of, request

EVENT_DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def conforms(event: dict[str, Any]) -> None:
    """The event is what docs/events/<detail-type>.schema.json promises integrators."""
    schema = json.loads((EVENT_DOCS / f"{event['detail-type']}.schema.json").read_text())
    jsonschema_rs.validate(schema, event)


def entered(result: ExecutionResult, state: str) -> int:
    return result.states_entered().count(state)


def failed_attempts(result: ExecutionResult) -> list[str]:
    return [
        str((event.get("taskFailedEventDetails") or {}).get("error"))
        for event in result.history
        if event["type"] == "TaskFailed"
    ]


def events_of(engine: LocalEngine, request_id: str) -> list[dict[str, Any]]:
    return [e for e in engine.bus_events() if (e.get("detail") or {}).get("request_id") == request_id]


def pages_of(engine: LocalEngine, request_id: str) -> list[dict[str, Any]]:
    return [n for n in engine.notifications() if n["attributes"].get("request_id") == request_id]


def test_a_verified_agent_is_announced_once_with_the_outcome_get_shows(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent
    sim.set_agent("warm-agent", "warm")

    # When a dispatch is verified
    result = engine.run(request("room-verified", "warm-agent"), name="announce-verified")

    # Then one AgentDispatchVerified event carries the execution's outcome and an event id; no page
    assert result.status == "SUCCEEDED", result.cause
    (event,) = events_of(engine, "announce-verified")
    assert (event["source"], event["detail-type"]) == ("dispatch-verify", "AgentDispatchVerified")
    conforms(event)
    detail = dict(event["detail"])
    assert detail.pop("event_id")
    assert detail.pop("evidence") is None
    assert detail == result.output
    assert pages_of(engine, "announce-verified") == []


def test_an_escalation_is_paged_and_announced_once_each_with_one_event_id(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent no worker serves
    sim.set_agent("absent-agent", "none")

    # When a dispatch is verified with one short attempt
    result = engine.run(
        request("room-absent", "absent-agent", join_timeout_s=6, max_attempts=1), name="esc-1"
    )

    # Then one page (attributes to filter and deduplicate on) and one event, with the same event id
    bundle = escalation_of(result)
    (page,) = pages_of(engine, "esc-1")
    (event,) = events_of(engine, "esc-1")
    assert page["attributes"]["cause"] == "never_assigned" == event["detail"]["cause"]
    assert page["attributes"]["agent_name"] == "absent-agent"
    assert page["subject"] == "Agent not verified: absent-agent in room-absent (never_assigned)"
    assert page["message"] == bundle
    assert event["detail-type"] == "AgentDispatchEscalated"
    conforms(event)
    assert page["attributes"]["event_id"] == event["detail"]["event_id"] == bundle["event_id"]
    assert event["detail"]["evidence"] == bundle


def test_eventbridge_failing_after_sns_accepted_does_not_page_twice(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent no worker serves, and EventBridge throttling this request's first two PutEvents
    sim.set_agent("absent-agent", "none")
    engine.aws_faults.inject("eventbridge.PutEvents", "ThrottlingException", 2, match="esc-throttled")

    # When it escalates
    result = engine.run(
        request("room-esc-throttled", "absent-agent", join_timeout_s=6, max_attempts=1), name="esc-throttled"
    )

    # Then "Announce outcome" alone was retried: one page, one event
    escalation_of(result)
    assert len(engine.aws_faults.delivered("esc-throttled")) == 2
    assert failed_attempts(result).count("EventBridge.ThrottlingException") == 2
    assert entered(result, "Page on-call") == 1 and entered(result, "Escalate") == 1
    assert len(pages_of(engine, "esc-throttled")) == 1
    assert len(events_of(engine, "esc-throttled")) == 1


def test_a_failed_entry_answered_with_http_200_is_retried_until_the_event_is_put(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent, and PutEvents answering 200 with FailedEntryCount 1 once
    sim.set_agent("warm-agent", "warm")
    engine.aws_faults.inject("eventbridge.PutEvents", "FailedEntry", 1, match="failed-entry")

    # When a dispatch is verified
    result = engine.run(request("room-failed-entry", "warm-agent"), name="failed-entry")

    # Then the state failed with EventBridge.FailedEntry, was retried, and put the event once
    assert result.status == "SUCCEEDED", result.cause
    assert failed_attempts(result) == ["EventBridge.FailedEntry"]
    assert len(events_of(engine, "failed-entry")) == 1


def test_sns_throttling_is_retried_by_the_page_alone(sim: LiveKitSimulator, engine: LocalEngine) -> None:
    # Given an agent no worker serves, and SNS throttling this request's first page
    sim.set_agent("absent-agent", "none")
    engine.aws_faults.inject("sns.Publish", "Throttled", 1, match="esc-sns")

    # When it escalates
    result = engine.run(
        request("room-esc-sns", "absent-agent", join_timeout_s=6, max_attempts=1), name="esc-sns"
    )

    # Then the page was retried by its own state and sent once
    escalation_of(result)
    assert "SNS.ThrottledException" in failed_attempts(result)
    assert entered(result, "Escalate") == 1
    assert len(pages_of(engine, "esc-sns")) == 1
    assert len(events_of(engine, "esc-sns")) == 1


def test_a_lost_sns_reply_pages_twice_with_one_event_id_to_drop_the_repeat(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent no worker serves, and SNS accepting the first page but answering an error
    sim.set_agent("absent-agent", "none")
    engine.aws_faults.inject("sns.Publish", "InternalError", 1, match="esc-lost", applied=True)

    # When it escalates
    result = engine.run(
        request("room-esc-lost", "absent-agent", join_timeout_s=6, max_attempts=1), name="esc-lost"
    )

    # Then the retried page repeats the message, as SNS's at-least-once delivery may: both carry the
    # same event id, by which the subscriber drops the repeat
    escalation_of(result)
    pages = pages_of(engine, "esc-lost")
    assert len(pages) == 2
    assert len({p["attributes"]["event_id"] for p in pages}) == 1
    assert len(events_of(engine, "esc-lost")) == 1


def test_an_announcement_that_cannot_be_put_leaves_the_outcome_recorded_and_the_execution_truthful(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent, and EventBridge failing every PutEvents for this request
    sim.set_agent("warm-agent", "warm")
    engine.aws_faults.inject("eventbridge.PutEvents", "InternalException", 10, match="announce-down")

    # When a dispatch is verified
    result = engine.run(request("room-announce-down", "warm-agent"), name="announce-down")

    # Then after its retries (4) the announcement is given up, the verification still stands
    assert result.status == "SUCCEEDED", result.cause
    assert failed_attempts(result).count("EventBridge.InternalException") == 5
    assert len(engine.aws_faults.delivered("announce-down")) == 5
    assert events_of(engine, "announce-down") == []
    assert result.output is not None and result.output["status"] == "verified"


def test_lambda_throttling_and_service_errors_are_retried_by_the_step_that_met_them(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent; Lambda answers TooManyRequests, then ServiceException after running the
    # handler (a lost reply), then SdkClientException, to invokes carrying this request
    sim.set_agent("warm-agent", "warm")
    faults = engine.aws_faults
    faults.inject("lambda.Invoke", "TooManyRequestsException", 1, match="lambda-faults")
    faults.inject("lambda.Invoke", "ServiceException", 1, match="lambda-faults", applied=True)
    faults.inject("lambda.Invoke", "SdkClientException", 1, match="lambda-faults")

    # When a dispatch is verified
    result = engine.run(request("room-lambda-faults", "warm-agent"), name="lambda-faults")

    # Then each error was Step Functions' Lambda.<code>, each retried; one dispatch, one event
    assert result.status == "SUCCEEDED", result.cause
    assert failed_attempts(result) == [
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.SdkClientException",
    ]
    assert result.output is not None and result.output["attempts"] == 1
    assert sim.max_live_dispatches("room-lambda-faults", "warm-agent") == 1
    assert len(events_of(engine, "lambda-faults")) == 1
