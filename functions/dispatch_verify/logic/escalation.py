"""Escalate: gather the evidence a LiveKit support ticket needs, and publish it."""

from __future__ import annotations

from dispatch_verify import clock
from dispatch_verify.errors import Cause, detail_from_step_functions_error
from dispatch_verify.logic.dial import sip_detail
from dispatch_verify.models import EscalationBundle, WorkflowState
from dispatch_verify.ports.escalation import EscalationChannel


def escalate(state: WorkflowState, channel: EscalationChannel) -> WorkflowState:
    state = state.model_copy(deep=True)
    bundle = escalation_bundle(state)
    channel.publish(bundle)
    state.escalation = bundle
    return state


def escalation_bundle(state: WorkflowState) -> EscalationBundle:
    """The bundle; also records the caught error (if any) as ``state.last_error``.

    Only identifiers, times, states and LiveKit's own error text: never metadata or credentials.
    """
    if state.error is not None:
        state.last_error = detail_from_step_functions_error(state.error.Error, state.error.Cause)
    request = state.request
    return EscalationBundle(
        request_id=request.request_id or "",
        room=request.room,
        agent_name=request.agent_name,
        kind=request.kind,
        cause=escalation_cause(state),
        attempts=len(state.attempts),
        dispatches=[{"dispatch_id": a.dispatch_id, "created_at": a.created_at} for a in state.attempts],
        job_states=[job for attempt in state.attempts for job in attempt.job_states],
        participants=state.check.participants if state.check else [],
        participants_total=state.check.participants_total if state.check else 0,
        participants_by_kind=state.check.participants_by_kind if state.check else {},
        last_error=state.last_error,
        started_at=state.started_at,
        escalated_at=clock.iso_utc(clock.now()),
        sip=sip_detail(state),
    )


def escalation_cause(state: WorkflowState) -> Cause:
    """A caught error explains itself; otherwise the last check said why it gave up."""
    if state.error is not None and state.last_error is not None:
        return state.last_error.cause
    if state.check is not None and state.check.cause is not None:
        return state.check.cause
    return state.last_error.cause if state.last_error is not None else "internal"
