"""Lambda "Record outcome": the outcome record, the Fail state's summary, and the metrics, for the
outcomes no deciding step recorded: a dial's, and an escalation whose Lambda failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify.handlers import loaded
from dispatch_verify.logic.request import recover_state
from dispatch_verify.models import StepEvent
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer
from dispatch_verify.recording import conclude


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    state = recover_state(step.state, step.execution_name)
    log_context(state)
    return conclude(state).model_dump(mode="json")


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
