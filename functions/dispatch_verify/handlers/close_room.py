"""Lambda "Close heartbeat room": delete a heartbeat's dispatches and room once its outcome is recorded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.handlers import loaded
from dispatch_verify.logic.heartbeat import close_heartbeat_room
from dispatch_verify.logic.request import recover_state
from dispatch_verify.models import StepEvent
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer

ROOM_CLEANUP_DONE = "room_cleanup_done"


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    # Also reached when "Record outcome" failed: then the state may be the raw input plus the error.
    state = recover_state(step.state, step.execution_name)
    log_context(state)
    try:
        with livekit.connect(config.livekit_credentials()) as port:
            close_heartbeat_room(state, port)
    except DispatchVerifyError as exc:
        # The outcome stands either way; the state machine retries transient errors, then moves on.
        logger.error("heartbeat room not closed", extra={"error": exc.detail.model_dump(mode="json")})
        raise
    # The state as it came (always an object: a failed "Dispatch agent" is wrapped by "Keep the
    # input"), plus ``room_cleanup_done``: "Outcome?" then routes on the outcome instead of here
    # again (``room_cleanup_error`` does that after a failure). The recorded outcome never changes.
    document: dict[str, Any] = {**step.state, ROOM_CLEANUP_DONE: True}
    return document


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
