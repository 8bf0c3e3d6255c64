"""Bad input through the API's real handler: always a 4xx naming the field, and nothing started."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalEngine, proxy_event
from tests.integration.api_helpers import a_dispatch
from tests.integration.test_api import executions, get, post

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quiet_engine() -> Iterator[LocalEngine]:
    """One engine for the requests that must start nothing (so none of them pays for a fresh one)."""
    clock = VirtualClock()
    with LiveKitSimulator(clock) as sim:
        credentials = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
        with LocalEngine(clock, credentials, template_path=str(ROOT / "template.yaml")) as local:
            yield local


@pytest.fixture
def quiet_api(quiet_engine: LocalEngine) -> LocalApi:
    return LocalApi(quiet_engine)


@pytest.fixture
def started_before(quiet_engine: LocalEngine) -> list[dict[str, Any]]:
    """The executions the quiet engine had before a test (one test there is accepted and starts one)."""
    return executions(quiet_engine)


OK = {"room": "r", "agent_name": "a"}
CALL = {"trunk_id": "ST_trunk", "call_to": "+15550100123", "participant_identity": "callee"}
EMOJI = "\U0001f600"  # 4 bytes of UTF-8
HUGE = "9" * 5000  # more digits than Python converts to an int by default (4,300)
BAD_BODIES = [
    pytest.param('{"room": "r", "agent_name": ', 400, "body", id="malformed JSON"),
    pytest.param({**OK, "colour": "red"}, 422, "colour", id="unknown field"),
    pytest.param({**OK, "room": ""}, 422, "room", id="empty room"),
    pytest.param({**OK, "agent_name": "a" * 257}, 422, "agent_name", id="over-long agent name"),
    pytest.param({**OK, "room": "r\x07"}, 422, "room", id="control character"),
    pytest.param({**OK, "room": " r"}, 422, "room", id="surrounding space"),
    pytest.param({**OK, "metadata": {"b": "x" * 65_600}}, 422, "metadata", id="metadata over 64 KiB"),
    pytest.param({**OK, "room": 7}, 422, "room", id="wrong type"),
    pytest.param({**OK, "options": {"max_attempts": 0}}, 422, "options.max_attempts", id="option range"),
    pytest.param({**OK, "options": {"join_timeout_s": "x"}}, 422, "options.join_timeout_s", id="type"),
    pytest.param({**OK, "idempotency_key": ""}, 422, "idempotency_key", id="empty key"),
    pytest.param({"agent_name": "a"}, 422, "room", id="missing room"),
    # Names as LiveKit judges them: bytes of UTF-8, and nothing invisible that makes names look alike
    pytest.param({**OK, "room": EMOJI * 256}, 422, "room", id="256 emoji are 1,024 bytes"),
    pytest.param({**OK, "agent_name": "a\u202eb"}, 422, "agent_name", id="bidi override"),
    pytest.param({**OK, "room": "r\u200b"}, 422, "room", id="zero-width space"),
    pytest.param({**OK, "room": "r\x85r"}, 422, "room", id="C1 control"),
    pytest.param({**OK, "room": "r\u2028r"}, 422, "room", id="line separator"),
    pytest.param({**OK, "room": "\ufeffr"}, 422, "room", id="byte order mark"),
    pytest.param({**OK, "room": "r\ufdd0"}, 422, "room", id="noncharacter"),
    pytest.param({**OK, "idempotency_key": "k\x85k"}, 422, "idempotency_key", id="key with a C1 control"),
    pytest.param(
        {**OK, "sip": {**CALL, "participant_identity": EMOJI * 65}},
        422,
        "sip.participant_identity",
        id="identity over 256 bytes",
    ),
    pytest.param({**OK, "sip": {**CALL, "call_to": "+1555\u2060"}}, 422, "sip.call_to", id="word joiner"),
    # Strict types: nothing is coerced
    pytest.param({**OK, "options": {"join_timeout_s": True}}, 422, "options.join_timeout_s", id="true"),
    pytest.param({**OK, "options": {"join_timeout_s": "45"}}, 422, "options.join_timeout_s", id="'45'"),
    pytest.param({**OK, "options": {"max_attempts": 2.0}}, 422, "options.max_attempts", id="2.0"),
    pytest.param({**OK, "options": {"create_room": "no"}}, 422, "options.create_room", id="'no'"),
    pytest.param({**OK, "options": {"create_room": 0}}, 422, "options.create_room", id="0 for false"),
    pytest.param(
        {**OK, "sip": {**CALL, "wait_until_answered": "false"}},
        422,
        "sip.wait_until_answered",
        id="'false'",
    ),
    pytest.param({**OK, "sip": {**CALL, "ringing_timeout_s": "20"}}, 422, "sip.ringing_timeout_s", id="'20'"),
    # Numbers Python's JSON parser cannot hold, and what is not JSON at all
    pytest.param(
        '{"room": "r", "agent_name": "a", "options": {"join_timeout_s": ' + HUGE + "}}",
        422,
        "options.join_timeout_s",
        id="a 5,000-digit option",
    ),
    pytest.param(
        '{"room": "r", "agent_name": "a", "options": {"max_attempts": -' + HUGE + "}}",
        422,
        "options.max_attempts",
        id="a negative 5,000-digit option",
    ),
    pytest.param(
        '{"room": "r", "agent_name": "a", "metadata": {"n": ' + HUGE + "}}",
        422,
        "metadata",
        id="a 5,000-digit number in metadata",
    ),
    pytest.param(
        '{"room": "r", "agent_name": "a", "metadata": {"n": 1e999}}', 422, "metadata", id="1e999 in metadata"
    ),
    pytest.param('{"room": "r", "agent_name": "a", "metadata": {"n": NaN}}', 400, "body", id="NaN"),
    pytest.param(
        '{"room": "r", "agent_name": "a", "metadata": {"n": -Infinity}}', 400, "body", id="Infinity"
    ),
    pytest.param([1, 2], 422, "body", id="not an object"),
    # Too deep for Python 3.11's JSON parser (400); 3.13's parses it, and it is not an object (422).
    pytest.param("[" * 5000 + "]" * 5000, (400, 422), "body", id="nested too deeply"),
]


@pytest.mark.parametrize(("payload", "status", "field"), BAD_BODIES)
def test_bad_input_is_a_client_error_naming_the_field(
    quiet_api: LocalApi,
    quiet_engine: LocalEngine,
    started_before: list[dict[str, Any]],
    payload: Any,
    status: int | tuple[int, ...],
    field: str,
) -> None:
    # Given a bad body
    # When it is posted
    answer = post(quiet_api, payload)

    # Then it is refused with a 4xx naming the field, and nothing started
    assert answer.status in (status if isinstance(status, tuple) else (status,)), answer.body
    fields = [problem["field"] for problem in answer.body["errors"]]
    assert field in fields or (field == "body" and not fields), answer.body
    assert executions(quiet_engine) == started_before


def test_a_malformed_request_id_is_refused_naming_it(quiet_api: LocalApi) -> None:
    # Given an id with characters no request id has
    # When it is looked up
    answer = get(quiet_api, "req~1")

    # Then it is 422 naming request_id
    assert answer.status == 422
    assert [problem["field"] for problem in answer.body["errors"]] == ["request_id"]


def test_an_unknown_request_id_is_not_found(quiet_api: LocalApi) -> None:
    # Given no request
    # When an id is looked up
    answer = get(quiet_api, "req-0000")

    # Then it is 404 with a message
    assert answer.status == 404
    assert "req-0000" in answer.body["message"]


def test_a_body_over_the_limit_is_too_large(
    quiet_api: LocalApi, quiet_engine: LocalEngine, started_before: list[dict[str, Any]]
) -> None:
    # Given a body of 200 KiB (its metadata alone breaks a rule too)
    payload = a_dispatch("api-room-4", "fast-agent", metadata={"blob": "x" * 200 * 1024})

    # When it is posted
    answer = post(quiet_api, payload)

    # Then it is 413, and nothing started
    assert answer.status == 413
    assert executions(quiet_engine) == started_before


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        pytest.param("text/plain", b'{"room": "r", "agent_name": "a"}', 415, id="text"),
        pytest.param("multipart/form-data", b"--x--", 415, id="multipart without boundary"),
        pytest.param("application/x-www-form-urlencoded", b"room=r&agent_name=a", 415, id="form"),
        pytest.param("application/json", b'{"room": "\xd0\x28"}', 400, id="not UTF-8"),
    ],
)
def test_a_body_that_is_not_json_text_is_refused(
    quiet_api: LocalApi,
    quiet_engine: LocalEngine,
    started_before: list[dict[str, Any]],
    content_type: str,
    body: bytes,
    status: int,
) -> None:
    # Given a body that is not UTF-8 JSON, or says it is something else
    route = quiet_api.route("POST", "/dispatches")
    assert route is not None
    event = proxy_event(route, "POST", "/dispatches", [("Host", "h"), ("Content-Type", content_type)], body)

    # When it is posted
    answer = quiet_api.invoke(route, event)

    # Then it is refused with a 4xx and nothing started
    assert answer["statusCode"] == status, answer["body"]
    assert executions(quiet_engine) == started_before


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8"])
def test_a_json_media_type_in_any_case_is_json(
    quiet_api: LocalApi, quiet_engine: LocalEngine, started_before: list[dict[str, Any]], content_type: str
) -> None:
    # Given a JSON body (with an empty room) whose media type is not in lower case (media types are
    # case-insensitive, RFC 9110)
    route = quiet_api.route("POST", "/dispatches")
    assert route is not None
    body = b'{"room": "", "agent_name": "a"}'
    event = proxy_event(route, "POST", "/dispatches", [("Host", "h"), ("Content-Type", content_type)], body)

    # When it is posted
    answer = quiet_api.invoke(route, event)

    # Then it is read as JSON: 422 naming the room, and nothing started
    assert answer["statusCode"] == 422, answer["body"]
    assert [problem["field"] for problem in json.loads(answer["body"])["errors"]] == ["room"]
    assert executions(quiet_engine) == started_before


def test_a_dispatch_posted_as_upper_case_json_is_accepted(
    quiet_api: LocalApi, quiet_engine: LocalEngine, started_before: list[dict[str, Any]]
) -> None:
    # Given a valid body sent as APPLICATION/JSON
    api = quiet_api
    route = api.route("POST", "/dispatches")
    assert route is not None
    payload = a_dispatch("api-room-case", "no-agent", options={"join_timeout_s": 1, "max_attempts": 1})
    body = json.dumps(payload).encode()
    event = proxy_event(
        route, "POST", "/dispatches", [("Host", "h"), ("Content-Type", "APPLICATION/JSON")], body
    )

    # When it is posted
    answer = api.invoke(route, event)

    # Then it is accepted and started
    assert answer["statusCode"] == 202, answer["body"]
    started = [e for e in executions(quiet_engine) if e not in started_before]
    assert [e["name"] for e in started] == [json.loads(answer["body"])["request_id"]]
    quiet_engine.wait(started[0]["executionArn"])  # ended before the engine is (no agent: escalated)
