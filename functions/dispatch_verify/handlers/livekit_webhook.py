"""Lambda behind API Gateway's ``POST /livekit/webhook``: LiveKit's webhooks, in a function of their own.

The route is open to the internet (LiveKit cannot sign AWS requests; its own JWT, checked here, is
the authentication), so it runs apart from the dispatch API, with a role that can only read the
LiveKit secret, find and delete wait tokens, claim event ids and resume this stack's executions, and
with reserved concurrency (template parameter ``LiveKitWebhookConcurrency``): a flood of posts is
throttled here and cannot take the concurrency the workflow's steps and the API need.

Answers: 401 for a body not signed by this LiveKit project (missing, forged, tampered, expired), 400
for a signed body that is not a ``WebhookEvent``, 413 for one over ``MAX_BODY_BYTES``, else 200 with
what it did (``WebhookAck``); a delivery of an event already acted on is 200 and resumes nothing.
The operation is documented in the API's OpenAPI document (``docs/openapi.json``) beside the others.
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from dispatch_verify import config
from dispatch_verify.adapters import livekit_webhook as webhook
from dispatch_verify.adapters.aws import waits
from dispatch_verify.adapters.aws.webhook_events import WebhookEvents
from dispatch_verify.answers import Problem, WebhookAck
from dispatch_verify.handlers import loaded
from dispatch_verify.observability import logger, tracer

MAX_BODY_BYTES = 100 * 1024
PATH = "/livekit/webhook"

app = APIGatewayRestResolver()


def _answer(status: HTTPStatus, description: str, model: type[BaseModel] = Problem) -> dict[int, Any]:
    return {status.value: {"description": description, "content": {"application/json": {"model": model}}}}


@app.post(
    PATH,
    summary="LiveKit webhook: a verified participant_joined of an awaited agent resumes its workflow",
    responses={
        **_answer(HTTPStatus.OK, "Verified; acted on (an agent's participant_joined) or ignored", WebhookAck),
        **_answer(HTTPStatus.BAD_REQUEST, "Signed, but the body is not a WebhookEvent"),
        **_answer(HTTPStatus.UNAUTHORIZED, "Not signed by this LiveKit project (missing, forged, expired)"),
        **_answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body is over {MAX_BODY_BYTES} bytes"),
    },
)
def livekit_webhook() -> Response[dict[str, Any]]:
    """No IAM or API key on this route (LiveKit cannot sign AWS requests): LiveKit's own signature,
    checked by livekit-api's WebhookReceiver, is the authentication."""
    event = app.current_event
    raw = event.body or ""
    if (
        len(raw) * 3 // 4 if event.is_base64_encoded else len(raw.encode("utf-8", "surrogatepass"))
    ) > MAX_BODY_BYTES:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = base64.b64decode(raw).decode("utf-8") if event.is_base64_encoded else raw
        verified = webhook.verify(body, event.headers.get("authorization"), config.livekit_credentials())
    except (webhook.WebhookRejected, binascii.Error, UnicodeDecodeError) as exc:
        # Not UTF-8 text is nothing LiveKit sent: no signature of this project covers it either.
        logger.warning("webhook rejected", extra={"reason": str(exc)})
        return _error(HTTPStatus.UNAUTHORIZED, "not a webhook signed by this LiveKit project")
    except webhook.WebhookMalformed as exc:
        logger.warning("signed webhook is not a WebhookEvent", extra={"reason": str(exc)})
        return _error(HTTPStatus.BAD_REQUEST, "the body is not a LiveKit WebhookEvent")
    result = webhook.on_event(
        verified, waits.WaitTokens.from_config(), waits.resume, WebhookEvents.from_config()
    )
    ack = WebhookAck(event=result.event, resumed=result.resumed)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=ack.model_dump(mode="json"),
    )


def _no_route(exc: NotFoundError) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.NOT_FOUND, "no such resource")


app.not_found(_no_route)  # registered by call: Powertools' decorator factories are unannotated


def _error(status: HTTPStatus, message: str) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=Problem(message=message).model_dump(mode="json"),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
