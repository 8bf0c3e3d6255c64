"""The LiveKit webhook function on its events/ sample (`sam local invoke LiveKitWebhookFunction -e`), and
what it does with a verified join: each event acted on once, only waits recorded before the join."""

from __future__ import annotations

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


def fresh(event: dict[str, Any]) -> dict[str, Any]:
    """The sample with its body signed now (what `sam local invoke` needs: see README)."""
    event["headers"]["Authorization"] = signed_headers(event["body"], KEY, SECRET)["Authorization"]
    return event


def test_the_webhook_sample_replayed_later_is_refused(
    tables: tuple[WaitTokens, WebhookEvents], lambda_context: LambdaContext
) -> None:
    # Given the captured webhook sample, whose 5-minute signature expired long ago, and the key pair
    # it was signed with
    event = load_event("livekit_webhook")

    # When the function runs on it
    answer = livekit_webhook.lambda_handler(event, lambda_context)

    # Then it is refused as a replay would be: 401, whatever the body says
    assert answer["statusCode"] == 401
    assert "participant_joined" in event["body"]


def test_the_webhook_sample_freshly_signed_is_accepted_once(
    tables: tuple[WaitTokens, WebhookEvents], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the webhook sample's body signed now, and a workflow awaiting the sample's agent in its
    # room, recorded before the join
    tokens, _ = tables
    body = json.loads(load_event("livekit_webhook")["body"])
    tokens.table.put_item(
        Item={
            "room": ROOM,
            "request_id": "req-1",
            "agent_name": AGENT,
            "task_token": "token-1",
            "recorded_at": int(body["createdAt"]),
            "expires_at": 4_000_000_000,
        }
    )
    resumed: list[str] = []
    monkeypatch.setattr(livekit_webhook.waits, "resume", lambda token, output: resumed.append(token) or True)

    # When the function runs on it twice (LiveKit may deliver an event more than once)
    answers = [
        livekit_webhook.lambda_handler(fresh(load_event("livekit_webhook")), lambda_context) for _ in range(2)
    ]

    # Then the agent's join resumed the workflow on the first delivery, and the second did nothing
    assert [a["statusCode"] for a in answers] == [200, 200]
    assert [json.loads(a["body"]) for a in answers] == [
        {"event": "participant_joined", "resumed": 1},
        {"event": "participant_joined", "resumed": 0},
    ]
    assert resumed == ["token-1"]


def test_a_body_that_is_not_text_is_refused_as_unsigned(
    tables: tuple[WaitTokens, WebhookEvents], lambda_context: LambdaContext
) -> None:
    # Given a post whose body API Gateway passes base64-encoded, not UTF-8
    event = fresh(load_event("livekit_webhook"))
    event.update(body="/w==", isBase64Encoded=True)

    # When the function runs on it
    answer = livekit_webhook.lambda_handler(event, lambda_context)

    # Then it is refused like any body this project did not sign
    assert answer["statusCode"] == 401


# -- on_event: the decisions, on the real tables --------------------------------------------------


def joined(event_id: str = "EV_1", created_at: int = 1_800_000_000) -> api.WebhookEvent:
    participant = ParticipantInfo(
        identity="agent-AJ_1", kind="AGENT", state="ACTIVE", attributes={"lk.agent.name": AGENT}
    )
    body = event_body("participant_joined", Room(name=ROOM), participant, created_at, event_id)
    return webhook.verify(body, signed_headers(body, KEY, SECRET)["Authorization"], credentials())


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
