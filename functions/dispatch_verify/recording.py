"""The outcome, recorded by the step that decides it.

"Check participants" (and "Re-dispatch agent", whose look can find the agent) records a verified
outcome itself, and "Escalate" records an escalation: no step of its own, so a verified dispatch
goes straight from the deciding step to its announcement. "Record outcome" stays for the dial's
outcome and for an escalation whose Lambda failed. Repeating a record is harmless: the ledger's
final write replaces the same values, and the announcement's event id is derived from the request
id and the detail-type, the same on every repeat.
"""

from __future__ import annotations

from dispatch_verify.adapters.aws import ledger
from dispatch_verify.logic.outcome import record_outcome
from dispatch_verify.models import WorkflowState
from dispatch_verify.observability import emit_outcome_metrics, logger, metrics


def decided_here(state: WorkflowState) -> bool:
    """The step's decision ends the workflow as verified: the agent is there and no call is asked
    for (a call's outcome is the dial's, recorded after it)."""
    return state.check is not None and state.check.next == "verified" and state.request.sip is None


def conclude(state: WorkflowState) -> WorkflowState:
    """The outcome, its metrics, its ledger record and its announcement (``state.announcement``)."""
    state = record_outcome(state)
    assert state.outcome is not None
    emit_outcome_metrics(state.outcome)
    metrics.flush_metrics()
    ledger.record_outcome(state)
    logger.info("outcome recorded", extra={"outcome": state.outcome.model_dump(mode="json")})
    return state
