"""The outcome's announcements: one EventBridge event for systems (every outcome) and one SNS page for
people (escalations), each published by a state of its own ("Announce outcome", "Page on-call").

Every message carries the request id and the outcome's ``event_id``: a UUID derived from the request id
and the detail-type, the same however often a step is retried and the same in the page and the event
of one outcome, so a consumer that sees a message twice (SNS and EventBridge deliver at least once)
drops the repeat by it.
"""

from __future__ import annotations

import uuid

from dispatch_verify.models import Announcement, EscalationBundle, Outcome, OutcomeEvent, Page

SOURCE = "dispatch-verify"
VERIFIED, ESCALATED, CANCELLED = "AgentDispatchVerified", "AgentDispatchEscalated", "AgentDispatchCancelled"
CALL_CONNECTED, CALL_NOT_CONNECTED = "CallConnected", "CallNotConnected"
DETAIL_TYPES = (VERIFIED, ESCALATED, CANCELLED, CALL_CONNECTED, CALL_NOT_CONNECTED)
MAX_SUBJECT = 100  # SNS: printable ASCII, no line break, at most 100 characters
_NAMESPACE = uuid.UUID("6f1c1f4e-3b1a-5d7e-9a53-0d1c2a7e4b10")  # dispatch-verify's outcome events


def detail_type(status: str, *, call: bool, cause: str | None) -> str:
    """The detail-type of an outcome: a call's own when a call was requested and the agent was in."""
    if status == "cancelled":
        return CANCELLED
    if status == "verified":
        return CALL_CONNECTED if call else VERIFIED
    return CALL_NOT_CONNECTED if cause == "dial_failed" else ESCALATED


def event_id(request_id: str, kind: str) -> str:
    """The outcome's stable id: the same for every retry of the step that announces it."""
    return str(uuid.uuid5(_NAMESPACE, f"{request_id}/{kind}"))


def page(bundle: EscalationBundle) -> Page:
    """The SNS page of an escalation: its subject and the ids a subscriber deduplicates on."""
    kind = detail_type("escalated", call=bundle.sip is not None, cause=bundle.cause)
    return Page(subject=subject(bundle), event_id=event_id(bundle.request_id, kind),
                agent_name=bundle.agent_name or "unknown")  # fmt: skip


def announcement(outcome: Outcome, evidence: EscalationBundle | None) -> Announcement:
    """The EventBridge entry of an outcome: its detail-type, and the outcome with its event id (and,
    when escalated, the evidence bundle) as detail."""
    kind = detail_type(outcome.status, call=outcome.sip is not None, cause=outcome.cause)
    detail = OutcomeEvent(
        **outcome.model_dump(), event_id=event_id(outcome.request_id, kind), evidence=evidence
    )
    return Announcement(detail_type=kind, detail=detail.model_dump(mode="json", exclude_none=False))


def subject(bundle: EscalationBundle) -> str:
    """SNS subjects are printable ASCII without line breaks, at most 100 characters."""
    where = f"{bundle.agent_name or 'unknown'} in {bundle.room or 'unknown'}"
    if bundle.cause == "dial_failed":  # the agent is there; the callee is not
        reason = bundle.sip.reason if bundle.sip else None
        text = f"Call not connected: {where} ({bundle.cause}: {reason or 'other'})"
    else:
        text = f"Agent not verified: {where} ({bundle.cause})"
    ascii_only = "".join(c if " " <= c <= "~" else "?" for c in text)
    return ascii_only if len(ascii_only) <= MAX_SUBJECT else ascii_only[: MAX_SUBJECT - 3] + "..."
