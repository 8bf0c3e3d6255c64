"""Lambda "Ensure room": create the room before dispatching into it (when the request asks for it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.logic.dispatch import ensure_room
from dispatch_verify.models import StepEvent, WorkflowState
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = WorkflowState.from_state(StepEvent.model_validate(event).state)
    log_context(state)
    if not state.request.options.create_room:
        logger.info("room creation not requested")
        return state.model_dump(mode="json")
    with livekit.connect(config.livekit_credentials()) as port:
        state = ensure_room(state, port)
    logger.info("room ensured")
    return state.model_dump(mode="json")
