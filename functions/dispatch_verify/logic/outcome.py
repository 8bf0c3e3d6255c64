"""Record outcome: what happened, in one record, and the summary the Fail state shows."""

from __future__ import annotations

from dispatch_verify import clock
from dispatch_verify.logic.announce import announcement
from dispatch_verify.logic.dial import sip_detail
from dispatch_verify.logic.escalation import escalation_bundle
from dispatch_verify.models import Attempt, DispatchRecord, Outcome, OutcomeStatus, WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.ledger import LedgerItem


def record_outcome(state: WorkflowState) -> WorkflowState:
    state = state.model_copy(deep=True)
    check = state.check
    verified = (
        check is not None and check.next == "verified" and state.escalation is None and state.error is None
    )
    escalation = state.escalation
    if not verified and escalation is None:
        # Escalate itself failed (its Catch leads here): keep the evidence in the summary anyway.
        failure = state.escalation_error
        logger.error("escalation was not published", extra={"error": failure.Error if failure else None})
        escalation = escalation_bundle(state)
    first = state.attempts[0] if state.attempts else None
    joined_at = check.agent_joined_at_epoch if verified and check else None
    # One vocabulary: a connected call is "verified" (its sip block says answered); one that did not
    # connect is "escalated" with cause dial_failed.
    status: OutcomeStatus = "verified" if verified else "escalated"
    outcome = Outcome(
        status=status,
        request_id=state.request.request_id or "",
        room=state.request.room,
        agent_name=state.request.agent_name,
        kind=state.request.kind,
        cause=escalation.cause if escalation else None,
        last_error=state.last_error,
        agent_identity=check.agent_identity if verified and check else None,
        dispatch_id=_proving_attempt(state).dispatch_id if verified and state.attempts else None,
        dispatch_ids=[a.dispatch_id for a in state.attempts],
        attempts=len(state.attempts),
        dispatches=[DispatchRecord.of(a) for a in state.attempts],
        join_latency_s=round(joined_at - first.created_at_epoch, 3) if joined_at and first else None,
        started_at=state.started_at,
        first_dispatch_at=first.created_at if first else None,
        agent_joined_at=check.agent_joined_at if verified and check else None,
        finished_at=clock.iso_utc(clock.now()),
        sip=sip_detail(state),
    )
    state.outcome = outcome
    state.summary = outcome.model_dump_json() if escalation is None else escalation.model_dump_json()
    state.announcement = announcement(outcome, escalation)
    return state


def _proving_attempt(state: WorkflowState) -> Attempt:
    """The dispatch whose job names the verified identity; else the live one (the latest)."""
    identity = state.check.agent_identity if state.check else None
    for attempt in state.attempts:
        if identity and any(job.participant_identity == identity for job in attempt.job_states):
            return attempt
    return state.live_attempt or state.attempts[-1]


def cancelled_outcome(item: LedgerItem, finished_at: str) -> Outcome:
    """The outcome of a request cancelled through the API (its execution stopped), from its ledger item."""
    first = item.attempts[0] if item.attempts else None
    return Outcome(
        status="cancelled",
        request_id=item.request_id,
        room=item.room,
        agent_name=item.agent_name,
        kind="heartbeat" if item.kind == "heartbeat" else "request",
        last_error=item.last_error,
        dispatch_ids=[a.dispatch_id for a in item.attempts],
        attempts=len(item.attempts),
        dispatches=list(item.attempts),
        started_at=item.accepted_at or finished_at,
        first_dispatch_at=first.created_at if first else None,
        finished_at=finished_at,
        sip=item.sip,
    )
