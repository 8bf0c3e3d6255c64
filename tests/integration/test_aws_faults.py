"""AWS's own faults behind the API and inside the steps: a request the API accepted is never lost, a
throttled start says when to come back, and the SDK and the states' Retry absorb what AWS does under
load. The faults are AWS's answers, injected between the clients and moto (local_engine/aws_faults.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from livekit_sim import LiveKitSimulator
from local_engine import AwsFaults, LocalApi, LocalEngine
from tests.integration.api_helpers import via_handler
from tests.integration.conftest import request


def ledger_item(engine: LocalEngine, request_id: str) -> dict[str, Any] | None:
    table = engine.function("DispatchApiFunction").environment["LEDGER_TABLE_NAME"]
    found = engine.session.client("dynamodb").get_item(
        TableName=table, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )
    return found.get("Item")


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 429), ("ServiceUnavailable", 503)])
def test_a_start_step_functions_refuses_answers_with_retry_after_and_leaves_no_ledger_item(
    sim: LiveKitSimulator, engine: LocalEngine, code: str, status: int
) -> None:
    # Given Step Functions refusing every StartExecution for a while (more than the SDK's retries)
    sim.set_agent("warm-agent", "warm")
    api = LocalApi(engine)
    body = {**request("room-throttled", "warm-agent"), "idempotency_key": "order-4711"}
    engine.aws_faults.inject("sfn.StartExecution", code, 20)

    # When the backend posts a dispatch
    refused = via_handler(api, "POST", "/dispatches", body)

    # Then it is told to come back, and nothing half-accepted is left behind
    assert refused.status == status, refused.body
    assert int(refused.headers["Retry-After"]) >= 1
    assert code in refused.body["message"]
    delivered = len(engine.aws_faults.delivered())
    assert delivered >= 2  # the SDK retried before giving up
    request_id = "order-4711"
    assert ledger_item(engine, request_id) is None

    # And when it sends the same request again once Step Functions is back, it is accepted and runs
    engine.aws_faults.clear()
    accepted = via_handler(api, "POST", "/dispatches", body)
    assert accepted.status == 202, accepted.body
    result = engine.wait(
        engine.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + accepted.body["request_id"]
    )
    assert result.status == "SUCCEEDED"


def test_dynamodb_throttling_in_a_step_is_absorbed_and_the_outcome_recorded_once(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given DynamoDB throttling the ledger writes of this request (a burst the SDK's retries absorb)
    sim.set_agent("warm-agent", "warm")
    engine.aws_faults.inject(
        "dynamodb.UpdateItem", "ProvisionedThroughputExceededException", 3, match="ddb-throttled"
    )

    # When a dispatch is verified
    result = engine.run(request("room-ddb", "warm-agent"), name="ddb-throttled")

    # Then every throttle was delivered, and the outcome stands in the ledger
    assert result.status == "SUCCEEDED", result.cause
    assert len(engine.aws_faults.delivered("ddb-throttled")) == 3
    item = ledger_item(engine, "ddb-throttled")
    assert item is not None and item["status"]["S"] == "verified"


def test_a_fault_is_recorded_only_when_a_request_received_it() -> None:
    # Given faults aimed at a request that never comes, and one at an operation never called
    faults = AwsFaults()
    faults.inject("sns.Publish", "Throttled", 3, match="never-sent")

    # Then nothing is recorded as delivered, and a code AWS does not answer is refused up front
    assert faults.delivered() == []
    with pytest.raises(ValueError, match="unknown AWS error code"):
        faults.inject("sns.Publish", "Throttling", 1)
    with pytest.raises(ValueError, match="PutEvents"):
        faults.inject("sns.Publish", "FailedEntry", 1)


@pytest.fixture
def livekit_webhooks() -> str:
    return "Enabled"  # the join webhook resumes the wait (SendTaskSuccess), the backstop otherwise


def test_a_throttled_send_task_success_in_the_webhook_path_leaves_the_wait_to_its_backstop(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given LiveKit's webhooks wired to the stack, an agent waking after 5 s, and Step Functions
    # throttling every SendTaskSuccess that would resume this request's wait
    sim.set_webhook(LocalApi(engine).deliver_webhook)
    sim.set_agent("sleepy-agent", "wake:5")
    engine.aws_faults.inject("sfn.SendTaskSuccess", "ThrottlingException", 50, match="room-callback")

    # When a dispatch is verified
    result = engine.run(request("room-callback", "sleepy-agent"), name="callback-throttled")

    # Then the throttles were delivered, the wait ended at its timeout, and the agent was verified once
    assert result.status == "SUCCEEDED", result.cause
    assert engine.aws_faults.delivered("room-callback")
    assert result.output is not None and result.output["attempts"] == 1
    item = ledger_item(engine, "callback-throttled")
    assert item is not None and item["status"]["S"] == "verified"
