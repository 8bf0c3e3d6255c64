"""Every handler runs on its events/ sample (the payloads `sam local invoke -e` uses), and the README's
workflow input (events/workflow_input.json, for `aws stepfunctions start-execution`) is one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dispatch_verify.handlers import (
    check_participants,
    close_room,
    dial_callee,
    dispatch_agent,
    escalate,
    record_outcome,
    redispatch_agent,
)
from dispatch_verify.models import WorkflowState
from moto import mock_aws

from .conftest import LambdaContext, load_event
from .fakes import FakeLiveKit

HANDLERS = {
    "dispatch_agent": dispatch_agent.lambda_handler,
    "check_participants": check_participants.lambda_handler,
    "dial_callee": dial_callee.lambda_handler,
    "redispatch_agent": redispatch_agent.lambda_handler,
    "escalate": escalate.lambda_handler,
    "record_outcome": record_outcome.lambda_handler,
    "close_room": close_room.lambda_handler,
}


@pytest.fixture
def sample_world(connected: FakeLiveKit, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLiveKit]:
    """LiveKit replaced by a fake holding the samples' room; SNS and EventBridge in moto."""
    connected.rooms["support-call-4711"] = 600
    with mock_aws():
        monkeypatch.setenv("EVENT_BUS_NAME", "default")
        yield connected


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handler_runs_on_its_sample_event_and_returns_a_workflow_state(
    name: str, sample_world: FakeLiveKit, lambda_context: LambdaContext
) -> None:
    # Given the handler's sample event
    event: dict[str, Any] = load_event(name)

    # When the handler runs on it
    result = HANDLERS[name](event, lambda_context)

    # Then it returns a whole WorkflowState for the same request ("Close heartbeat room" marks it
    # done for "Outcome?", beside the state)
    if name == "close_room":
        assert result.pop("room_cleanup_done") is True
    state = WorkflowState.model_validate(result)
    assert state.request_id == event["state"].get("request", {}).get("request_id", event["execution_name"])


def test_the_workflow_input_sample_is_a_request_dispatch_agent_accepts(
    sample_world: FakeLiveKit, lambda_context: LambdaContext
) -> None:
    # Given events/workflow_input.json, as `aws stepfunctions start-execution --input file://...` sends it
    workflow_input = load_event("workflow_input")

    # When "Dispatch agent" runs on it as the state machine calls it (the input and the execution name)
    result = dispatch_agent.lambda_handler(
        {"state": workflow_input, "execution_name": "call-4711-sample"}, lambda_context
    )

    # Then it is a valid request: nothing escalates, the room, agent and options are the sample's, and
    # the request id is the execution name
    state = WorkflowState.model_validate(result)
    assert state.error is None
    assert (state.request.room, state.request.agent_name) == ("call-4711", "support-agent")
    assert state.request.options.model_dump() == {
        **state.request.options.model_dump(),
        **workflow_input["options"],
    }
    assert state.request_id == "call-4711-sample"
    assert len(state.attempts) == 1  # and the agent was dispatched
