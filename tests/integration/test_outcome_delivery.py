"""Optional delivery of every outcome event to the backend's HTTPS endpoint: an EventBridge API
destination (Connection, ApiDestination, Rule with retries and a dead-letter queue), created from the
template's parameters as CloudFormation would, refused as CloudFormation refuses bad values."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine, TemplateRefused, translate
from tests.integration.conftest import ROOT, request

TEMPLATE = ROOT / "template.yaml"
URL = "https://backend.example.com/dispatch-outcomes"


def test_an_endpoint_without_its_key_or_over_http_is_refused_before_anything_is_created() -> None:
    # A URL without the key: the template's rule refuses it, with its description
    with pytest.raises(TemplateRefused, match="OutcomeWebhookApiKey is required with OutcomeWebhookUrl"):
        translate(TEMPLATE, {"OutcomeWebhookUrl": URL})
    # A plain-http endpoint: the parameter's pattern refuses it
    with pytest.raises(TemplateRefused, match="an https:// URL"):
        translate(
            TEMPLATE, {"OutcomeWebhookUrl": "http://backend.example.com/x", "OutcomeWebhookApiKey": "k"}
        )
    # Without a URL none of it is created: every part hangs on the condition
    plain = translate(TEMPLATE, {})
    parts = [
        r
        for lid, r in plain.template["Resources"].items()
        if str(r["Type"]).startswith("AWS::Events::")
        or (str(r["Type"]).startswith("AWS::SQS::") and lid.startswith("OutcomeDelivery"))
    ]
    assert {r["Type"] for r in parts} >= {
        "AWS::Events::Connection",
        "AWS::Events::ApiDestination",
        "AWS::Events::Rule",
    }
    assert all(r.get("Condition") == "DeliverOutcomes" for r in parts if r["Type"] != "AWS::Events::EventBus")


@pytest.fixture
def delivering(clock: VirtualClock, sim: LiveKitSimulator) -> Iterator[LocalEngine]:
    credentials = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
    parameters = {"OutcomeWebhookUrl": URL, "OutcomeWebhookApiKey": "backend-key-0123"}
    with LocalEngine(clock, credentials, template_path=str(TEMPLATE), parameters=parameters) as local:
        yield local


def test_every_outcome_event_is_routed_to_the_endpoint_with_retries_and_a_dead_letter_queue(
    sim: LiveKitSimulator, delivering: LocalEngine
) -> None:
    # Given the stack deployed with an endpoint, and the rule and its target as EventBridge holds them
    assert delivering.stack is not None
    events = delivering.session.client("events")
    bus = delivering.stack.refs["EscalationBus"]
    rule_name = delivering.stack.refs["OutcomeDeliveryRule"]
    rule = events.describe_rule(Name=rule_name, EventBusName=bus)
    (target,) = events.list_targets_by_rule(Rule=rule_name, EventBusName=bus)["Targets"]
    destination = events.describe_api_destination(Name=delivering.stack.refs["OutcomeApiDestination"])

    # Then the target is the API destination POSTing to the URL, with retries and a dead-letter queue
    assert (destination["InvocationEndpoint"], destination["HttpMethod"]) == (URL, "POST")
    assert target["Arn"] == destination["ApiDestinationArn"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert (
        target["DeadLetterConfig"]["Arn"]
        == delivering.stack.attributes[("OutcomeDeliveryDeadLetters", "Arn")]
    )

    # And when a dispatch is verified and another escalated, the rule's pattern matches both events
    # (read through a queue behind a second rule with the same pattern: EventBridge's own matching)
    sqs = delivering.session.client("sqs")
    url = sqs.create_queue(QueueName="same-pattern")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="same-pattern", EventBusName=bus, EventPattern=rule["EventPattern"])
    events.put_targets(Rule="same-pattern", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    sim.set_agent("warm-agent", "warm")
    sim.set_agent("absent-agent", "none")
    delivering.run(request("room-deliver-ok", "warm-agent"), name="deliver-ok")
    delivering.run(
        request("room-deliver-esc", "absent-agent", join_timeout_s=6, max_attempts=1), name="deliver-esc"
    )
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    matched = sorted(
        (json.loads(m["Body"])["detail-type"], json.loads(m["Body"])["detail"]["request_id"])
        for m in messages
    )
    assert matched == [("AgentDispatchEscalated", "deliver-esc"), ("AgentDispatchVerified", "deliver-ok")]
