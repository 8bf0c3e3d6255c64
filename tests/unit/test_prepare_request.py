"""Prepare request: the workflow input becomes the state document, or a named invalid_request."""

from __future__ import annotations

import json

import pytest
from dispatch_verify.clock import iso_utc
from dispatch_verify.errors import InvalidRequestError
from dispatch_verify.handlers import prepare_request as handler
from dispatch_verify.logic.request import prepare_request
from dispatch_verify.models import WorkflowState

from .conftest import AGENT, ROOM, LambdaContext, a_request
from .fakes import FakeTime


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
        "webhook_backstop_s": 30,
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


def test_handler_returns_the_state_document_as_json(now: FakeTime, lambda_context: LambdaContext) -> None:
    # Given the task payload the state machine sends
    event = {"state": a_request(join_timeout_s=20), "execution_name": "exec-7"}

    # When the handler runs
    result = handler.lambda_handler(event, lambda_context)

    # Then it returns a whole, JSON-able WorkflowState
    state = WorkflowState.model_validate(json.loads(json.dumps(result)))
    assert state.request_id == "exec-7"
    assert state.request.options.join_timeout_s == 20
