"""Dispatch agent's first part: the workflow input becomes the state document, or a named invalid_request."""

from __future__ import annotations

import json

import pytest
from dispatch_verify.clock import iso_utc
from dispatch_verify.errors import InvalidRequestError
from dispatch_verify.handlers import dispatch_agent as handler
from dispatch_verify.logic.request import prepare_request
from dispatch_verify.models import WorkflowState

from .conftest import AGENT, ROOM, LambdaContext, a_request
from .fakes import FakeLiveKit, FakeTime


def test_valid_request_gets_default_options_and_the_execution_name_as_request_id(now: FakeTime) -> None:
    # Given a request with no request id and no options
    raw = {"room": ROOM, "agent_name": AGENT}

    # When it is prepared in execution "exec-42"
    state = prepare_request(raw, "exec-42")

    # Then the request id is the execution name, the options are the defaults, the start is now
    assert state.request_id == "exec-42"
    assert state.request.options.model_dump() == {
        "join_timeout_s": 45,
        "poll_interval_s": 3,
        "webhook_backstop_s": 45,
        "max_attempts": 3,
        "create_room": True,
        "room_empty_timeout_s": None,
    }
    assert state.started_at == iso_utc(now())
    assert state.attempts == [] and state.check is None


def test_request_id_given_in_the_input_is_kept(now: FakeTime) -> None:
    # Given a request that names its own id
    raw = {**a_request(), "request_id": "crm-ticket-991"}

    # When it is prepared
    state = prepare_request(raw, "exec-42")

    # Then that id is the request id
    assert state.request_id == "crm-ticket-991"


def test_metadata_given_as_a_json_object_is_passed_on_as_a_json_string(now: FakeTime) -> None:
    # Given metadata as a JSON object
    raw = a_request()

    # When it is prepared
    state = prepare_request(raw, "exec-42")

    # Then LiveKit will receive it as the JSON text of that object
    assert json.loads(state.request.metadata) == {"caller": "+4930123456"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"room": ROOM, "agent_name": ""}, "agent_name"),
        ({"agent_name": AGENT}, "room"),
        ({"room": "bad\nroom", "agent_name": AGENT}, "room"),
        ({"room": ROOM, "agent_name": AGENT, "options": {"max_attempts": 0}}, "options.max_attempts"),
        ({"room": ROOM, "agent_name": AGENT, "agnet_name": "typo"}, "agnet_name"),
    ],
)
def test_malformed_input_is_an_invalid_request_naming_the_field(
    now: FakeTime, raw: dict[str, object], field: str
) -> None:
    # Given a malformed input
    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request(raw, "exec-42")

    # Then the error is invalid_request and names the field
    assert raised.value.detail.cause == "invalid_request"
    assert field in raised.value.detail.message


def test_input_that_is_not_an_object_is_an_invalid_request(now: FakeTime) -> None:
    # Given an input that is a list
    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request(["room", "agent"], "exec-42")

    # Then it says what was expected
    assert "JSON object" in raised.value.detail.message


def test_invalid_request_message_does_not_echo_the_input(now: FakeTime) -> None:
    # Given metadata that is too large and carries something private
    raw = {**a_request(), "metadata": "private-" + "x" * 70_000}

    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request(raw, "exec-42")

    # Then the message names the field but not its value
    assert "metadata" in str(raised.value)
    assert "private-" not in str(raised.value)


def test_handler_returns_the_state_document_as_json(
    connected: FakeLiveKit, lambda_context: LambdaContext
) -> None:
    # Given the task payload the state machine sends to "Dispatch agent" (the raw input)
    event = {"state": a_request(join_timeout_s=20), "execution_name": "exec-7"}

    # When the handler runs
    result = handler.lambda_handler(event, lambda_context)

    # Then it returns a whole, JSON-able WorkflowState
    state = WorkflowState.model_validate(json.loads(json.dumps(result)))
    assert state.request_id == "exec-7"
    assert state.request.options.join_timeout_s == 20
    # And, validated, the room was ensured and the agent dispatched in the same step
    assert connected.calls[:1] == ["create_room"] and "create_dispatch" in connected.calls
    assert [a.dispatch_id for a in state.attempts] == [d.dispatch_id for d in connected.list_dispatches(ROOM)]


# -- names as LiveKit judges them: bytes, and no invisible or control characters ---------------

SIP = {"trunk_id": "ST_trunk", "call_to": "+15550100123", "participant_identity": "callee"}
EMOJI = "\U0001f600"  # 4 bytes of UTF-8


def _with(path: str, value: object) -> dict[str, object]:
    """A valid input with ``value`` at ``path`` (dotted: "options.join_timeout_s", "sip.call_to")."""
    raw: dict[str, object] = {"room": ROOM, "agent_name": AGENT, "sip": dict(SIP)}
    *parents, leaf = path.split(".")
    target = raw
    for part in parents:
        target = target.setdefault(part, {})  # type: ignore[assignment]
    target[leaf] = value
    return raw


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("room", EMOJI * 256, id="256 emoji: 1,024 bytes"),
        pytest.param("room", EMOJI * 64 + "a", id="257 bytes"),
        pytest.param("agent_name", "é" * 129, id="258 bytes of accented letters"),
        pytest.param("sip.participant_identity", EMOJI * 65, id="identity over 256 bytes"),
        pytest.param("room", "call\x854711", id="C1 control NEL"),
        pytest.param("room", "call\x9b4711", id="C1 control CSI"),
        pytest.param("agent_name", "agent\u202egnp.exe", id="bidi override"),
        pytest.param("agent_name", "support\u200bagent", id="zero-width space"),
        pytest.param("room", "\ufeffcall-4711", id="byte order mark"),
        pytest.param("room", "call\u2028line", id="line separator"),
        pytest.param("room", "call\u2029para", id="paragraph separator"),
        pytest.param("room", "call\u00a04711", id="no-break space"),
        pytest.param("room", "call\u30004711", id="ideographic space"),
        pytest.param("room", "call\ufdd0", id="noncharacter U+FDD0"),
        pytest.param("room", "call\uffff", id="noncharacter U+FFFF"),
        pytest.param("room", "call\U0001fffe", id="noncharacter U+1FFFE"),
        pytest.param("room", "call\ud800", id="lone surrogate"),
        pytest.param("request_id", "crm\x1b[31m", id="request id with an escape"),
        pytest.param("sip.participant_identity", "callee\u200d", id="identity with a zero-width joiner"),
        pytest.param("sip.participant_name", "Kunde\u2066", id="participant name with a bidi isolate"),
        pytest.param("sip.trunk_id", "ST_\x00", id="trunk id with NUL"),
        pytest.param("sip.call_to", "+1555\u20600100", id="number with a word joiner"),
        pytest.param("agent_name", "agent ", id="trailing space"),
    ],
)
def test_a_name_livekit_would_refuse_or_that_looks_like_another_is_an_invalid_request(
    now: FakeTime, field: str, value: str
) -> None:
    # Given a name over 256 bytes of UTF-8, or with a control, format or separator character or a
    # noncharacter in it
    raw = _with(field, value)

    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request(raw, "exec-42")

    # Then it is invalid_request naming the field, without echoing the value
    assert raised.value.detail.cause == "invalid_request"
    assert field in raised.value.detail.message
    assert value not in raised.value.detail.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("room", EMOJI * 64, id="64 emoji: exactly 256 bytes"),
        pytest.param("room", "a" * 256, id="256 ASCII characters"),
        pytest.param("room", "call 4711", id="a plain space inside"),
        pytest.param("room", "Besprechungsraum Köln ☕", id="letters and symbols"),
        pytest.param("agent_name", "会議室-エージェント", id="CJK"),
        pytest.param("agent_name", "\u2764\ufe0f-agent", id="emoji with a variation selector"),
        pytest.param("sip.participant_identity", "Anrufer \U0001f4de", id="identity with an emoji"),
    ],
)
def test_names_livekit_accepts_are_kept_as_given(now: FakeTime, field: str, value: str) -> None:
    # Given a name of at most 256 bytes, printable, plain spaces only inside
    raw = _with(field, value)

    # When it is prepared
    state = prepare_request(raw, "exec-42")

    # Then it is kept as given
    document = state.model_dump(mode="json")
    *parents, leaf = ("request." + field).split(".")
    for part in parents:
        document = document[part]
    assert document[leaf] == value


def test_a_state_an_earlier_version_admitted_is_still_read(now: FakeTime) -> None:
    # Given a state whose names an earlier version admitted (characters and lengths now refused)
    state = prepare_request({"room": ROOM, "agent_name": AGENT, "sip": SIP}, "exec-42")
    document = state.model_dump(mode="json")
    document["request"]["room"] = "call\x854711"
    document["request"]["agent_name"] = EMOJI * 256
    document["request"]["sip"]["participant_identity"] = "callee\u200b"

    # When a later step reads it
    read = WorkflowState.from_state(json.loads(json.dumps(document)))

    # Then the execution goes on with the names it started with
    assert (read.request.room, read.request.agent_name) == ("call\x854711", EMOJI * 256)


# -- strict types for every option and SIP field -----------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("options.join_timeout_s", True, id="true is not 1"),
        pytest.param("options.join_timeout_s", "45", id="a string is not a number"),
        pytest.param("options.join_timeout_s", 45.0, id="a float is not a whole number of seconds"),
        pytest.param("options.poll_interval_s", False, id="false is not 0"),
        pytest.param("options.webhook_backstop_s", "30", id="backstop as a string"),
        pytest.param("options.max_attempts", 2.0, id="attempts as a float"),
        pytest.param("options.create_room", "no", id="'no' is not false"),
        pytest.param("options.create_room", 0, id="0 is not false"),
        pytest.param("options.create_room", "true", id="'true' is not true"),
        pytest.param("options.room_empty_timeout_s", "300", id="empty timeout as a string"),
        pytest.param("sip.wait_until_answered", "false", id="'false' is not false"),
        pytest.param("sip.wait_until_answered", 1, id="1 is not true"),
        pytest.param("sip.ringing_timeout_s", "20", id="ringing timeout as a string"),
        pytest.param("sip.ringing_timeout_s", True, id="ringing timeout true"),
    ],
)
def test_an_option_or_sip_field_of_the_wrong_type_is_an_invalid_request_not_coerced(
    now: FakeTime, field: str, value: object
) -> None:
    # Given a value that lax parsing would coerce (true to 1, "45" to 45, "no" to false)
    raw = _with(field, value)

    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request(raw, "exec-42")

    # Then it is invalid_request naming the field
    assert raised.value.detail.cause == "invalid_request"
    assert field in raised.value.detail.message


def test_the_state_with_its_options_and_call_survives_the_json_between_steps(now: FakeTime) -> None:
    # Given a prepared request with every option and a call
    options = {
        "join_timeout_s": 20,
        "poll_interval_s": 2,
        "webhook_backstop_s": 15,
        "max_attempts": 2,
        "create_room": False,
        "room_empty_timeout_s": 600,
    }
    sip = {**SIP, "participant_name": "Kunde", "wait_until_answered": False, "ringing_timeout_s": 20}
    state = prepare_request({"room": ROOM, "agent_name": AGENT, "options": options, "sip": sip}, "exec-42")

    # When the next step reads it back from JSON
    read = WorkflowState.from_state(json.loads(json.dumps(state.model_dump(mode="json"))))

    # Then the strict types read JSON's numbers and booleans as they were
    assert read == state
