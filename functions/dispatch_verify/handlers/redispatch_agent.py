"""Lambda "Re-dispatch agent": cancel the stale dispatch and dispatch again (unless the agent arrived)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.adapters.aws import ledger, waits
from dispatch_verify.handlers import loaded
from dispatch_verify.logic.dispatch import redispatch_agent
from dispatch_verify.logic.phase import phase_after
from dispatch_verify.models import StepEvent, WorkflowState
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer
from dispatch_verify.recording import conclude, decided_here


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = WorkflowState.from_state(StepEvent.model_validate(event).state)
    log_context(state)
    webhooks = config.livekit_webhooks_expected()
    with livekit.connect(config.livekit_credentials()) as port:
        looked_at = waits.expect_the_join(state, webhooks)
        state = redispatch_agent(state, port, webhooks=webhooks, looked_at=looked_at)
    log_context(state)
    assert state.check is not None
    logger.info("re-dispatch done", extra={"next": state.check.next, "cause": state.check.cause})
    if decided_here(state):  # its look found the agent
        state = conclude(state)
    else:
        ledger.record_progress(state, phase_after(state))
    return state.model_dump(mode="json")


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
