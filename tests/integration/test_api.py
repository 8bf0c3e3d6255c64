"""The API through its real handler (API Gateway proxy events), on the local engine and the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalEngine
from tests.integration.api_helpers import Answer, a_dispatch, follow, via_handler

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(engine: LocalEngine) -> LocalApi:
    return LocalApi(engine)


def post(api: LocalApi, payload: Any) -> Answer:
    return via_handler(api, "POST", "/dispatches", payload)


def get(api: LocalApi, request_id: str) -> Answer:
    return via_handler(api, "GET", f"/dispatches/{request_id}")


def ledger_table(engine: LocalEngine) -> tuple[Any, str]:
    """A DynamoDB client (as the tests' administrator) and the ledger table's name."""
    table = engine.function("DispatchApiFunction").environment["LEDGER_TABLE_NAME"]
    return boto3.client("dynamodb", region_name=engine.region), table


def executions(engine: LocalEngine) -> list[dict[str, Any]]:
    return list(engine.sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"])


def test_a_dispatch_is_accepted_and_followed_to_verified(
    api: LocalApi, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When a dispatch is posted and followed
    accepted = post(api, a_dispatch("api-room-1", "fast-agent"))
    request_id = accepted.body["request_id"]
    final = follow(lambda: get(api, request_id))

    # Then it was accepted at once, with a status URL on the stage, and ends verified with the evidence
    assert accepted.status == 202
    assert accepted.body["status"] == "running"
    assert accepted.body["status_url"] == (
        f"https://abc123.execute-api.eu-west-1.amazonaws.com/v1/dispatches/{request_id}"
    )
    assert accepted.headers["Location"] == accepted.body["status_url"]
    assert final.status == 200
    view = final.body
    assert (view["status"], view["room"], view["agent_name"]) == ("verified", "api-room-1", "fast-agent")
    assert view["attempts"] == 1  # a count everywhere (CLI, GET, events); the dispatches are listed
    (attempt,) = view["dispatches"]
    assert attempt["dispatch_id"].startswith("AD_") and attempt["created_at"].endswith("Z")
    assert view["dispatch_id"] == attempt["dispatch_id"]
    assert view["agent_identity"].startswith("agent-AJ_")
    assert 0 < view["join_latency_s"] < 1
    assert view["cause"] is None
    assert [e["name"] for e in executions(engine)] == [request_id]


def test_an_agent_that_never_joins_is_followed_to_escalated_with_its_cause(
    api: LocalApi, sim: LiveKitSimulator
) -> None:
    # Given an agent that accepts dispatches and never joins
    sim.set_agent("ghost-agent", "never")

    # When a dispatch with two attempts is posted and followed
    payload = a_dispatch("api-room-ghost", "ghost-agent")
    payload["options"]["join_timeout_s"] = 3  # fewer checks to wait through: same outcome, less time
    accepted = post(api, payload)
    final = follow(lambda: get(api, accepted.body["request_id"]))

    # Then it ends escalated, naming the cause and both dispatches
    assert final.body["status"] == "escalated"
    assert final.body["cause"] in ("not_joined", "never_assigned")
    assert final.body["attempts"] == len(final.body["dispatches"]) == 2
    assert final.body["join_latency_s"] is None


def test_the_same_idempotency_key_and_body_return_the_same_request_and_start_nothing(
    api: LocalApi, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an accepted dispatch with an idempotency key
    sim.set_agent("fast-agent", "warm")
    payload = a_dispatch("api-room-2", "fast-agent", idempotency_key="order-4711")
    first = post(api, payload)
    follow(lambda: get(api, first.body["request_id"]))

    # When the same body is posted again (keys in another order)
    again = post(api, dict(reversed(list(payload.items()))))

    # Then the answer names the same request, now verified, and only one execution ever ran
    assert again.status == 202
    assert again.body["request_id"] == first.body["request_id"]
    assert again.body["status"] == "verified"
    assert len(executions(engine)) == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(
    api: LocalApi, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an accepted dispatch with an idempotency key
    sim.set_agent("fast-agent", "warm")
    post(api, a_dispatch("api-room-3", "fast-agent", idempotency_key="order-4712"))

    # When the key comes again with another room
    conflict = post(api, a_dispatch("another-room", "fast-agent", idempotency_key="order-4712"))

    # Then it is refused with 409 and nothing else is started
    assert conflict.status == 409
    assert "idempotency_key" in conflict.body["message"]
    assert len(executions(engine)) == 1


def test_a_lost_final_ledger_write_is_repaired_from_the_execution(
    api: LocalApi, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a verified request whose ledger item still says running (its last write was lost)
    sim.set_agent("fast-agent", "warm")
    request_id = post(api, a_dispatch("api-room-5", "fast-agent")).body["request_id"]
    follow(lambda: get(api, request_id))
    # (GET shows the outcome once the deciding step recorded it; the execution ends after its announcement)
    executions = engine.sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    assert [r.status for r in engine.wait_all([e["executionArn"] for e in executions])] == ["SUCCEEDED"]
    dynamodb, table = ledger_table(engine)
    dynamodb.update_item(
        TableName=table,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "running"}},
    )

    # When it is looked up
    answer = get(api, request_id)

    # Then the answer (and the ledger) come from the execution: verified
    assert answer.body["status"] == "verified"
    assert get(api, request_id).body["status"] == "verified"


def with_call(payload: dict[str, Any], number: str) -> dict[str, Any]:
    return {
        **payload,
        "sip": {"trunk_id": "ST_simtrunk", "call_to": number, "participant_identity": "callee"},
    }


def test_a_dispatch_with_a_call_dials_once_verified_and_shows_how_the_call_ended(
    api: LocalApi, sim: LiveKitSimulator
) -> None:
    # Given a warm agent, a callee who answers and one whose line is busy
    sim.set_agent("fast-agent", "warm")
    sim.set_sip_answer("+15550100486", "busy")

    # When two dispatches with a call are posted and followed
    answered_id = post(api, with_call(a_dispatch("api-call-1", "fast-agent"), "+15550100200")).body[
        "request_id"
    ]
    busy_id = post(api, with_call(a_dispatch("api-call-2", "fast-agent"), "+15550100486")).body["request_id"]
    answered = follow(lambda: get(api, answered_id)).body
    busy = follow(lambda: get(api, busy_id)).body

    # Then the answered call is verified with the callee in the room, the busy one escalated with its
    # SIP status, and neither view shows the whole number
    assert answered["status"] == "verified"
    assert answered["sip"]["participant_identity"] == "callee" and answered["sip"]["answered"] is True
    assert "callee" in [p.identity for p in sim.participants("api-call-1")]
    assert (busy["status"], busy["cause"]) == ("escalated", "dial_failed")
    assert (busy["sip"]["sip_status_code"], busy["sip"]["reason"]) == (486, "busy")
    assert "+15550100" not in repr(answered) + repr(busy)


def test_a_call_without_a_trunk_is_refused_naming_the_field(api: LocalApi) -> None:
    # Given a body whose call has no trunk
    payload = a_dispatch("api-call-3", "fast-agent")
    payload["sip"] = {"call_to": "+15550100200", "participant_identity": "callee"}

    # When it is posted
    answer = post(api, payload)

    # Then it is a 422 naming sip.trunk_id
    assert answer.status == 422
    assert [p["field"] for p in answer.body["errors"]] == ["sip.trunk_id"]


def test_a_retry_of_a_request_accepted_before_the_hash_covered_only_what_was_sent_is_no_conflict(
    api: LocalApi, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a request accepted by the previous version, whose ledger item keeps the hash of the
    # workflow input with defaults filled in
    from dispatch_verify.api_models import DispatchCreate
    from dispatch_verify.logic.intake import legacy_body_hash

    sim.set_agent("fast-agent", "warm")
    payload = a_dispatch("api-room-9", "fast-agent", idempotency_key="order-4719")
    first = post(api, payload)
    follow(lambda: get(api, first.body["request_id"]))
    body = DispatchCreate.model_validate(payload)
    legacy = legacy_body_hash(body.workflow_input(), body.idempotency_key)
    dynamodb, table = ledger_table(engine)
    dynamodb.update_item(
        TableName=table,
        Key={"request_id": {"S": first.body["request_id"]}},
        UpdateExpression="SET body_sha256 = :h",
        ExpressionAttributeValues={":h": {"S": legacy}},
    )

    # When the caller retries with the same body after the deploy
    again = post(api, payload)

    # Then it is the same request, not a 409
    assert (again.status, again.body["request_id"]) == (202, first.body["request_id"])
    assert len(executions(engine)) == 1


def test_a_key_reused_after_its_ledger_item_expired_never_reports_another_requests_outcome(
    api: LocalApi, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given a verified request whose ledger item has expired (30 days) while Step Functions still keeps
    # its execution name (90 days)
    sim.set_agent("fast-agent", "warm")
    payload = a_dispatch("api-room-10", "fast-agent", idempotency_key="room-10")
    first = post(api, payload)
    follow(lambda: get(api, first.body["request_id"]))
    dynamodb, table = ledger_table(engine)
    dynamodb.delete_item(TableName=table, Key={"request_id": {"S": first.body["request_id"]}})

    # When the key comes back with another room and agent
    other = post(api, a_dispatch("another-room", "other-agent", idempotency_key="room-10"))

    # Then it is a conflict, nothing starts and no item is left claiming the request
    assert other.status == 409
    assert len(executions(engine)) == 1
    assert "Item" not in dynamodb.get_item(
        TableName=table, Key={"request_id": {"S": first.body["request_id"]}}
    )

    # And the same body again is the same request, followed to its own outcome
    again = post(api, payload)
    assert (again.status, again.body["request_id"]) == (202, first.body["request_id"])
    assert follow(lambda: get(api, first.body["request_id"])).body["status"] == "verified"
    assert len(executions(engine)) == 1
