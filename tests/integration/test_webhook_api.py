"""``POST /livekit/webhook`` through API Gateway's SQS integration, the queue's filtered event source
and the real handler: whatever is posted is queued, only LiveKit's signature gets anything done.

A waiter (a recorded task token) stands for a workflow awaiting ``sleepy-agent`` in ``room-a``. API
Gateway answers 200 once SQS stored a post (415 for a body that is not ``application/webhook+json``);
the event source hands the function only an agent's ``participant_joined`` (every other event is
deleted unread), and the function drops, with a warning, what LiveKit did not sign. A rejected webhook
must leave the wait untouched, a relevant verified one must consume it, once per event id, and only if
the wait was recorded before the join happened. ``deliver_webhook`` returns once the event source has
polled and the function has run.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from livekit.protocol.models import ParticipantInfo, Room

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator, event_body, signed_headers
from local_engine import Invocation, LocalApi, LocalEngine, QueueEventSource

AGENT = "sleepy-agent"
JOINED_AT = 1_800_000_000  # the event's createdAt (LiveKit's clock), seconds
WEBHOOK_FUNCTION = "LiveKitWebhookFunction"
WEBHOOK_JSON = "application/webhook+json"  # the one media type the integration has a template for
UNSIGNED = "webhook dropped: not signed by this LiveKit project"
HANDLED = "webhook handled"


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


def deliver(api: LocalApi, body: str, headers: dict[str, str]) -> int:
    """Post ``body`` as LiveKit does (``application/webhook+json`` unless ``headers`` say otherwise);
    API Gateway's status. The event source has run by the time it returns."""
    return api.deliver_webhook(body, {"Content-Type": WEBHOOK_JSON, **headers})


def waiters(table: Any) -> list[str]:
    """The requests whose wait holds a token (an item stays once its token is used: its join mark)."""
    return [item["request_id"] for item in table.scan()["Items"] if "task_token" in item]


def claimed(engine: LocalEngine) -> list[dict[str, Any]]:
    """The event ids the webhook function has claimed (its own table)."""
    name = engine.function(WEBHOOK_FUNCTION).environment["WEBHOOK_EVENT_TABLE_NAME"]
    return list(boto3.resource("dynamodb", region_name=engine.region).Table(name).scan()["Items"])


def source(engine: LocalEngine) -> QueueEventSource:
    """The webhook queue's event source (its filter's count, its batches)."""
    (found,) = [s for s in engine.queue_sources.values() if s.target.name == WEBHOOK_FUNCTION]
    return found


def runs(engine: LocalEngine) -> list[Invocation]:
    """The webhook function's invocations."""
    return [i for i in engine.invocations if i.function == WEBHOOK_FUNCTION]


def logged(engine: LocalEngine, message: str) -> list[dict[str, Any]]:
    """The webhook function's structured log records with ``message``."""
    found = []
    for line in engine.lambda_output:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == message:
            assert record.get("function_name") == WEBHOOK_FUNCTION, record
            found.append(record)
    return found


def in_queue(engine: LocalEngine) -> int:
    """Messages left in the webhook queue, visible or not (a record the function failed on stays)."""
    return source(engine).depth()


def test_a_verified_join_of_the_awaited_agent_consumes_its_wait(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine
) -> None:
    # Given a participant_joined of the awaited agent, signed with the project's key
    body = joined()

    # When it is delivered
    status = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is queued, handed to the function in a batch of its own, and the wait is consumed (its
    # token was stale here, so nothing was resumed); the message is done, not left for a retry
    assert status == 200
    assert source(engine).batches == [["room-a"]]
    assert [r.failed for r in runs(engine)] == [False]
    (handled,) = logged(engine, HANDLED)
    assert (handled["event"], handled["room"], handled["resumed"]) == ("participant_joined", "room-a", 0)
    assert waiters(table) == []
    assert in_queue(engine) == 0


def tampered(body: str) -> str:
    return body.replace('"room-a"', '"room-b"')


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        pytest.param(lambda body, sim: {}, "no Authorization header", id="no-authorization"),
        pytest.param(
            lambda body, sim: {**signed_headers(body, sim.api_key, sim.api_secret), "Authorization": ""},
            "no Authorization header",  # API Gateway's template sets no attribute for an empty header
            id="empty-authorization",
        ),
        pytest.param(
            lambda body, sim: signed_headers(body, sim.api_key, "not-the-secret-" * 3),
            "InvalidSignatureError",
            id="forged-signature",
        ),
        pytest.param(
            lambda body, sim: signed_headers(body, "APIotherkey", sim.api_secret),
            "InvalidIssuerError",
            id="wrong-key",
        ),
        pytest.param(
            lambda body, sim: signed_headers(tampered(body), sim.api_key, sim.api_secret),
            "hash mismatch",
            id="tampered-body",
        ),
        pytest.param(
            lambda body, sim: signed_headers(body, sim.api_key, sim.api_secret, ttl_s=-600),
            "ExpiredSignatureError",
            id="expired-replay",
        ),
        pytest.param(
            lambda body, sim: {
                "Authorization": "Bearer "
                + signed_headers(body, sim.api_key, sim.api_secret)["Authorization"]
            },
            "DecodeError",
            id="bearer-prefix",
        ),
    ],
)
def test_a_webhook_not_signed_by_the_project_is_queued_dropped_with_a_warning_and_changes_nothing(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine, forge: Any, reason: str
) -> None:
    # Given a join of the awaited agent with a missing, forged, tampered or expired signature (the
    # body alone passes the event source's filter: only the function can tell)
    body = joined()
    headers = forge(body, sim)

    # When it is delivered
    status = deliver(api, body, headers)

    # Then API Gateway queued it (it checks no signature), the function ran on it and dropped it with
    # a warning naming what failed, nothing was claimed or handled, the wait is still there, and the
    # message is gone (a bad signature does not get better by retrying)
    assert status == 200
    assert [r.failed for r in runs(engine)] == [False]
    (dropped,) = logged(engine, UNSIGNED)
    assert dropped["level"] == "WARNING"
    assert reason in dropped["reason"], dropped["reason"]
    assert dropped["receive_count"] == "1"
    assert logged(engine, HANDLED) == []
    assert claimed(engine) == []
    assert waiters(table) == ["req-1"]
    assert in_queue(engine) == 0


@pytest.mark.parametrize(
    ("body", "reaches_function"),
    [
        pytest.param(joined(room="room-b"), True, id="another-room"),
        pytest.param(joined(agent_name="other-agent"), True, id="another-agent"),
        pytest.param(joined(kind="STANDARD"), False, id="not-an-agent"),
        pytest.param(
            event_body("room_started", Room(name="room-a"), None, JOINED_AT, "EV_2"), False, id="room-event"
        ),
    ],
)
def test_a_verified_webhook_about_something_else_is_queued_and_ignored(
    api: LocalApi, sim: LiveKitSimulator, table: Any, body: str, reaches_function: bool, engine: LocalEngine
) -> None:
    # Given a signed webhook that is not the awaited agent joining the awaited room
    # When it is delivered
    status = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is queued and leaves the wait alone. An agent's join (which could resume a wait) passes
    # the filter: the function handles it, resumes nothing, and claims its id (a write). Any other
    # event is deleted by the filter: no invocation, no write.
    assert status == 200
    assert waiters(table) == ["req-1"]
    assert in_queue(engine) == 0
    if reaches_function:
        assert (source(engine).filtered_out, len(runs(engine))) == (0, 1)
        (handled,) = logged(engine, HANDLED)
        assert handled["resumed"] == 0
        assert len(claimed(engine)) == 1
    else:
        assert (source(engine).filtered_out, runs(engine), source(engine).batches) == (1, [], [])
        assert claimed(engine) == []


GARBAGE = [
    pytest.param("not json", id="not-json"),
    pytest.param("[]", id="json-array"),
    pytest.param('{"event": 5}', id="event-not-a-name"),
    pytest.param('{"event": "participant_joined", "participant": "AGENT"}', id="participant-not-an-object"),
    pytest.param(json.dumps({"x": "y" * 200_000}), id="200-kb"),
]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_posted_as_a_webhook_is_queued_and_filtered_out_unread(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine, body: str
) -> None:
    # Given a body that is no agent's join, signed or not
    for headers in ({}, signed_headers(body, sim.api_key, sim.api_secret)):
        # When it is posted as LiveKit posts
        status = deliver(api, body, headers)

        # Then API Gateway queued it (it reads no body)
        assert status == 200, (body[:20], status)

    # And the event source deleted both unread: the function never ran, nothing changed
    assert (source(engine).filtered_out, runs(engine)) == (2, [])
    assert in_queue(engine) == 0
    assert waiters(table) == ["req-1"]
    assert claimed(engine) == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded"]
)
def test_a_post_of_another_media_type_is_415_and_never_queued(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine, content_type: str
) -> None:
    # Given the awaited agent's join, correctly signed, but posted with another Content-Type
    body = joined()
    headers = {**signed_headers(body, sim.api_key, sim.api_secret), "Content-Type": content_type}

    # When it is delivered
    status = deliver(api, body, headers)

    # Then API Gateway refuses it (no request template: passthroughBehavior never), and nothing
    # reached the queue or the function
    assert status == 415
    assert in_queue(engine) == 0
    assert (source(engine).filtered_out, source(engine).batches, runs(engine)) == (0, [], [])
    assert waiters(table) == ["req-1"]


def test_a_second_delivery_of_an_event_does_nothing(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine
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

    # Then each is queued and handled as the first was, is recognised as already acted on, resumes
    # nothing and leaves the new wait alone
    assert [first, *again] == [200, 200, 200]
    assert [(h["event"], h["resumed"]) for h in logged(engine, HANDLED)] == [("participant_joined", 0)] * 3
    assert [d["event_id"] for d in logged(engine, "webhook event already acted on")] == ["EV_1", "EV_1"]
    assert [r.failed for r in runs(engine)] == [False] * 3
    assert waiters(table) == ["req-1"]
    assert in_queue(engine) == 0


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
    api: LocalApi,
    sim: LiveKitSimulator,
    table: Any,
    engine: LocalEngine,
    recorded_after_join_s: int,
    consumed: bool,
) -> None:
    # Given a wait recorded some seconds after (or before) the agent's join, by Lambda's clock: "Await
    # agent" records its token and then looks at the participants, so a join more than the leeway
    # (5 s: createdAt's whole seconds and the two clocks' skew) before the recording was seen by that
    # look, and this wait is a later one
    put_waiter(table, recorded_at=JOINED_AT + recorded_after_join_s)
    body = joined(event_id=f"EV_at_{recorded_after_join_s}")

    # When the join is delivered
    status = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then it is queued and handled either way; only a wait recorded before the join (with the
    # leeway) is consumed
    assert status == 200
    (handled,) = logged(engine, HANDLED)
    assert handled["resumed"] == 0  # the token is stale here: consumed, not resumed
    (joined_log,) = logged(engine, "agent join webhook")
    assert joined_log["later_waits"] == (0 if consumed else 1)
    assert waiters(table) == ([] if consumed else ["req-1"])


def test_a_wait_recorded_without_its_time_is_resumed_by_any_join(
    api: LocalApi, sim: LiveKitSimulator, table: Any, engine: LocalEngine
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
    status = deliver(api, body, signed_headers(body, sim.api_key, sim.api_secret))

    # Then the wait is consumed, as before
    assert status == 200
    assert len(logged(engine, HANDLED)) == 1
    assert waiters(table) == []
