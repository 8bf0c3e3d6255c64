"""What a running request is doing, as ``GET /dispatches/{id}`` shows it (``phase``): written to the
ledger by the steps that write their progress there (Dispatch agent, Check participants, Re-dispatch
agent; the API writes "dispatching" when it accepts the request)."""

from __future__ import annotations

from dispatch_verify.models import Phase, WorkflowState


def phase_after(state: WorkflowState) -> Phase:
    """The phase the workflow enters after a step returned ``state`` (it routes on ``check.next``)."""
    next_step = state.check.next if state.check else "wait"
    if next_step == "verified":
        return "dialling" if state.request.sip is not None else "recording"
    if next_step == "redispatch":
        return "redispatching"
    if next_step == "escalate":
        return "escalating"
    return "waiting_for_agent"
