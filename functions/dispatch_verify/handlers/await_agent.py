"""Lambda "Await agent" (``lambda:invoke.waitForTaskToken``): record the task token, look once, return.

The task then waits for ``SendTaskSuccess`` from the LiveKit webhook (``POST /livekit/webhook``) or
for its timeout (``$.wait_s``: the webhook backstop, or the poll interval when no webhooks are
expected; never past the join deadline); either way "Check participants" comes next.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit
from dispatch_verify.adapters.aws import waits
from dispatch_verify.errors import InvalidRequestError
from dispatch_verify.logic.await_agent import await_agent
from dispatch_verify.models import StepEvent, WorkflowState
from dispatch_verify.observability import CORRELATION_ID_PATH, log_context, logger, tracer


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = StepEvent.model_validate(event)
    if not step.task_token:
        raise InvalidRequestError.of("internal", "Await agent needs the task token ($$.Task.Token)")
    state = WorkflowState.from_state(step.state)
    log_context(state)
    with livekit.connect(config.livekit_credentials()) as port:
        result = await_agent(state, step.task_token, port, waits.WaitTokens.from_config(), waits.resume)
    logger.info("awaiting the agent", extra={"result": result})
    return {"result": result}
