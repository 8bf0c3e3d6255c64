"""``POST /livekit/webhook`` through the real handler: only LiveKit's signature gets in.

A waiter (a recorded task token) stands for a workflow awaiting ``sleepy-agent`` in ``room-a``; a
rejected webhook must leave it untouched, a relevant verified one must consume it, once per event id,
and only if the wait was recorded before the join happened.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from livekit.protocol.models import ParticipantInfo, Room

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator, event_body, signed_headers
from local_engine import WEBHOOK_PATH, LocalApi, LocalEngine, proxy_event

AGENT = "sleepy-agent"
JOINED_AT = 1_800_000_000  # the event's createdAt (LiveKit's clock), seconds
WEBHOOK_FUNCTION = "LiveKitWebhookFunction"


@pytest.fixture
def api(engine: LocalEngine) -> LocalApi:
    return LocalApi(engine)


@pytest.fixture
def table(engine: LocalEngine) -> Any:
    name = engine.function(WEBHOOK_FUNCTION).environment["WAIT_TABLE_NAME"]
    table = boto3.resource("dynamodb", region_name=engine.region).Table(name)
    put_waiter(table)
    return table


def put_waiter(table: Any, recorded_at: int | None = None) -> None:
    """The wait of req-1 (an item as "Await agent" records it; without recorded_at as before it did)."""
    item = {
        "room": "room-a",
        "request_id": "req-1",
        "agent_name": AGENT,
        "task_token": "token-of-req-1",
        "expires_at": 4_000_000_000,
    }
    if recorded_at is not None:
        item["recorded_at"] = recorded_at
    table.put_item(Item=item)


def joined(room: str = "room-a", agent_name: str = AGENT, kind: str = "AGENT", event_id: str = "EV_1") -> str:
    names = {"lk.agent.name": agent_name, "lk.agent_name": agent_name}
    participant = ParticipantInfo(
        identity="agent-AJ_x", kind=kind, state="ACTIVE", attributes=names, joined_at=JOINED_AT
    )
    return event_body("participant_joined", Room(name=room, sid="RM_x"), participant, JOINED_AT, event_id)


def deliver(api: LocalApi, body: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    route = api.route("POST", WEBHOOK_PATH)
    assert route is not None
    event = proxy_event(route, "POST", WEBHOOK_PATH, [("Host", "127.0.0.1"), *headers.items()], body.encode())
    answer = api.invoke(route, event)
    return answer["statusCode"], json.loads(answer["body"])


def waiters(table: Any) -> list[str]:
    """The requests whose wait holds a token (an item stays once its token is used: its join mark)."""
    return [item["request_id"] for item in table.scan()["Items"] if "task_token" in item]


def claimed(engine: LocalEngine) -> list[dict[str, Any]]:
    """The event ids the webhook function has claimed (its own table)."""
    name = engine.function(WEBHOOK_FUNCTION).environment["WEBHOOK_EVENT_TABLE_NAME"]
    return list(boto3.resource("dynamodb", region_name=engine.region).Table(name).scan()["Items"])


def test_a_verified_join_of_the_awaited_agent_consumes_its_wait(
    api: LocalApi, sim: LiveKitSimulator, table: Any
) -> None:
    # Given a participant_joined of the awaited agent, signed with the project's key
    body = joined()

    # When it is delivered
    status, answer = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is accepted and the wait is consumed (its token was stale here, so nothing was resumed)
    assert status == 200
    assert answer == {"event": "participant_joined", "resumed": 0}
    assert waiters(table) == []


def tampered(body: str) -> str:
    return body.replace('"room-a"', '"room-b"')


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body, sim: {}, id="no-authorization"),
        pytest.param(
            lambda body, sim: {**signed_headers(body, sim.api_key, sim.api_secret), "Authorization": ""},
            id="empty-authorization",
        ),
        pytest.param(
            lambda body, sim: signed_headers(body, sim.api_key, "not-the-secret-" * 3), id="forged-signature"
        ),
        pytest.param(lambda body, sim: signed_headers(body, "APIotherkey", sim.api_secret), id="wrong-key"),
        pytest.param(
            lambda body, sim: signed_headers(tampered(body), sim.api_key, sim.api_secret), id="tampered-body"
        ),
        pytest.param(
            lambda body, sim: signed_headers(body, sim.api_key, sim.api_secret, ttl_s=-600),
            id="expired-replay",
        ),
        pytest.param(
            lambda body, sim: {
                "Authorization": "Bearer "
                + signed_headers(body, sim.api_key, sim.api_secret)["Authorization"]
            },
            id="bearer-prefix",
        ),
    ],
)
def test_a_webhook_not_signed_by_the_project_is_401_and_changes_nothing(
    api: LocalApi, sim: LiveKitSimulator, table: Any, forge: Any
) -> None:
    # Given a join of the awaited agent with a missing, forged, tampered or expired signature
    body = joined()
    headers = forge(body, sim)

    # When it is delivered
    status, answer = deliver(api, body, headers)

    # Then it is refused with 401 and the wait is still there
    assert status == 401
    assert "signed" in answer["message"]
    assert waiters(table) == ["req-1"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(joined(room="room-b"), id="another-room"),
        pytest.param(joined(agent_name="other-agent"), id="another-agent"),
        pytest.param(joined(kind="STANDARD"), id="not-an-agent"),
        pytest.param(
            event_body("room_started", Room(name="room-a"), None, 1_800_000_000, "EV_2"), id="room-event"
        ),
    ],
)
def test_a_verified_webhook_about_something_else_is_200_and_ignored(
    api: LocalApi, sim: LiveKitSimulator, table: Any, body: str, engine: LocalEngine
) -> None:
    # Given a signed webhook that is not the awaited agent joining the awaited room
    # When it is delivered
    status, answer = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is acknowledged, resumes nothing and leaves the wait alone (and only an agent's join,
    # which could resume a wait, costs a write: its id is claimed)
    assert status == 200
    assert answer["resumed"] == 0
    assert waiters(table) == ["req-1"]
    event = json.loads(body)
    agent_joined = event["event"] == "participant_joined" and event["participant"].get("kind") == "AGENT"
    assert len(claimed(engine)) == (1 if agent_joined else 0)


@pytest.mark.parametrize(
    "body", ["", "not json", "[]", '{"event": 5}', "\u0000" * 10, json.dumps({"x": "y" * 200_000})]
)
def test_garbage_is_a_4xx_never_a_5xx(api: LocalApi, sim: LiveKitSimulator, table: Any, body: str) -> None:
    # Given a body that is no webhook, signed or not
    for headers in ({}, signed_headers(body, sim.api_key, sim.api_secret)):
        # When it is delivered
        status, _ = deliver(api, body, headers)

        # Then it is refused with a 4xx and nothing changes
        assert 400 <= status < 500, (body[:20], status)
    assert waiters(table) == ["req-1"]


def test_a_second_delivery_of_an_event_is_200_and_does_nothing(
    api: LocalApi, sim: LiveKitSimulator, table: Any
) -> None:
    # Given the awaited agent's join, delivered once (it consumed the wait), and then the request's
    # next wait, recorded before that join happened (so only the event's id tells the two apart)
    body = joined()
    headers = signed_headers(body, sim.api_key, sim.api_secret)
    first = deliver(api, body, headers)
    assert waiters(table) == []
    put_waiter(table, recorded_at=JOINED_AT - 1)

    # When the same event arrives again: the same request replayed, and signed afresh (LiveKit may
    # deliver an event more than once)
    again = [
        deliver(api, body, headers),
        deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret)),
    ]

    # Then each is acknowledged as the first was, resumes nothing and leaves the new wait alone
    assert first == (200, {"event": "participant_joined", "resumed": 0})  # its token was stale here
    assert again == [(200, {"event": "participant_joined", "resumed": 0})] * 2
    assert waiters(table) == ["req-1"]


def test_an_event_is_remembered_a_little_longer_than_its_signature_is_valid(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given the awaited agent's join
    body = joined()

    # When it is delivered
    deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then its id is kept in the webhook's own table, expiring (TTL) after the 5 minutes a delivery's
    # token is valid and TokenVerifier's 60 s of leeway, within a few minutes more
    (item,) = claimed(engine)
    assert item["event_id"] == "EV_1"
    assert clock.now() + 360 < item["expires_at"] <= clock.now() + 900


@pytest.mark.parametrize(
    ("recorded_after_join_s", "consumed"),
    [(-30, True), (0, True), (5, True), (6, False), (60, False)],
)
def test_a_join_resumes_only_waits_recorded_before_it_happened(
    api: LocalApi, sim: LiveKitSimulator, table: Any, recorded_after_join_s: int, consumed: bool
) -> None:
    # Given a wait recorded some seconds after (or before) the agent's join, by Lambda's clock: "Await
    # agent" records its token and then looks at the participants, so a join more than the leeway
    # (5 s: createdAt's whole seconds and the two clocks' skew) before the recording was seen by that
    # look, and this wait is a later one
    put_waiter(table, recorded_at=JOINED_AT + recorded_after_join_s)
    body = joined(event_id=f"EV_at_{recorded_after_join_s}")

    # When the join is delivered
    status, answer = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is accepted either way; only a wait recorded before the join (with the leeway) is consumed
    assert (status, answer["resumed"]) == (200, 0)
    assert waiters(table) == ([] if consumed else ["req-1"])


def test_a_wait_recorded_without_its_time_is_resumed_by_any_join(
    api: LocalApi, sim: LiveKitSimulator, table: Any
) -> None:
    # Given a wait recorded before waits carried their time (the fixture's), and a join long after
    body = event_body(
        "participant_joined",
        Room(name="room-a", sid="RM_x"),
        ParticipantInfo(identity="agent-AJ_x", kind="AGENT", state="ACTIVE",
                        attributes={"lk.agent.name": AGENT}, joined_at=JOINED_AT + 3600),
        JOINED_AT + 3600,
        "EV_later",
    )  # fmt: skip

    # When it is delivered
    status, _ = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then the wait is consumed, as before
    assert status == 200
    assert waiters(table) == []
