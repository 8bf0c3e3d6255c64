"""``POST /livekit/webhook`` through the real handler: only LiveKit's signature gets in.

A waiter (a recorded task token) stands for a workflow awaiting ``sleepy-agent`` in ``room-a``; a
rejected webhook must leave it untouched, a relevant verified one must consume it.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from livekit.protocol.models import ParticipantInfo, Room

from livekit_sim import LiveKitSimulator, event_body, signed_headers
from local_engine import WEBHOOK_PATH, LocalApi, LocalEngine, proxy_event

AGENT = "sleepy-agent"


@pytest.fixture
def api(engine: LocalEngine) -> LocalApi:
    return LocalApi(engine)


@pytest.fixture
def table(engine: LocalEngine) -> Any:
    name = engine.function("DispatchApiFunction").environment["WAIT_TABLE_NAME"]
    table = boto3.resource("dynamodb", region_name=engine.region).Table(name)
    table.put_item(
        Item={
            "room": "room-a",
            "request_id": "req-1",
            "agent_name": AGENT,
            "task_token": "token-of-req-1",
            "expires_at": 4_000_000_000,
        }
    )
    return table


def joined(room: str = "room-a", agent_name: str = AGENT, kind: str = "AGENT") -> str:
    names = {"lk.agent.name": agent_name, "lk.agent_name": agent_name}
    participant = ParticipantInfo(
        identity="agent-AJ_x", kind=kind, state="ACTIVE", attributes=names, joined_at=1_800_000_000
    )
    return event_body("participant_joined", Room(name=room, sid="RM_x"), participant, 1_800_000_000, "EV_1")


def deliver(api: LocalApi, body: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    route = api.route("POST", WEBHOOK_PATH)
    assert route is not None
    event = proxy_event(route, "POST", WEBHOOK_PATH, [("Host", "127.0.0.1"), *headers.items()], body.encode())
    answer = api.invoke(route, event)
    return answer["statusCode"], json.loads(answer["body"])


def waiters(table: Any) -> list[str]:
    return [item["request_id"] for item in table.scan()["Items"]]


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
    api: LocalApi, sim: LiveKitSimulator, table: Any, body: str
) -> None:
    # Given a signed webhook that is not the awaited agent joining the awaited room
    # When it is delivered
    status, answer = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is acknowledged, resumes nothing and leaves the wait alone
    assert status == 200
    assert answer["resumed"] == 0
    assert waiters(table) == ["req-1"]


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
