"""Lambda "Record outcome": the outcome record, the Fail state's summary, and the metrics."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify.adapters.aws import ledger
from dispatch_verify.logic.outcome import record_outcome
from dispatch_verify.logic.request import recover_state
from dispatch_verify.models import StepEvent
from dispatch_verify.observability import (
    CORRELATION_ID_PATH,
    emit_outcome_metrics,
    log_context,
    logger,
    metrics,
    tracer,
)


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    state = recover_state(step.state, step.execution_name)
    log_context(state)
    state = record_outcome(state)
    assert state.outcome is not None
    emit_outcome_metrics(state.outcome)
    ledger.record_outcome(state)
    logger.info("outcome recorded", extra={"outcome": state.outcome.model_dump(mode="json")})
    return state.model_dump(mode="json")
