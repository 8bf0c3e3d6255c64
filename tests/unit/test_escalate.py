"""Escalate: the evidence bundle, its cause, and its publication to SNS and EventBridge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from dispatch_verify.errors import ConfigurationError, InvalidRequestError, LiveKitPermanentError
from dispatch_verify.handlers import escalate as handler
from dispatch_verify.handlers import record_outcome as record_outcome_handler
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent, redispatch_agent
from dispatch_verify.logic.escalation import escalate
from dispatch_verify.models import StepError, WorkflowState
from dispatch_verify.ports.livekit import Job
from moto import mock_aws

from .conftest import AGENT, ROOM, LambdaContext, a_request, a_state
from .fakes import FakeChannel, FakeLiveKit, FakeTime

SECRET = "lk-api-secret-do-not-leak-0123456789abcdef"


def gave_up(livekit: FakeLiveKit, now: FakeTime) -> WorkflowState:
    """Two attempts whose jobs stayed pending, a caller in the room, check says escalate."""
    state = dispatch_agent(a_state(join_timeout_s=10, max_attempts=2), livekit)
    livekit.add_participant(ROOM, "sip-caller", kind="SIP")
    while True:
        livekit.set_jobs(state.attempts[-1].dispatch_id, Job(f"AJ_{len(state.attempts)}", "JS_PENDING"))
        now.advance(5)
        state = check_participants(state, livekit)
        assert state.check is not None
        if state.check.next == "escalate":
            return state
        if state.check.next == "redispatch":
            state = redispatch_agent(state, livekit)


def caught(error: Exception) -> StepError:
    """What an ASL Catch records for a Lambda function error."""
    payload = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
    return StepError(Error=type(error).__name__, Cause=json.dumps(payload))


def test_bundle_carries_every_dispatch_job_state_and_the_last_participants(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a request that used both attempts without the agent joining
    state = gave_up(livekit, now)
    channel = FakeChannel()

    # When it is escalated
    result = escalate(state, channel)

    # Then one bundle is published with the cause and the evidence, and kept in the state
    (bundle,) = channel.published
    assert result.escalation == bundle
    assert bundle.cause == "not_joined"
    assert bundle.request_id == "exec-0001" and (bundle.room, bundle.agent_name) == (ROOM, AGENT)
    assert bundle.attempts == 2
    assert [d["dispatch_id"] for d in bundle.dispatches] == [a.dispatch_id for a in state.attempts]
    assert all(d["created_at"].endswith("Z") for d in bundle.dispatches)
    assert [j.job_id for j in bundle.job_states] == ["AJ_1", "AJ_2"]
    assert [p.identity for p in bundle.participants] == ["sip-caller"]


def test_caught_livekit_error_gives_the_cause_and_keeps_code_message_and_status(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a step that failed with LiveKit refusing the credentials
    state = dispatch_agent(a_state(), livekit)
    error = LiveKitPermanentError.of("auth", "invalid API key", code="unknown", status=401)
    state = state.model_copy(update={"error": caught(error)})

    # When it is escalated
    result = escalate(state, FakeChannel())

    # Then the cause is auth and the LiveKit detail is kept as the last error
    assert result.escalation is not None and result.escalation.cause == "auth"
    assert result.last_error is not None
    assert (result.last_error.code, result.last_error.message, result.last_error.status) == (
        "unknown",
        "invalid API key",
        401,
    )
    assert result.escalation.last_error == result.last_error


def test_lambda_service_error_escalates_as_internal(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a step that failed in the Lambda service, not in our code
    state = a_state().model_copy(
        update={"error": StepError(Error="Lambda.ServiceException", Cause="Rate exceeded")}
    )

    # When it is escalated
    result = escalate(state, FakeChannel())

    # Then the cause is internal and the error name is kept
    assert result.escalation is not None and result.escalation.cause == "internal"
    assert result.last_error is not None and result.last_error.code == "Lambda.ServiceException"


def test_escalation_after_prepare_request_failed_uses_the_raw_input_and_the_execution_name(
    now: FakeTime, lambda_context: LambdaContext, aws: dict[str, str]
) -> None:
    # Given the raw input of a request whose agent name was empty, plus the Catch's error
    error = InvalidRequestError.of(
        "invalid_request", "invalid request: agent_name: String should have at least 1 character"
    )
    raw = {"room": ROOM, "agent_name": "", "metadata": {"k": "v"}, "error": caught(error).model_dump()}

    # When the escalate handler runs in execution "bad-input"
    result = handler.lambda_handler({"state": raw, "execution_name": "bad-input"}, lambda_context)

    # Then the bundle names the execution, the room, and the field at fault
    bundle = result["escalation"]
    assert bundle["request_id"] == "bad-input"
    assert bundle["room"] == ROOM
    assert bundle["cause"] == "invalid_request"
    assert "agent_name" in bundle["last_error"]["message"]
    assert bundle["attempts"] == 0


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An SNS topic and an event bus in moto, each forwarding to an SQS queue we can read."""
    with mock_aws():
        sns, events, sqs = boto3.client("sns"), boto3.client("events"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="dispatch-verify-escalations")["TopicArn"]
        events.create_event_bus(Name="dispatch-verify")
        queues = {}
        for name in ("from-topic", "from-bus"):
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            queues[name] = (url, arn)
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queues["from-topic"][1])
        events.put_rule(
            Name="all", EventBusName="dispatch-verify", EventPattern='{"source":["dispatch-verify"]}'
        )
        events.put_targets(
            Rule="all", EventBusName="dispatch-verify", Targets=[{"Id": "q", "Arn": queues["from-bus"][1]}]
        )
        monkeypatch.setenv("ESCALATION_TOPIC_ARN", topic_arn)
        monkeypatch.setenv("EVENT_BUS_NAME", "dispatch-verify")
        yield {name: url for name, (url, _) in queues.items()}


def received(queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_handler_publishes_the_bundle_to_the_topic_and_the_bus_once_each(
    livekit: FakeLiveKit, now: FakeTime, lambda_context: LambdaContext, aws: dict[str, str]
) -> None:
    # Given a request that gave up
    state = gave_up(livekit, now)

    # When the escalate handler runs
    result = handler.lambda_handler(
        {"state": state.model_dump(mode="json"), "execution_name": "exec-0001"}, lambda_context
    )

    # Then SNS got the bundle with cause and agent attributes, and EventBridge got it as the detail
    (notification,) = received(aws["from-topic"])
    assert json.loads(notification["Message"]) == result["escalation"]
    assert notification["Subject"] == f"Agent not verified: {AGENT} in {ROOM} (not_joined)"
    assert notification["MessageAttributes"]["cause"]["Value"] == "not_joined"
    assert notification["MessageAttributes"]["agent_name"]["Value"] == AGENT
    (event,) = received(aws["from-bus"])
    assert (event["source"], event["detail-type"]) == ("dispatch-verify", "AgentDispatchEscalated")
    assert event["detail"] == result["escalation"]


def test_published_escalation_contains_no_secret_and_no_metadata(
    livekit: FakeLiveKit,
    now: FakeTime,
    lambda_context: LambdaContext,
    aws: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given LiveKit credentials in the environment and private metadata in the request
    monkeypatch.setenv("LIVEKIT_URL", "https://example.livekit.cloud")
    monkeypatch.setenv("LIVEKIT_API_KEY", "APIkey123")
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    state = dispatch_agent(a_state(), livekit)
    error = LiveKitPermanentError.of("auth", "invalid API key", code="unknown", status=401)
    state = state.model_copy(update={"error": caught(error)})

    # When the escalate handler runs
    result = handler.lambda_handler(
        {"state": state.model_dump(mode="json"), "execution_name": "exec-0001"}, lambda_context
    )

    # Then neither the secret nor the caller's number appears in what was published
    published = json.dumps([received(aws["from-topic"]), received(aws["from-bus"]), result["escalation"]])
    assert SECRET not in published
    assert "+4930123456" not in published


def test_handler_without_a_topic_configured_fails_naming_the_variable(
    now: FakeTime, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no escalation topic in the environment
    monkeypatch.delenv("ESCALATION_TOPIC_ARN", raising=False)
    monkeypatch.setenv("EVENT_BUS_NAME", "dispatch-verify")

    # When the escalate handler runs
    with pytest.raises(ConfigurationError) as raised:
        handler.lambda_handler({"state": a_request(), "execution_name": "exec-1"}, lambda_context)

    # Then the error names it
    assert "ESCALATION_TOPIC_ARN" in raised.value.detail.message


def test_outcome_after_a_failed_prepare_request_keeps_the_published_bundle_as_summary(
    now: FakeTime, lambda_context: LambdaContext, aws: dict[str, str]
) -> None:
    # Given the raw input of a malformed request, escalated by the Escalate handler
    error = InvalidRequestError.of(
        "invalid_request", "invalid request: agent_name: String should have at least 1 character"
    )
    raw = {"room": ROOM, "agent_name": "", "error": caught(error).model_dump()}
    escalated = handler.lambda_handler({"state": raw, "execution_name": "bad-input"}, lambda_context)

    # When Record outcome runs on what Escalate returned
    result = record_outcome_handler.lambda_handler(
        {"state": escalated, "execution_name": "bad-input"}, lambda_context
    )

    # Then the Fail state's summary is the bundle that was published
    assert json.loads(result["summary"]) == escalated["escalation"]
    assert result["outcome"]["cause"] == "invalid_request"
