"""Lambda "Prepare request": validate the workflow input into the state document."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify.logic.request import prepare_request
from dispatch_verify.models import StepEvent
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    state = prepare_request(step.state, step.execution_name)
    log_context(state)
    logger.info("request accepted", extra={"kind": state.request.kind, **state.request.options.model_dump()})
    return state.model_dump(mode="json")
