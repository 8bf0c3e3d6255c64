"""What the ledger learns from a finished execution it repairs from: an escalation's Fail state
(AgentNotVerified, DialFailed) carries the bundle, so its cause; any other failure is internal."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.intake import outcome_of_execution
from dispatch_verify.models import EscalationBundle

from .conftest import AGENT, ROOM


def bundle_json(cause: str) -> str:
    return EscalationBundle.model_validate(
        {
            "request_id": "req-1",
            "room": ROOM,
            "agent_name": AGENT,
            "cause": cause,
            "attempts": 3,
            "dispatches": [],
            "job_states": [],
            "participants": [],
            "started_at": "2026-12-02T17:00:00Z",
            "escalated_at": "2026-12-02T17:02:00Z",
        }
    ).model_dump_json()


@pytest.mark.parametrize(
    ("error", "cause"), [("AgentNotVerified", "not_joined"), ("DialFailed", "dial_failed")]
)
def test_an_escalation_s_failure_gives_the_bundle_s_cause_and_time(error: str, cause: str) -> None:
    # Given an execution that ended in the escalation's Fail state, its bundle as the cause
    described = {"status": "FAILED", "error": error, "cause": bundle_json(cause)}

    # When the ledger reads it
    values = outcome_of_execution(described)

    # Then the outcome is escalated with the bundle's cause and time
    assert (values["status"], values["cause"]) == ("escalated", cause)
    assert values["finished_at"] == "2026-12-02T17:02:00Z"


def test_any_other_failure_of_an_execution_is_internal() -> None:
    described = {"status": "FAILED", "error": "States.Runtime", "cause": bundle_json("not_joined")}
    assert outcome_of_execution(described) == {"cause": "internal", "status": "escalated"}
