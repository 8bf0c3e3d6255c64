"""Webhooks: the simulator sends LiveKit's webhook events, signed and encoded as LiveKit does."""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from livekit import api

from clocks import RealClock, VirtualClock
from livekit_sim import LiveKitSimulator, WebhookRecord, signed_headers

from .helpers import KEY, SECRET, dispatch, lk

Delivery = tuple[str, dict[str, str]]


def receiver(key: str = KEY, secret: str = SECRET, **kw: Any) -> api.WebhookReceiver:
    return api.WebhookReceiver(api.TokenVerifier(key, secret, **kw))


def verified(deliveries: list[Delivery]) -> list[api.WebhookEvent]:
    return [receiver().receive(body, headers["Authorization"]) for body, headers in deliveries]


def kinds(events: list[api.WebhookEvent]) -> list[tuple[str, str]]:
    return [(e.event, e.participant.identity) for e in events]


@pytest.fixture
def inbox(sim: LiveKitSimulator) -> list[Delivery]:
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)))
    return got


# -- what is sent ---------------------------------------------------------------------------
def test_a_warm_agent_sends_room_started_then_participant_joined_as_the_clock_moves(
    sim: LiveKitSimulator, clock: VirtualClock, inbox: list[Delivery]
) -> None:
    # Given a dispatch to a warm agent (the room is auto-created)
    job_dispatch = dispatch(sim, "call-1", "warm-agent")
    assert kinds(verified(inbox)) == [("room_started", "")]
    # When time passes, with no request to the simulator
    clock.advance(1)
    # Then the agent's participant_joined arrives: verified, kind AGENT, agent-name attributes, ACTIVE
    events = verified(inbox)
    joined = events[1]
    (job,) = sim.jobs("call-1")
    assert kinds(events) == [("room_started", ""), ("participant_joined", f"agent-{job.id}")]
    assert job.dispatch_id == job_dispatch.id
    assert joined.room.name == "call-1" and joined.room.sid.startswith("RM_")
    assert joined.participant.kind == api.ParticipantInfo.Kind.AGENT
    assert joined.participant.state == api.ParticipantInfo.State.ACTIVE
    assert dict(joined.participant.attributes) == {
        "lk.agent.name": "warm-agent",
        "lk.agent_name": "warm-agent",
    }
    assert joined.participant.joined_at == int(clock.now() - 1 + 0.3)
    assert joined.created_at == int(clock.now() - 1 + 0.3)
    assert joined.id.startswith("EV_") and joined.id != events[0].id
    # And it is LiveKit's encoding: camelCase, int64 as strings, enum names, no Bearer
    body, headers = inbox[1]
    assert headers["Content-Type"] == "application/webhook+json"
    assert not headers["Authorization"].startswith("Bearer")
    raw = json.loads(body)
    assert raw["event"] == "participant_joined"
    assert isinstance(raw["participant"]["joinedAt"], str) and isinstance(raw["createdAt"], str)
    assert raw["participant"]["kind"] == "AGENT" and raw["participant"]["state"] == "ACTIVE"
    assert "joined_at" not in raw["participant"]
    # And the record says the same
    assert [(r.event, r.participant_identity, r.deliveries) for r in sim.webhooks] == [
        ("room_started", "", 1),
        ("participant_joined", f"agent-{job.id}", 1),
    ]
    assert sim.webhooks[1].created_at == pytest.approx(clock.now() - 1 + 0.3)
    assert sim.webhooks[1].id == joined.id


def test_the_token_is_issued_by_the_api_key_for_five_minutes(
    sim: LiveKitSimulator, inbox: list[Delivery]
) -> None:
    # When a room is created
    lk(sim, lambda c: c.room.create_room(api.CreateRoomRequest(name="r")))
    # Then the token's issuer is the API key and it is valid for 300 s
    claims = api.TokenVerifier(KEY, SECRET).verify(inbox[0][1]["Authorization"])
    assert claims.sha256
    raw = jwt.decode(inbox[0][1]["Authorization"], options={"verify_signature": False})
    assert raw["iss"] == KEY
    assert raw["exp"] - raw["nbf"] == 300


def test_wrong_credentials_a_tampered_body_and_an_expired_token_fail_verification(
    sim: LiveKitSimulator, inbox: list[Delivery]
) -> None:
    # Given a signed webhook
    lk(sim, lambda c: c.room.create_room(api.CreateRoomRequest(name="r")))
    body, headers = inbox[0]
    auth = headers["Authorization"]
    # Then another key or secret refuses it
    with pytest.raises(jwt.InvalidIssuerError):
        receiver("otherkey", SECRET).receive(body, auth)
    with pytest.raises(jwt.InvalidSignatureError):
        receiver(KEY, "another-secret-of-some-length").receive(body, auth)
    # And a changed body does not match the token's hash
    with pytest.raises(Exception, match="hash mismatch"):
        receiver().receive(body.replace('"r"', '"s"'), auth)
    # And an expired token (a replay) is refused: past exp, and past the verifier's 60 s leeway
    replay = signed_headers(body, KEY, SECRET, ttl_s=-10)["Authorization"]
    with pytest.raises(jwt.ExpiredSignatureError):
        receiver(leeway=datetime.timedelta(0)).receive(body, replay)
    old = signed_headers(body, KEY, SECRET, ttl_s=-120)["Authorization"]
    with pytest.raises(jwt.ExpiredSignatureError):
        receiver().receive(body, old)
    # While a fresh signature of the same body passes
    fresh = signed_headers(body, KEY, SECRET)
    assert fresh["Content-Type"] == "application/webhook+json"
    assert receiver().receive(body, fresh["Authorization"]).event == "room_started"


def test_delete_room_sends_participant_left_for_everyone_then_room_finished(
    sim: LiveKitSimulator, clock: VirtualClock, inbox: list[Delivery]
) -> None:
    # Given a room with a caller and an agent
    sim.add_participant("call-1", "caller")
    dispatch(sim, "call-1", "warm-agent")
    clock.advance(1)
    (job,) = sim.jobs("call-1")
    # When the room is deleted
    lk(sim, lambda c: c.room.delete_room(api.DeleteRoomRequest(room="call-1")))
    # Then everyone leaves (DISCONNECTED), then the room finishes, in that order
    events = verified(inbox)
    assert kinds(events) == [
        ("room_started", ""),
        ("participant_joined", "caller"),
        ("participant_joined", f"agent-{job.id}"),
        ("participant_left", "caller"),
        ("participant_left", f"agent-{job.id}"),
        ("room_finished", ""),
    ]
    assert {e.participant.state for e in events[3:5]} == {api.ParticipantInfo.State.DISCONNECTED}
    assert events[-1].room.name == "call-1"


def test_an_agent_that_leaves_sends_participant_left_and_the_empty_room_finishes_later(
    make_sim: Callable[..., LiveKitSimulator], clock: VirtualClock
) -> None:
    # Given an agent that leaves 5 s after joining, and a webhook callable
    sim = make_sim(agents={"flaky": "leave:5"})
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)))
    dispatch(sim, "call-1", "flaky")
    # When 6 s pass
    clock.advance(6)
    # Then it joined and left
    (job,) = sim.jobs("call-1")
    agent = f"agent-{job.id}"
    assert kinds(verified(got)) == [
        ("room_started", ""),
        ("participant_joined", agent),
        ("participant_left", agent),
    ]
    # And when the never-used room's empty timeout (300 s) passes, room_finished follows
    clock.advance(300)
    assert kinds(verified(got))[-1] == ("room_finished", "")
    assert sim.room_names() == []


def test_a_caller_leaving_closes_the_room_after_the_departure_timeout(
    sim: LiveKitSimulator, clock: VirtualClock, inbox: list[Delivery]
) -> None:
    # Given a caller and an agent in a room
    sim.add_participant("call-1", "caller")
    dispatch(sim, "call-1", "warm-agent")
    clock.advance(1)
    # When the caller leaves and the departure timeout (20 s) passes, with no request
    assert sim.remove_participant("call-1", "caller")
    clock.advance(20)
    # Then: caller left, then agent left as the room closed, then room_finished
    events = kinds(verified(inbox))
    assert events[3:] == [
        ("participant_left", "caller"),
        ("participant_left", events[2][1]),
        ("room_finished", ""),
    ]


def test_a_joining_participant_sends_nothing_until_it_is_active(
    sim: LiveKitSimulator, inbox: list[Delivery]
) -> None:
    # When a participant is added as JOINING (not yet ACTIVE) and then removed
    sim.add_participant("r", "slow", state="JOINING")
    sim.remove_participant("r", "slow")
    # Then only the room started: participant_joined fires when a participant becomes ACTIVE
    assert kinds(verified(inbox)) == [("room_started", "")]


def test_no_target_no_webhooks_and_setting_none_switches_them_off(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given no target: nothing is recorded
    sim.add_participant("a", "caller")
    assert sim.webhooks == []
    # When a target is set and then switched off
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)))
    sim.add_participant("b", "caller")
    sim.set_webhook(None)
    sim.add_participant("c", "caller")
    clock.advance(1)
    # Then only the events in between were sent and recorded
    assert [(r.event, r.room) for r in sim.webhooks] == [("room_started", "b"), ("participant_joined", "b")]
    assert len(got) == 2


# -- drop, duplicate, seed ------------------------------------------------------------------
def test_drop_everything_sends_nothing_but_records_each_event_with_zero_deliveries(
    sim: LiveKitSimulator,
) -> None:
    # Given every event dropped
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)), drop=1.0)
    # When a participant joins
    sim.add_participant("r", "caller")
    # Then nothing was sent, and both events are recorded as not delivered
    assert got == []
    assert [(r.event, r.deliveries) for r in sim.webhooks] == [("room_started", 0), ("participant_joined", 0)]


def test_duplicate_everything_delivers_each_event_twice_with_the_same_body_and_id(
    sim: LiveKitSimulator,
) -> None:
    # Given every event duplicated
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)), duplicate=1.0)
    # When a participant joins
    sim.add_participant("r", "caller")
    # Then each event arrives twice in a row, identical and verifiable
    events = verified(got)
    assert [e.event for e in events] == ["room_started"] * 2 + ["participant_joined"] * 2
    assert got[0][0] == got[1][0] and got[2][0] == got[3][0]
    assert events[0].id == events[1].id != events[2].id == events[3].id
    assert [r.deliveries for r in sim.webhooks] == [2, 2]


def run_with_seed(clock: VirtualClock, seed: int) -> tuple[list[int], int]:
    sim = LiveKitSimulator(clock, api_key=KEY, api_secret=SECRET)
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)), drop=0.5, seed=seed)
    for i in range(100):
        sim.add_participant(f"room-{i}", "caller")  # room_started + participant_joined
    sim.stop()
    return [r.deliveries for r in sim.webhooks], len(got)


def test_a_seeded_drop_share_is_about_half_and_the_same_on_a_second_run(clock: VirtualClock) -> None:
    # When 200 events are produced twice with drop=0.5 and the same seed, and once with another
    first, sent = run_with_seed(clock, 7)
    again, _ = run_with_seed(clock, 7)
    other, _ = run_with_seed(clock, 8)
    # Then about half were sent, exactly the same ones each time with that seed
    assert len(first) == 200
    assert 70 <= sent <= 130
    assert sent == sum(first)
    assert set(first) == {0, 1}
    assert again == first
    assert other != first


# -- URL targets ----------------------------------------------------------------------------
class Collector(BaseHTTPRequestHandler):
    got: list[tuple[str, dict[str, str], str]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.got.append((self.command, dict(self.headers.items()), body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, str], str]], type[Collector]]]:
    got: list[tuple[str, dict[str, str], str]] = []
    handler = type("Handler", (Collector,), {"got": got})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/livekit/webhook", got, handler
    server.shutdown()
    server.server_close()


def wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_url_target_receives_signed_posts_in_order_on_real_time(
    collector: tuple[str, list[tuple[str, dict[str, str], str]], type[Collector]],
) -> None:
    url, got, _ = collector
    # Given a served simulator on real time, webhooks to a local HTTP server
    with LiveKitSimulator(RealClock(), api_key=KEY, api_secret=SECRET, agents={"bot": "warm"}) as sim:
        sim.set_webhook(url)
        # When a dispatch is made and then nothing is asked: the agent joins 0.3 s later
        dispatch(sim, "call-1", "bot")
        wait_for(lambda: len(got) >= 2)
        # And the room is deleted
        lk(sim, lambda c: c.room.delete_room(api.DeleteRoomRequest(room="call-1")))
        wait_for(lambda: len(got) >= 4)
    # Then four POSTs arrived in order with LiveKit's headers, each verifiable
    assert [m for m, _, _ in got] == ["POST"] * 4
    assert {h["Content-Type"] for _, h, _ in got} == {"application/webhook+json"}
    assert not any(h["Authorization"].startswith("Bearer") for _, h, _ in got)
    events = [receiver().receive(body, h["Authorization"]) for _, h, body in got]
    agent = sim.jobs("call-1")[0].state.participant_identity
    assert kinds(events) == [
        ("room_started", ""),
        ("participant_joined", agent),
        ("participant_left", agent),
        ("room_finished", ""),
    ]


def test_failed_posts_are_logged_without_the_token_and_not_retried(
    collector: tuple[str, list[tuple[str, dict[str, str], str]], type[Collector]],
    caplog: pytest.LogCaptureFixture,
    clock: VirtualClock,
) -> None:
    url, got, handler = collector
    handler.status = 500
    caplog.set_level(logging.WARNING, logger="livekit_sim.webhooks")
    sim = LiveKitSimulator(clock, api_key=KEY, api_secret=SECRET)
    # Given a URL that answers 500 and then one nobody listens on
    sim.set_webhook(url + "?token=abc")
    sim.add_participant("r", "caller")
    wait_for(lambda: len(got) == 2)
    sim.set_webhook("http://127.0.0.1:9/nobody")
    sim.add_participant("s", "caller")
    sim.stop()  # waits for the queued POSTs
    # Then each failure was logged once (no retries), without the secret, token or query
    assert len(got) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "HTTP 500" in m]) == 2
    assert len([m for m in messages if "127.0.0.1:9/nobody failed" in m]) == 2
    text = "\n".join(messages)
    assert "token=abc" not in text and SECRET not in text
    assert got[0][1]["Authorization"] not in text


# -- robustness and arguments ---------------------------------------------------------------
def test_a_raising_callable_is_logged_and_the_api_keeps_working(
    sim: LiveKitSimulator, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a webhook callable that always raises
    def broken(body: str, headers: dict[str, str]) -> None:
        raise RuntimeError("receiver down")

    sim.set_webhook(broken)
    # When the API is used and time passes
    dispatch(sim, "call-1", "warm-agent")
    clock.advance(1)
    # Then the simulator works on and the failures are logged
    (agent,) = sim.participants("call-1")
    assert agent.kind == api.ParticipantInfo.Kind.AGENT
    assert [r.event for r in sim.webhooks] == ["room_started", "participant_joined"]
    raised = [r for r in caplog.records if r.exc_info and "receiver down" in str(r.exc_info[1])]
    assert len(raised) == 2


def test_a_callable_may_call_the_simulator_and_the_order_holds(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given a webhook callable that calls back into the simulator (API over HTTP, and the clock)
    seen: list[tuple[str, int]] = []

    def nosy(body: str, headers: dict[str, str]) -> None:
        event = json.loads(body)
        room = event["room"]["name"]
        count = len(lk(sim, lambda c: c.room.list_rooms(api.ListRoomsRequest())).rooms)
        seen.append((event["event"], count))
        if event["event"] == "participant_joined" and room == "call-1":
            lk(sim, lambda c: c.room.delete_room(api.DeleteRoomRequest(room=room)))

    sim.set_webhook(nosy)
    # When an agent joins, and the callable deletes the room in reaction
    dispatch(sim, "call-1", "warm-agent")
    clock.advance(1)
    # Then every event arrived once, in order, with no deadlock
    assert [e for e, _ in seen] == ["room_started", "participant_joined", "participant_left", "room_finished"]
    assert seen[-1] == ("room_finished", 0)


def test_a_virtual_clock_subscription_ends_with_set_webhook_none_and_stop(
    make_sim: Callable[..., LiveKitSimulator], clock: VirtualClock
) -> None:
    # Given a dispatch whose agent joins 0.3 s later, with webhooks switched off again
    sim = make_sim(agents={"warm-agent": "warm"})
    got: list[Delivery] = []
    sim.set_webhook(lambda body, headers: got.append((body, headers)))
    dispatch(sim, "call-1", "warm-agent")
    sim.set_webhook(None)
    # When time passes
    clock.advance(1)
    # Then nothing more is sent, and the world stays lazy (the join is applied on the next request)
    assert kinds(verified(got)) == [("room_started", "")]
    assert len(sim.participants("call-1")) == 1


def test_virtual_clock_subscribers_get_the_new_now_and_can_unsubscribe() -> None:
    clock = VirtualClock(start=100.0)
    seen: list[float] = []
    unsubscribe = clock.subscribe(seen.append)
    clock.advance(1)
    clock.sleep(2)
    unsubscribe()
    unsubscribe()
    clock.advance(5)
    assert seen == [101.0, 103.0]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"drop": -0.1}, "drop"),
        ({"drop": 1.5}, "drop"),
        ({"duplicate": 2}, "duplicate"),
        ({"duplicate": float("nan")}, "duplicate"),
        ({"drop": "half"}, "drop"),
    ],
)
def test_set_webhook_rejects_shares_outside_0_to_1(
    sim: LiveKitSimulator, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sim.set_webhook(lambda body, headers: None, **kw)
    assert sim.webhooks == []


@pytest.mark.parametrize("target", ["ftp://example.com/hook", "example.com/hook", "http://", 42, b"http://x"])
def test_set_webhook_rejects_unsupported_targets(sim: LiveKitSimulator, target: Any) -> None:
    with pytest.raises(ValueError, match="webhook"):
        sim.set_webhook(target)
    sim.add_participant("r", "caller")
    assert sim.webhooks == []


def test_webhook_records_are_frozen_copies(sim: LiveKitSimulator, inbox: list[Delivery]) -> None:
    sim.add_participant("r", "caller")
    records = sim.webhooks
    records.clear()
    assert len(sim.webhooks) == 2
    with pytest.raises(AttributeError):
        sim.webhooks[0].deliveries = 5  # type: ignore[misc]
    assert isinstance(sim.webhooks[0], WebhookRecord)
