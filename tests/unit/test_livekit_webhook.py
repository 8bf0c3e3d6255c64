"""The LiveKit webhook function on SQS batches of its queue, built from its events/ sample's body and
signature (as API Gateway queues a post: the body, and ``Authorization`` as the message attribute
``authorization``), and what it does with a verified join: each event acted on once, only waits
recorded before the join. What can never succeed is dropped (logged, not retried); a record whose
handling failed is reported back alone, as a batch item failure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from dispatch_verify.adapters import livekit_webhook as webhook
from dispatch_verify.adapters.aws.waits import WaitTokens
from dispatch_verify.adapters.aws.webhook_events import EVENT_TTL_S, WebhookEvents
from dispatch_verify.handlers import livekit_webhook
from dispatch_verify.models import WaitItem
from livekit import api
from livekit.protocol.models import ParticipantInfo, Room
from moto import mock_aws

from livekit_sim import event_body, signed_headers
from local_engine import create_table

from .await_write import record_wait
from .conftest import LambdaContext, a_state, load_event
from .fakes import FakeTime
from .test_api_samples import TEMPLATE

KEY, SECRET = "APIkey123", "not-a-real-secret"  # the key pair the sample was signed with
ROOM, AGENT = "support-call-4711", "inbound-agent"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:dispatch-verify-LiveKitWebhookQueue-1A2B3C4D5E6F"
UNSIGNED = "webhook dropped: not signed by this LiveKit project"
MALFORMED = "webhook dropped: signed, but not a WebhookEvent"
TOO_LARGE = "webhook dropped: body too large"
HANDLED = "webhook handled"


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch, now: FakeTime) -> Iterator[tuple[WaitTokens, WebhookEvents]]:
    """The wait table and the webhook's event table from the template, in moto; the function's
    environment (credentials as the environment gives them locally)."""
    monkeypatch.setenv("LIVEKIT_URL", "https://example.livekit.cloud")
    monkeypatch.setenv("LIVEKIT_API_KEY", KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)
    with mock_aws():
        session = boto3.Session()
        waits, events = (
            create_table(TEMPLATE, session, lid) for lid in ("WaitTokenTable", "WebhookEventTable")
        )
        monkeypatch.setenv("WAIT_TABLE_NAME", waits)
        monkeypatch.setenv("WEBHOOK_EVENT_TABLE_NAME", events)
        yield WaitTokens(waits), WebhookEvents(events)


def sample() -> tuple[str, str]:
    """The sample's body and its (long expired) signature, whichever shape the sample has: the post
    API Gateway received, or the SQS event the function is invoked with."""
    event = load_event("livekit_webhook")
    if "Records" in event:
        (record,) = event["Records"]
        return record["body"], record["messageAttributes"]["authorization"]["stringValue"]
    return event["body"], event["headers"]["Authorization"]


def sqs_record(
    body: str, authorization: str | None, message_id: str = "msg-1", receives: int = 1
) -> dict[str, Any]:
    """One message of the webhook queue as Lambda's SQS event carries it."""
    attributes = {}
    if authorization is not None:  # API Gateway's template sets the attribute only for a header
        attributes["authorization"] = {
            "stringValue": authorization,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}==",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receives),
            "SentTimestamp": "1795881612000",
            "SenderId": "AROAEXAMPLE:BackplaneAssumeRoleSession",
            "ApproximateFirstReceiveTimestamp": "1795881612010",
        },
        "messageAttributes": attributes,
        "md5OfBody": hashlib.md5(body.encode("utf-8", "surrogatepass")).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-1",
    }


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def fresh(body: str) -> str:
    """A signature of ``body`` made now (what `sam local invoke` needs: see README)."""
    return signed_headers(body, KEY, SECRET)["Authorization"]


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    """The function's log records with ``message``: their level and fields (Powertools' ``extra``)."""
    return [
        {**vars(record), "level": record.levelname}
        for record in caplog.records
        if record.getMessage() == message
    ]


def test_the_webhook_sample_replayed_later_is_dropped_not_retried(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the captured webhook sample, whose 5-minute signature expired long ago, queued with the
    # key pair it was signed with
    body, authorization = sample()
    _, events = tables

    # When the function runs on it
    answer = livekit_webhook.lambda_handler(batch(sqs_record(body, authorization)), lambda_context)

    # Then it is refused as a replay would be, whatever the body says: dropped with a warning naming
    # the expiry, and not reported as a failure (a retry would not make it valid); nothing was claimed
    assert answer == {"batchItemFailures": []}
    assert "participant_joined" in body
    (dropped,) = logged(caplog, UNSIGNED)
    assert dropped["level"] == "WARNING"
    assert "ExpiredSignatureError" in dropped["reason"]
    assert (dropped["message_id"], dropped["receive_count"]) == ("msg-1", "1")
    assert events.table.scan()["Items"] == []


def test_the_webhook_sample_freshly_signed_is_accepted_once(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the webhook sample's body signed now, and a workflow awaiting the sample's agent in its
    # room, recorded before the join
    tokens, _ = tables
    body, _ = sample()
    tokens.table.put_item(
        Item={
            "room": ROOM,
            "request_id": "req-1",
            "agent_name": AGENT,
            "task_token": "token-1",
            "recorded_at": int(json.loads(body)["createdAt"]),
            "expires_at": 4_000_000_000,
        }
    )
    resumed: list[str] = []
    monkeypatch.setattr(livekit_webhook.waits, "resume", lambda token, output: resumed.append(token) or True)

    # When the function runs on it twice (LiveKit may deliver an event more than once: two messages)
    answers = [
        livekit_webhook.lambda_handler(batch(sqs_record(body, fresh(body), f"msg-{n}")), lambda_context)
        for n in (1, 2)
    ]

    # Then the agent's join resumed the workflow on the first delivery, and the second did nothing;
    # neither is retried
    assert answers == [{"batchItemFailures": []}] * 2
    handled = logged(caplog, HANDLED)
    assert [(h["message_id"], h["event"], h["room"], h["resumed"]) for h in handled] == [
        ("msg-1", "participant_joined", ROOM, 1),
        ("msg-2", "participant_joined", ROOM, 0),
    ]
    assert resumed == ["token-1"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        pytest.param(
            lambda body: sqs_record("\udcff", fresh(body)),  # a non-UTF-8 byte, as surrogateescape reads it
            "",
            id="body-not-text",
        ),
        pytest.param(lambda body: sqs_record(body, None), "no Authorization header", id="no-authorization"),
        pytest.param(lambda body: sqs_record(body, ""), "no Authorization header", id="empty-authorization"),
    ],
)
def test_a_body_that_is_not_text_or_not_signed_is_dropped_as_unsigned(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    caplog: pytest.LogCaptureFixture,
    record: Any,
    reason: str,
) -> None:
    # Given a queued post whose body is not the text that was signed, or that carries no signature
    body, _ = sample()
    _, events = tables

    # When the function runs on it
    answer = livekit_webhook.lambda_handler(batch(record(body)), lambda_context)

    # Then it is dropped like any body this project did not sign: not retried, nothing claimed
    assert answer == {"batchItemFailures": []}
    (dropped,) = logged(caplog, UNSIGNED)
    assert reason in dropped["reason"]
    assert events.table.scan()["Items"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param('{"event": 5}', MALFORMED, id="event-not-a-name"),
        pytest.param("[]", MALFORMED, id="json-array"),
        pytest.param("{}", MALFORMED, id="no-event-name"),
        pytest.param(json.dumps({"event": "participant_joined", "x": "y" * 110_000}), TOO_LARGE, id="110-kb"),
    ],
)  # fmt: skip
def test_a_signed_body_that_is_no_webhook_event_is_dropped(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    caplog: pytest.LogCaptureFixture,
    body: str,
    message: str,
) -> None:
    # Given a queued body signed with the project's key that is no WebhookEvent, or is far larger
    # than any LiveKit sends
    # When the function runs on it
    answer = livekit_webhook.lambda_handler(batch(sqs_record(body, fresh(body))), lambda_context)

    # Then it is dropped with a warning, not retried
    assert answer == {"batchItemFailures": []}
    (dropped,) = logged(caplog, message)
    assert dropped["level"] == "WARNING"
    assert logged(caplog, HANDLED) == []


def test_a_record_whose_handling_fails_is_retried_alone(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a batch of three: a join awaited in ROOM, a join in a room whose waits DynamoDB fails to
    # read, and an unsigned post
    tokens, events = tables
    for room, token in ((ROOM, "token-1"), ("broken-room", "token-2")):
        tokens.table.put_item(
            Item={"room": room, "request_id": f"req-{room}", "agent_name": AGENT, "task_token": token,
                  "expires_at": 4_000_000_000}
        )  # fmt: skip
    original = WaitTokens.joined

    def joined_or_fail(self: WaitTokens, room: str, agent_name: str, at: float) -> Any:
        if room == "broken-room":
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "try again"}}, "UpdateItem"
            )
        return original(self, room, agent_name, at)

    monkeypatch.setattr(WaitTokens, "joined", joined_or_fail)
    resumed: list[str] = []
    monkeypatch.setattr(livekit_webhook.waits, "resume", lambda token, output: resumed.append(token) or True)
    good, broken = joined_body("EV_good"), joined_body("EV_broken", room="broken-room")
    records = [
        sqs_record(good, fresh(good), "msg-good"),
        sqs_record(broken, fresh(broken), "msg-broken", receives=2),
        sqs_record(good, None, "msg-unsigned"),
    ]

    # When the function runs on the batch
    answer = livekit_webhook.lambda_handler(batch(*records), lambda_context)

    # Then only the failed record is reported, to be received again; the others are done: the good
    # join resumed its wait, the unsigned post was dropped; the failed event's claim was given back
    # (so that its retry acts), the good one's stands
    assert answer == {"batchItemFailures": [{"itemIdentifier": "msg-broken"}]}
    assert resumed == ["token-1"]
    assert [h["message_id"] for h in logged(caplog, HANDLED)] == ["msg-good"]
    assert [d["message_id"] for d in logged(caplog, UNSIGNED)] == ["msg-unsigned"]
    assert [item["event_id"] for item in events.table.scan()["Items"]] == ["EV_good"]
    assert [w.task_token for w in tokens.awaiting("broken-room", AGENT)] == ["token-2"]


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF records (Powertools' metrics, on stdout) written since the last read."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_dropped_records_count_as_rejected_webhooks_for_the_alarm(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a batch of an unsigned post, an expired one and a good join nobody awaits
    body, authorization = sample()
    good = joined_body("EV_counted")
    records = [
        sqs_record(good, None, "msg-unsigned"),
        sqs_record(body, authorization, "msg-expired"),
        sqs_record(good, fresh(good), "msg-good"),
    ]
    capsys.readouterr()

    # When the function runs on it
    livekit_webhook.lambda_handler(batch(*records), lambda_context)

    # Then one EMF record counts the two dropped ones as WebhooksRejected, with the dimension the
    # template's alarm asks for (Powertools' service alone)
    (emf,) = emitted(capsys)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "DispatchVerify"
    assert directive["Dimensions"] == [["service"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["WebhooksRejected"]
    assert emf["WebhooksRejected"] == [1.0, 1.0]


def test_a_batch_that_drops_nothing_writes_no_metric(
    tables: tuple[WaitTokens, WebhookEvents],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a batch of one good join
    good = joined_body("EV_quiet")
    capsys.readouterr()

    # When the function runs on it, Then no EMF record is written (no data point: the alarm's missing
    # data is not breaching)
    livekit_webhook.lambda_handler(batch(sqs_record(good, fresh(good))), lambda_context)
    assert emitted(capsys) == []


def joined_body(event_id: str, room: str = ROOM, created_at: int = 1_800_000_000) -> str:
    participant = ParticipantInfo(
        identity="agent-AJ_1", kind="AGENT", state="ACTIVE", attributes={"lk.agent.name": AGENT}
    )
    return event_body("participant_joined", Room(name=room), participant, created_at, event_id)


# -- on_event: the decisions, on the real tables --------------------------------------------------


def joined(event_id: str = "EV_1", created_at: int = 1_800_000_000) -> api.WebhookEvent:
    body = joined_body(event_id, created_at=created_at)
    return webhook.verify(body, fresh(body), credentials())


def credentials() -> Any:
    from dispatch_verify import config

    return config.livekit_credentials()


def record(tokens: WaitTokens, request_id: str, token: str, looked_at: float) -> None:
    """A wait of ``request_id`` recorded as "Await agent" records it, after a look at ``looked_at``."""
    state = a_state().model_copy(
        update={
            "request": a_state().request.model_copy(update={"request_id": request_id}),
            "wait_item": WaitItem(looked_at=f"{looked_at:.3f}", expires_at=str(int(looked_at) + 3600)),
        }
    )
    record_wait(boto3.client("dynamodb"), state, token, tokens.table.name)


def test_a_wait_is_recorded_with_the_time_its_step_looked(
    tables: tuple[WaitTokens, WebhookEvents], now: FakeTime
) -> None:
    # Given a step that looked at the room at some second and three quarters
    tokens, _ = tables
    now.advance(0.75)

    # When "Await agent" records its token
    record(tokens, "req-1", "token-1", now())

    # Then the item says when (Lambda's clock, whole seconds), for a webhook to compare with its join
    (waiter,) = tokens.awaiting(ROOM, AGENT)
    assert waiter.recorded_at == int(now())


def test_a_delivery_that_fails_gives_its_claim_back_so_that_a_redelivery_acts(
    tables: tuple[WaitTokens, WebhookEvents], now: FakeTime
) -> None:
    # Given a wait, and Step Functions throttling the first SendTaskSuccess
    tokens, events = tables
    record(tokens, "req-1", "token-1", now())
    throttled = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendTaskSuccess"
    )

    def failing(token: str, output: dict[str, Any]) -> bool:
        raise throttled

    # When the join is delivered, fails, and is delivered again (LiveKit retries a failed delivery)
    with pytest.raises(ClientError):
        webhook.on_event(joined(), tokens, failing, events)
    again = webhook.on_event(joined(), tokens, lambda token, output: True, events)

    # Then the retry was not taken for a duplicate: it resumed the wait
    assert (again.resumed, again.duplicate) == (1, False)
    assert tokens.awaiting(ROOM, AGENT) == []


def test_an_event_without_an_id_is_acted_on_once_by_its_content(
    tables: tuple[WaitTokens, WebhookEvents], now: FakeTime
) -> None:
    # Given an event LiveKit sent without an id (it sets one; this is the fallback), and a wait
    tokens, events = tables
    event = joined(event_id="", created_at=int(now()))
    record(tokens, "req-1", "token-1", now())
    claimed_at = int(now())
    first = webhook.on_event(event, tokens, lambda token, output: True, events)

    # When the same event arrives again for the request's next wait (recorded after a later look)
    now.advance(1)
    record(tokens, "req-1", "token-2", now())
    second = webhook.on_event(event, tokens, lambda token, output: True, events)

    # Then only the first resumed a wait; the claim is the digest of the event, and expires
    assert (first.resumed, second.resumed, second.duplicate) == (1, 0, True)
    (item,) = events.table.scan()["Items"]
    assert item["event_id"].startswith("sha256:")
    assert item["expires_at"] == claimed_at + EVENT_TTL_S
