"""Lambda "Dispatch agent": dispatch the agent into the room (adopting an earlier try's dispatch)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.adapters.aws import ledger
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.phase import phase_after
from dispatch_verify.models import StepEvent, WorkflowState
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = WorkflowState.from_state(StepEvent.model_validate(event).state)
    log_context(state)
    credentials = config.livekit_credentials()
    with livekit.connect(credentials) as port:
        state = dispatch_agent(state, port, webhooks=config.livekit_webhooks_expected())
    state.livekit_host = urlsplit(credentials.url).hostname  # for the bundle: LiveKit support asks
    log_context(state)
    logger.info("agent dispatched", extra={"deadline_epoch": state.attempts[-1].deadline_epoch})
    ledger.record_progress(state, phase_after(state))
    return state.model_dump(mode="json")
