"""The outcome's page and event: detail-types, the stable event id, the SNS subject's rules."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.announce import (
    MAX_SUBJECT,
    announcement,
    detail_type,
    event_id,
    page,
    subject,
)
from dispatch_verify.logic.escalation import escalation_bundle
from dispatch_verify.models import EscalationBundle, Outcome, SipDetail

from .conftest import a_state

CALL = SipDetail(trunk_id="ST_out", call_to="********0123", participant_identity="callee", reason="busy")


@pytest.mark.parametrize(
    ("status", "call", "cause", "expected"),
    [
        ("verified", False, None, "AgentDispatchVerified"),
        ("verified", True, None, "CallConnected"),
        ("escalated", False, "not_joined", "AgentDispatchEscalated"),
        ("escalated", True, "not_joined", "AgentDispatchEscalated"),  # the agent never came: no call
        ("escalated", True, "dial_failed", "CallNotConnected"),
        ("cancelled", False, None, "AgentDispatchCancelled"),
        ("cancelled", True, None, "AgentDispatchCancelled"),
    ],
)
def test_each_outcome_has_the_detail_type_its_status_call_and_cause_say(
    status: str, call: bool, cause: str | None, expected: str
) -> None:
    assert detail_type(status, call=call, cause=cause) == expected


def test_an_event_id_is_the_same_for_the_same_outcome_and_differs_otherwise() -> None:
    assert event_id("req-1", "AgentDispatchVerified") == event_id("req-1", "AgentDispatchVerified")
    assert event_id("req-1", "AgentDispatchVerified") != event_id("req-2", "AgentDispatchVerified")
    assert event_id("req-1", "AgentDispatchVerified") != event_id("req-1", "AgentDispatchCancelled")


def bundle(**changes: object) -> EscalationBundle:
    state = a_state()
    state.check = None
    made = escalation_bundle(state)
    return made.model_copy(update={"cause": "not_joined", **changes})


def test_a_subject_is_printable_ascii_on_one_line() -> None:
    # Given an agent name with a line break, a tilde, an accent and an emoji
    made = subject(bundle(agent_name="ag~ent\nné😀"))

    # Then the tilde stays, everything outside printable ASCII is a '?'
    assert made == f"Agent not verified: ag~ent?n?? in {bundle().room} (not_joined)"
    assert all(" " <= c <= "~" for c in made)


def test_a_subject_of_exactly_100_characters_is_kept_and_a_longer_one_cut_to_100_with_an_ellipsis() -> None:
    fixed = len("Agent not verified:  in r (not_joined)")
    exact = subject(bundle(agent_name="a" * (MAX_SUBJECT - fixed), room="r"))
    longer = subject(bundle(agent_name="a" * (MAX_SUBJECT - fixed + 1), room="r"))
    assert len(exact) == MAX_SUBJECT == 100 and exact.endswith("(not_joined)")
    full = f"Agent not verified: {'a' * (MAX_SUBJECT - fixed + 1)} in r (not_joined)"
    assert longer == full[:97] + "..."


def test_a_call_not_connected_says_so_with_its_reason() -> None:
    assert subject(bundle(cause="dial_failed", sip=CALL)).endswith("(dial_failed: busy)")
    assert subject(bundle(cause="dial_failed", sip=None)).endswith("(dial_failed: other)")
    assert subject(bundle(cause="dial_failed", sip=CALL)).startswith("Call not connected: ")


def test_a_page_without_an_agent_name_names_it_unknown_and_carries_its_outcomes_event_id() -> None:
    made = page(bundle(agent_name=""))
    assert made.agent_name == "unknown"
    assert made.event_id == event_id(bundle().request_id, "AgentDispatchEscalated")
    assert page(bundle(cause="dial_failed", sip=CALL)).event_id == event_id(
        bundle().request_id, "CallNotConnected"
    )


def test_an_announcement_carries_every_field_of_the_outcome_none_included_and_the_evidence() -> None:
    outcome = Outcome(
        status="escalated", request_id="req-7", room="r", agent_name="a", cause="not_joined",
        started_at="2026-12-02T10:00:00.000Z", finished_at="2026-12-02T10:01:00.000Z",
    )  # fmt: skip
    evidence = bundle()
    made = announcement(outcome, evidence)
    assert made.detail_type == "AgentDispatchEscalated"
    assert made.detail["event_id"] == event_id("req-7", "AgentDispatchEscalated")
    assert made.detail["agent_identity"] is None and "sip" in made.detail  # None fields are there
    assert made.detail["evidence"] == evidence.model_dump(mode="json")
    assert {k: v for k, v in made.detail.items() if k not in ("event_id", "evidence")} == outcome.model_dump(
        mode="json"
    )
