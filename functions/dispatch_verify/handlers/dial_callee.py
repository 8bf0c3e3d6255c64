"""Lambda "Dial callee": dial the callee into the room over SIP, now that the agent is verified there."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.adapters.aws import ledger
from dispatch_verify.handlers import loaded
from dispatch_verify.logic.dial import dial_callee, mask_number
from dispatch_verify.models import StepEvent, WorkflowState
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = WorkflowState.from_state(StepEvent.model_validate(event).state)
    log_context(state)
    sip = state.request.sip
    if sip is not None:  # the number is personal data: only its last four digits are logged
        logger.append_keys(sip_trunk_id=sip.trunk_id, call_to=mask_number(sip.call_to))
    with livekit.connect(config.livekit_credentials()) as port:
        checked = state
        state = dial_callee(state, port, allowed=lambda: ledger.dial_allowed(checked))
    assert state.dialled is not None
    logger.info(
        "callee dialled",
        extra={
            "sip_participant_identity": state.dialled.participant_identity,
            "sip_call_id": state.dialled.sip_call_id,
            "answered": state.dialled.answered,
        },
    )
    return state.model_dump(mode="json")


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
