"""The local engine's API Gateway SQS integration and SQS event source (local_engine/queues.py), on the
real template's ``POST /livekit/webhook``: what API Gateway refuses, what it puts on the queue and as
whom, what the event source's filter deletes unread, and how a record the function failed on comes
back after the queue's visibility timeout (on the engine's clock) until it is dead-lettered."""

from __future__ import annotations

import importlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit.protocol.models import ParticipantInfo, Room

from clocks import DiscreteClock, VirtualClock
from livekit_sim import event_body, signed_headers
from local_engine import WEBHOOK_PATH, Invocation, LocalApi, LocalEngine, QueueEventSource, SqsIntegration
from tests.engine.conftest import LIVEKIT

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
WEBHOOK_FUNCTION = "LiveKitWebhookFunction"
WEBHOOK_JSON = "application/webhook+json"
VISIBILITY_TIMEOUT_S = 30  # LiveKitWebhookQueue's
MAX_RECEIVES = 5  # its RedrivePolicy's maxReceiveCount


@pytest.fixture
def engine(clock: VirtualClock) -> Iterator[LocalEngine]:
    """The real template's stack (this module's webhooks need no LiveKit: only its key pair)."""
    with LocalEngine(clock, LIVEKIT, template_path=TEMPLATE) as local:
        yield local


@pytest.fixture
def api(engine: LocalEngine) -> LocalApi:
    return LocalApi(engine)


def intake(api: LocalApi) -> SqsIntegration:
    route = api.route("POST", WEBHOOK_PATH)
    assert route is not None and route.queue is not None, "POST /livekit/webhook is no SQS integration"
    return route.queue


def source(engine: LocalEngine) -> QueueEventSource:
    (found,) = [s for s in engine.queue_sources.values() if s.target.name == WEBHOOK_FUNCTION]
    return found


def runs(engine: LocalEngine) -> list[Invocation]:
    return [i for i in engine.invocations if i.function == WEBHOOK_FUNCTION]


def count(engine: LocalEngine, queue_url: str) -> int:
    """Messages in a queue, visible or not, read as an administrator."""
    return source(engine).depth(queue_url)


def receive_all(engine: LocalEngine, queue_url: str) -> list[dict[str, Any]]:
    """What is visible in a queue, with its attributes, read as an administrator."""
    answer = engine.session.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    return list(answer.get("Messages") or [])


def dead_letter_url(engine: LocalEngine) -> str:
    sqs = engine.session.client("sqs")
    policy = sqs.get_queue_attributes(QueueUrl=source(engine).queue_url, AttributeNames=["RedrivePolicy"])
    target = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    return str(sqs.get_queue_url(QueueName=target.rsplit(":", 1)[1])["QueueUrl"])


def agent_joined(
    room: str = "room-q", kind: str = "AGENT", event_id: str = "EV_q1", at: float = 1_800_000_000
) -> str:
    participant = ParticipantInfo(
        identity="agent-AJ_q", kind=kind, state="ACTIVE", attributes={"lk.agent.name": "queue-agent"}
    )
    return event_body("participant_joined", Room(name=room, sid="RM_q"), participant, at, event_id)


def room_event(event: str, room: str = "room-q", event_id: str = "EV_r") -> str:
    return event_body(event, Room(name=room), None, 1_800_000_000, event_id)


def signed(body: str) -> dict[str, str]:
    return signed_headers(body, LIVEKIT["api_key"], LIVEKIT["api_secret"])


# -- API Gateway: the request template ------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "application/json"}, id="application/json"),
        pytest.param({"Content-Type": "text/plain; charset=utf-8"}, id="text/plain"),
        pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, id="form"),
        pytest.param({}, id="no-content-type"),  # API Gateway takes it for application/json
    ],
)
def test_a_media_type_without_a_request_template_is_415_and_queues_nothing(
    api: LocalApi, engine: LocalEngine, headers: dict[str, str]
) -> None:
    # Given a signed agent join, posted with a Content-Type the integration has no template for
    body = agent_joined()
    with_type = {**signed(body), **headers} if headers else {"Authorization": signed(body)["Authorization"]}

    # When API Gateway takes the post
    status, answer = intake(api).post(with_type, body)

    # Then it answers 415 itself (passthroughBehavior never), and SQS received nothing
    assert (status, json.loads(answer)) == (415, {"message": "Unsupported Media Type"})
    assert count(engine, source(engine).queue_url) == 0
    assert (runs(engine), source(engine).batches, source(engine).filtered_out) == ([], [], 0)


def test_the_queued_message_is_the_body_byte_for_byte_and_the_authorization_header_as_an_attribute(
    api: LocalApi, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the event source paused (the queue is read here instead), and a body full of what a
    # form encoding or a Velocity template could mangle, with an Authorization header that needs
    # encoding too
    queue_url = source(engine).queue_url
    monkeypatch.delitem(engine.queue_sources, queue_url)
    body = json.dumps(
        {"event": "participant_joined", "x": 'a+b&c=d%20e #if($x) $input.body \\ "q" ü € 🎙\n\ttab'},
        ensure_ascii=False,
    )
    authorization = "eyJ.a+b/c==.d&e f%2B"

    # When it is posted as LiveKit posts, and then once more without an Authorization header
    posted = [
        api.deliver_webhook(body, {"Content-Type": WEBHOOK_JSON, "Authorization": authorization}),
        api.deliver_webhook(body, {"Content-Type": WEBHOOK_JSON}),
    ]

    # Then both were queued (200) and each message is the body unchanged; the first carries the
    # header as the String attribute "authorization", the second no attribute at all
    assert posted == [200, 200]
    messages = receive_all(engine, queue_url)
    assert [m["Body"].encode() for m in messages] == [body.encode()] * 2
    by_attribute = sorted(messages, key=lambda m: "MessageAttributes" in m, reverse=True)
    assert by_attribute[0]["MessageAttributes"] == {
        "authorization": {"StringValue": authorization, "DataType": "String"}
    }
    assert "MessageAttributes" not in by_attribute[1]


def test_the_function_receives_the_message_as_lambdas_sqs_event_record(
    api: LocalApi, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the webhook function's events recorded on their way in
    received: list[dict[str, Any]] = []
    handler_of = engine.handler

    def recording(target: Any) -> Callable[[dict[str, Any], Any], Any]:
        handler = handler_of(target)

        def record(event: dict[str, Any], context: Any) -> Any:
            received.append(json.loads(json.dumps(event)))
            return handler(event, context)

        return record

    monkeypatch.setattr(engine, "handler", recording)
    body = agent_joined()
    headers = signed(body)

    # When a signed agent join is posted
    assert api.deliver_webhook(body, headers) == 200

    # Then the function got one record: the body unchanged, the signature as the attribute, SQS's
    # attributes (first receive), from the webhook queue
    ((record,),) = [event["Records"] for event in received]
    assert record["body"] == body
    assert record["messageAttributes"]["authorization"]["stringValue"] == headers["Authorization"]
    assert record["messageAttributes"]["authorization"]["dataType"] == "String"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == source(engine).queue_arn
    assert record["messageId"] and record["receiptHandle"]


# -- the event source's filter ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "passes"),
    [
        pytest.param(agent_joined(), True, id="agent-join"),
        pytest.param(room_event("room_started"), False, id="room_started"),
        pytest.param(agent_joined(kind="STANDARD"), False, id="standard-participant-join"),
        pytest.param(
            json.dumps({"event": "participant_joined", "participant": {"kind": "agent"}}),
            False,
            id="kind-lowercase",
        ),
        pytest.param(json.dumps({"event": "participant_joined"}), False, id="no-participant"),
        pytest.param("participant_joined AGENT", False, id="not-json"),
    ],
)
def test_the_filter_deletes_all_but_an_agents_join_unread(
    api: LocalApi, engine: LocalEngine, body: str, passes: bool
) -> None:
    # Given a signed post of some event
    # When API Gateway queues it
    status = api.deliver_webhook(body, signed(body))

    # Then an agent's participant_joined reaches the function; anything else is deleted by the event
    # source without invoking it. Either way the queue is left empty
    assert status == 200
    assert count(engine, source(engine).queue_url) == 0
    if passes:
        assert (source(engine).filtered_out, len(runs(engine)), source(engine).batches) == (
            0,
            1,
            [["room-q"]],
        )
    else:
        assert (source(engine).filtered_out, runs(engine), source(engine).batches) == (1, [], [])


def test_posts_queued_together_are_handed_over_in_one_batch_after_the_filter() -> None:
    # Given the event source paused while three posts are queued (a burst), two of them agent joins
    with DiscreteClock() as clock, LocalEngine(clock, LIVEKIT, template_path=TEMPLATE) as engine:
        api = LocalApi(engine)
        queue_url = source(engine).queue_url
        paused = engine.queue_sources.pop(queue_url)
        bodies = [
            agent_joined(room="room-1", event_id="EV_b1"),
            room_event("room_finished", room="room-2", event_id="EV_b2"),
            agent_joined(room="room-3", event_id="EV_b3"),
        ]
        for body in bodies:
            assert api.deliver_webhook(body, signed(body)) == 200
        engine.queue_sources[queue_url] = paused

        # When the event source polls
        with clock.running():
            engine.queued(queue_url)

        # Then the function ran once, on the two joins; the room event was deleted unread
        assert (paused.filtered_out, [sorted(b) for b in paused.batches]) == (1, [["room-1", "room-3"]])
        assert len(runs(engine)) == 1
        assert count(engine, queue_url) == 0


# -- failures: visibility timeout on the engine's clock, dead letters ---------------------------


def test_a_record_the_function_fails_on_comes_back_after_the_visibility_timeout_until_dead_lettered() -> None:
    # Given the wait table gone (every verified agent join fails in the function: DynamoDB)
    with DiscreteClock() as clock, LocalEngine(clock, LIVEKIT, template_path=TEMPLATE) as engine:
        api = LocalApi(engine)
        waits = engine.function(WEBHOOK_FUNCTION).environment["WAIT_TABLE_NAME"]
        engine.session.client("dynamodb").delete_table(TableName=waits)
        queue_url, dead_letters = source(engine).queue_url, dead_letter_url(engine)
        body = agent_joined(event_id="EV_fails")
        headers = signed(body)

        with clock.running():
            t0 = clock.now()
            # When a signed agent join is posted
            status = api.deliver_webhook(body, headers)

            # Then it is queued and the function fails on it at once; the message stays in the queue,
            # invisible, and is not received again before the visibility timeout has passed
            assert status == 200
            assert [r.started_at - t0 for r in runs(engine)] == [0]
            assert count(engine, queue_url) == 1
            clock.sleep_until(t0 + VISIBILITY_TIMEOUT_S - 1)
            assert len(runs(engine)) == 1

            # And it is received again each visibility timeout (on the engine's clock), 5 receives in
            # all; the next poll moves it to the dead-letter queue, and nothing runs after that
            clock.sleep_until(t0 + VISIBILITY_TIMEOUT_S * (MAX_RECEIVES + 3))
            assert [r.started_at - t0 for r in runs(engine)] == [
                VISIBILITY_TIMEOUT_S * n for n in range(MAX_RECEIVES)
            ]
            assert count(engine, queue_url) == 0
            (dead,) = receive_all(engine, dead_letters)
            assert dead["Body"] == body
            assert dead["MessageAttributes"]["authorization"]["StringValue"] == headers["Authorization"]


def test_on_a_virtual_clock_a_failed_record_waits_for_others_to_move_time(
    api: LocalApi, engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given the wait table gone (the function fails on a verified agent join), on a VirtualClock,
    # whose sleep would move the time every execution and test shares
    waits = engine.function(WEBHOOK_FUNCTION).environment["WAIT_TABLE_NAME"]
    engine.session.client("dynamodb").delete_table(TableName=waits)
    body = agent_joined(event_id="EV_virtual")
    t0 = clock.now()

    # When a signed agent join is posted and the function fails on it
    assert api.deliver_webhook(body, signed(body)) == 200

    # Then the time has not moved; the retry is announced as the clock's next event, at the
    # visibility timeout, and happens once time is moved there, not before
    assert clock.now() == t0
    assert clock.next_event_at() == t0 + VISIBILITY_TIMEOUT_S
    clock.advance(VISIBILITY_TIMEOUT_S - 1)
    assert len(runs(engine)) == 1
    clock.advance(1)
    deadline = time.monotonic() + 10
    while len(runs(engine)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the retry runs in a thread of its own, not in the one that moved time
    assert [r.started_at - t0 for r in runs(engine)] == [0, VISIBILITY_TIMEOUT_S]


# -- IAM: API Gateway sends as the integration's role -------------------------------------------


def template_copy(tmp_path: Path, edit: tuple[str, str]) -> Path:
    """template.yaml in ``tmp_path`` (beside links to the code it names) with one text replaced."""
    text = TEMPLATE.read_text()
    assert text.count(edit[0]) == 1, edit[0]
    # The engine puts the copy's code first on sys.path: the package stays the repository's.
    importlib.import_module("dispatch_verify")
    for name in ("functions", "statemachine"):  # SAM packages only what is beside the template
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(*edit))
    return copy


SEND_MESSAGE = """              - Effect: Allow
                Action: sqs:SendMessage
                Resource: !GetAtt LiveKitWebhookQueue.Arn"""


def test_the_integration_sends_as_its_role_so_a_role_without_send_message_is_500(
    tmp_path: Path, clock: VirtualClock
) -> None:
    # Given the template with the intake role allowed GetQueueAttributes instead of SendMessage
    template = template_copy(
        tmp_path, (SEND_MESSAGE, SEND_MESSAGE.replace("sqs:SendMessage", "sqs:GetQueueAttributes"))
    )
    with LocalEngine(clock, LIVEKIT, template_path=template) as engine:
        api = LocalApi(engine)
        body = agent_joined()

        # When a signed agent join is posted
        status, answer = intake(api).post(signed(body), body)

        # Then SQS refused the role, API Gateway answers the integration's 500, and nothing is queued
        assert status == 500
        assert json.loads(answer) == {"message": "the webhook could not be queued"}
        assert count(engine, source(engine).queue_url) == 0
        assert runs(engine) == []


# -- what SQS would refuse ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [pytest.param("", id="empty"), pytest.param("\u0000" * 10, id="nul")])
def test_a_body_sqs_cannot_store_is_the_integrations_500(
    api: LocalApi, engine: LocalEngine, body: str
) -> None:
    # Given a body SQS does not accept as a message (moto would store it: the engine refuses it, as SQS
    # does, MissingParameter / InvalidMessageContents)
    # When it is posted as LiveKit posts
    status, _ = intake(api).post({"Content-Type": WEBHOOK_JSON}, body)

    # Then SQS refused it and API Gateway answers 500 (LiveKit would retry)
    assert status == 500
    assert count(engine, source(engine).queue_url) == 0


def test_a_body_over_sqss_size_limit_is_the_integrations_500(api: LocalApi, engine: LocalEngine) -> None:
    # Given a body larger than SQS's 1 MiB message limit (API Gateway itself takes up to 10 MB)
    body = json.dumps({"event": "participant_joined", "x": "y" * (1024 * 1024)})

    # When it is posted as LiveKit posts
    status, answer = intake(api).post({"Content-Type": WEBHOOK_JSON}, body)

    # Then SQS refused it and API Gateway answers the integration's 500; nothing was queued
    assert (status, json.loads(answer)) == (500, {"message": "the webhook could not be queued"})
    assert count(engine, source(engine).queue_url) == 0
