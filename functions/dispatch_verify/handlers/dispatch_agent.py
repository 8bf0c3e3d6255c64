"""Lambda "Dispatch agent", the workflow's first step: validate the input into the state document,
create the room (unless it exists, or the request says not to), and dispatch the agent (adopting an
earlier try's dispatch). One step, so a cold stack starts one function before CreateDispatch is sent.

Each part is safe to run again (the step is retried on LiveKit's transient errors): validation is
pure, CreateRoom is idempotent in LiveKit, and a live dispatch of this request is adopted, never
duplicated. A failure (an invalid input included) is caught by the state machine with the raw input
kept beside it ("Keep the input"), from which Escalate recovers the request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.adapters.aws import ledger, waits
from dispatch_verify.handlers import loaded
from dispatch_verify.logic.dispatch import dispatch_agent, ensure_room
from dispatch_verify.logic.phase import phase_after
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
    credentials = config.livekit_credentials()
    webhooks = config.livekit_webhooks_expected()
    with livekit.connect(credentials) as port:
        if state.request.options.create_room:
            state = ensure_room(state, port)
            logger.info("room ensured", extra={"room_sid": state.room_sid})
        else:
            logger.info("room creation not requested")
        looked_at = waits.expect_the_join(state, webhooks)
        state = dispatch_agent(state, port, webhooks=webhooks, looked_at=looked_at)
    state.livekit_host = urlsplit(credentials.url).hostname  # for the bundle: LiveKit support asks
    log_context(state)
    logger.info("agent dispatched", extra={"deadline_epoch": state.attempts[-1].deadline_epoch})
    ledger.record_progress(state, phase_after(state))
    return state.model_dump(mode="json")


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
