"""Every log line of a step names the request: the request id is the correlation id."""

from __future__ import annotations

import io
import json

import pytest
from dispatch_verify.handlers import dispatch_agent, record_outcome
from dispatch_verify.observability import logger

from .conftest import LambdaContext, a_request, a_state
from .fakes import FakeLiveKit, FakeTime


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The JSON lines the steps' logger writes (its handler holds the stdout of import time)."""
    buffer = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", buffer)
    return buffer


def log_lines(logs: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


def test_dispatch_agent_logs_with_the_request_id_given_in_the_input(
    connected: FakeLiveKit, lambda_context: LambdaContext, logs: io.StringIO
) -> None:
    # Given an input naming its request id
    event = {"state": {**a_request(), "request_id": "crm-991"}, "execution_name": "exec-1"}

    # When the step runs
    dispatch_agent.lambda_handler(event, lambda_context)

    # Then its log lines (accepted, room, dispatched) carry that id as correlation id, with room and agent
    lines = log_lines(logs)
    messages = [line["message"] for line in lines]
    assert [m for m in messages if m in ("request accepted", "room ensured", "agent dispatched")] == [
        "request accepted",
        "room ensured",
        "agent dispatched",
    ]
    for line in lines:
        assert line["correlation_id"] == "crm-991"
        assert (line["request_id"], line["room"], line["agent_name"]) == (
            "crm-991",
            "support-call-4711",
            "inbound-agent",
        )


def test_raw_input_without_request_id_logs_with_the_execution_name(
    now: FakeTime, lambda_context: LambdaContext, logs: io.StringIO
) -> None:
    # Given the raw input of a failed Dispatch agent, without request id
    event = {"state": {"room": "r", "agent_name": "", "error": {"Error": "X"}}, "execution_name": "exec-2"}

    # When Record outcome runs on it
    record_outcome.lambda_handler(event, lambda_context)

    # Then the log lines carry the execution name
    assert {line["correlation_id"] for line in log_lines(logs)} == {"exec-2"}


def test_later_steps_log_with_the_state_request_id(
    now: FakeTime, lambda_context: LambdaContext, logs: io.StringIO
) -> None:
    # Given a prepared state
    event = {"state": a_state().model_dump(mode="json"), "execution_name": "exec-3"}

    # When Record outcome runs on it
    record_outcome.lambda_handler(event, lambda_context)

    # Then the log lines carry the state's request id
    assert {line["correlation_id"] for line in log_lines(logs)} == {"exec-0001"}
