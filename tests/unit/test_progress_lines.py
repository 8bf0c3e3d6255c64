"""The progress lines `run` and `demo` print for the wait and the deciding steps of the reshaped
workflow (issue 14): how a wait ended, and the outcome a deciding step recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dispatch_verify_cli import describe


def exited(name: str, output: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "TaskStateExited",
        "stateExitedEventDetails": {"name": name, "output": json.dumps(output)},
    }


@pytest.mark.parametrize(
    ("wake", "expected"),
    [
        ({"by": "webhook", "agent_identity": "agent-AJ_1"}, "participant_joined webhook for agent-AJ_1"),
        (
            {"Error": "DynamoDb.ConditionalCheckFailedException", "Cause": "The conditional request failed"},
            "the agent's join came before the wait was recorded: checking at once",
        ),
        ({"Error": "States.Timeout"}, None),
    ],
)
def test_how_a_wait_ended_is_said_in_one_line(wake: dict[str, Any], expected: str | None) -> None:
    # Given "Await agent" ended by a join webhook, by a join marked before its token was recorded, or by
    # its timeout (the check's own line follows)
    # When its exit is described
    line = describe(exited("Await agent", {"wake": wake}), 0, 2)

    # Then the line says so (a timeout says nothing: the check's own line follows)
    if expected is None:
        assert line is None
    else:
        assert line is not None and expected in line


def test_a_check_that_verified_also_says_the_outcome_it_recorded() -> None:
    # Given "Check participants" that found the agent and recorded the outcome
    state = {
        "request": {"room": "r", "agent_name": "a"},
        "check": {"next": "verified", "agent_identity": "agent-AJ_1", "participants": []},
        "outcome": {
            "status": "verified",
            "agent_identity": "agent-AJ_1",
            "join_latency_s": 4.2,
            "attempts": 1,
        },
    }

    # When its exit is described
    line = describe(exited("Check participants", state), 0, 5)

    # Then the join and the verified outcome are both told
    assert line is not None
    assert "agent joined: agent-AJ_1" in line
    assert "VERIFIED: agent-AJ_1 joined 4.2 s after the first dispatch, 1 attempt(s)" in line


def test_the_verified_announcement_is_told_though_its_output_is_the_outcome_alone() -> None:
    # Given "Announce agent verified", whose output is the outcome (OutputPath $.outcome)
    line = describe(exited("Announce agent verified", {"status": "verified"}), 0, 5)

    # Then the line names the event put on the bus
    assert line is not None and "AgentDispatchVerified announced on the event bus" in line
