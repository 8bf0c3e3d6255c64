"""Lambda behind API Gateway, its routes and their handling in one place: ``POST /dispatches`` starts a
verified dispatch, ``GET /dispatches/{request_id}`` follows it, ``DELETE /dispatches/{request_id}``
cancels it, ``GET /dispatches`` lists them. (``POST /livekit/webhook``, on the same API, is a function
of its own, ``handlers/livekit_webhook.py``; ``openapi_json`` documents it here too.)

Powertools' ``APIGatewayRestResolver`` validates requests against the pydantic models below and
generates the OpenAPI document from them (``docs/openapi.json``, kept fresh by a test). Bad input is
always a 4xx naming the field: 400 for a body that is not JSON, 413 for one over ``MAX_BODY_BYTES``,
422 for a JSON body or path that breaks the rules (the workflow input's own: ``DispatchRequest``).
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import AbstractContextManager
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from dispatch_verify import clock, config
from dispatch_verify.adapters.aws import outcome_events
from dispatch_verify.adapters.aws.executions import StepFunctionsExecutions
from dispatch_verify.adapters.aws.ledger import Ledger
from dispatch_verify.api_models import (
    DispatchAccepted,
    DispatchCreate,
    DispatchList,
    DispatchView,
    FieldProblem,
    Problem,
)
from dispatch_verify.errors import ConfigurationError, DispatchVerifyError
from dispatch_verify.handlers import loaded
from dispatch_verify.logic.cancel import AlreadyFinished, cancel_dispatch
from dispatch_verify.logic.intake import (
    IdempotencyConflict,
    OverHistoryBudget,
    accept_dispatch,
    dispatch_status,
)
from dispatch_verify.models import EXECUTION_NAME_PATTERN, MAX_EXECUTION_NAME, Outcome
from dispatch_verify.observability import logger, tracer
from dispatch_verify.ports.executions import StartRefused
from dispatch_verify.ports.ledger import MAX_PAGE, BadPageToken, ListQuery, Status
from dispatch_verify.ports.livekit import LiveKitPort

MAX_BODY_BYTES = 100 * 1024
API_TITLE = "dispatch-verify"
API_VERSION = "1.0.0"
# A request id is an execution name: the rule Step Functions names executions by (models.py).
RequestId = Annotated[str, Path(min_length=1, max_length=MAX_EXECUTION_NAME, pattern=EXECUTION_NAME_PATTERN)]
DEFAULT_LIST_SINCE_H = 24


# -- the contract -------------------------------------------------------------------------------


def _answer(status: HTTPStatus, description: str, model: type[BaseModel] = Problem) -> dict[int, Any]:
    return {status.value: {"description": description, "content": {"application/json": {"model": model}}}}


_INVALID = {
    **_answer(HTTPStatus.BAD_REQUEST, "The body is not JSON"),
    **_answer(HTTPStatus.UNPROCESSABLE_ENTITY, "A field breaks the rules; errors[].field names it"),
}

# -- the routes ---------------------------------------------------------------------------------


def _json_body(text: str) -> Any:
    """The body as JSON (RFC 8259): NaN and Infinity are not JSON (400). An integer with more digits
    than Python converts (4,300) is read as an infinite float, which every integer field and the
    metadata refuse (422), instead of a ValueError inside the parse (a 5xx)."""
    return json.loads(text, parse_int=_json_int, parse_constant=_not_a_json_constant)


def _json_int(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:
        return float(digits)  # +-inf: out of every range


def _not_a_json_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_json_body)


@app.post(
    "/dispatches",
    summary="Start a verified dispatch",
    responses={
        **_answer(HTTPStatus.ACCEPTED, "Accepted (or the earlier request with this key)", DispatchAccepted),
        **_INVALID,
        **_answer(HTTPStatus.CONFLICT, "The idempotency key was used with another body"),
        **_answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body is over {MAX_BODY_BYTES} bytes"),
        **_answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "The body is not application/json"),
        **_answer(
            HTTPStatus.TOO_MANY_REQUESTS, "Throttled by Step Functions: send it again after Retry-After"
        ),
        **_answer(
            HTTPStatus.SERVICE_UNAVAILABLE, "Step Functions unavailable: send it again after Retry-After"
        ),
    },
)
def create_dispatch(body: DispatchCreate) -> Response[dict[str, Any]]:
    if _body_size() > MAX_BODY_BYTES:
        return _too_large()
    if not _json_content():
        return _not_json()
    ledger = _ledger()
    try:
        accepted = accept_dispatch(
            body.workflow_input(), body.idempotency_key, ledger, _executions(), sent=body.sent()
        )
    except IdempotencyConflict:
        return _error(HTTPStatus.CONFLICT, "idempotency_key was already used with a different body")
    except StartRefused as refused:
        # Nothing was started and no ledger item is left: the caller may send the same request again.
        status = HTTPStatus.TOO_MANY_REQUESTS if refused.throttled else HTTPStatus.SERVICE_UNAVAILABLE
        refusal = _error(status, f"Step Functions refused to start the execution for now ({refused.code})")
        refusal.headers["Retry-After"] = str(refused.retry_after_s)
        return refusal
    except OverHistoryBudget as exc:
        problems = [
            FieldProblem(field=f"options.{name}", type="history_budget", message=str(exc))
            for name in ("join_timeout_s", "max_attempts")
        ]
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "the options do not fit an execution", problems)
    url = _status_url(accepted.item.request_id)
    answer = DispatchAccepted(
        request_id=accepted.item.request_id, status=accepted.item.status, status_url=url
    )
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=answer.model_dump(mode="json"),
        headers={"Location": url},
    )


@app.get(
    "/dispatches/<request_id>",
    summary="Follow a dispatch: running (with its phase), verified, escalated or cancelled",
    responses={
        **_answer(HTTPStatus.OK, "The request as the ledger knows it", DispatchView),
        **_answer(HTTPStatus.UNPROCESSABLE_ENTITY, "The request id is malformed"),
        **_answer(HTTPStatus.NOT_FOUND, "No request with this id (or it expired)"),
    },
)
def get_dispatch(request_id: RequestId) -> Response[dict[str, Any]]:
    item = dispatch_status(request_id, _ledger(), _executions())
    if item is None:
        return _error(HTTPStatus.NOT_FOUND, f"no dispatch request {request_id}")
    return _view(HTTPStatus.OK, DispatchView.of(item))


def _connect_livekit() -> AbstractContextManager[LiveKitPort]:
    """Only a cancel talks to LiveKit: its adapter (with livekit-api, aiohttp and protobuf) is imported
    here, at the first DELETE, not by every cold start of the API function; POST and GET never need it."""
    from dispatch_verify.adapters import livekit

    return livekit.connect(config.livekit_credentials())


@app.delete(
    "/dispatches/<request_id>",
    summary="Cancel a dispatch: stop the workflow, delete its live dispatches; it never dials",
    description=(
        "Idempotent: a repeat answers the same. Publishes one AgentDispatchCancelled event. With "
        "delete_room=true the room is deleted too, when the request let the workflow create it "
        "(options.create_room, the default)."
    ),
    responses={
        **_answer(HTTPStatus.OK, "Cancelled (now or by an earlier call)", DispatchView),
        **_answer(HTTPStatus.UNPROCESSABLE_ENTITY, "The request id or delete_room is malformed"),
        **_answer(HTTPStatus.NOT_FOUND, "No request with this id (or it expired)"),
        **_answer(HTTPStatus.CONFLICT, "The request ended (verified or escalated) before the cancel"),
    },
)
def cancel(
    request_id: RequestId,
    delete_room: Annotated[bool, Query(description="Also delete the room the workflow created")] = False,
) -> Response[dict[str, Any]]:
    try:
        cancelled = cancel_dispatch(
            request_id,
            _ledger(),
            _executions(),
            _connect_livekit,
            _publish_cancelled,
            delete_room=delete_room,
        )
    except AlreadyFinished as finished:
        return _error(HTTPStatus.CONFLICT, f"the request has already ended: {finished.item.status}")
    if cancelled is None:
        return _error(HTTPStatus.NOT_FOUND, f"no dispatch request {request_id}")
    return _view(HTTPStatus.OK, DispatchView.of(cancelled.item))


@app.get(
    "/dispatches",
    summary="List dispatches, newest first",
    responses={
        **_answer(HTTPStatus.OK, "A page of requests; next_token when more follow", DispatchList),
        **_answer(
            HTTPStatus.UNPROCESSABLE_ENTITY, "A query parameter breaks the rules; errors[].field names it"
        ),
    },
)
def list_dispatches(
    room: Annotated[str | None, Query(min_length=1, max_length=256, description="Only this room's")] = None,
    status: Annotated[Status | None, Query(description="Only requests in this status")] = None,
    since: Annotated[
        dt.datetime | None,
        Query(
            description=f"Accepted at or after (ISO-8601 with a zone; default {DEFAULT_LIST_SINCE_H} h ago)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many per page")] = 20,
    next_token: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> Response[dict[str, Any]]:
    if since is not None and since.tzinfo is None:
        problem = FieldProblem(
            field="since", type="timezone_aware", message="must name its time zone, e.g. Z"
        )
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid request: since", [problem])
    now = clock.now()
    oldest = now - config.ledger_ttl_days() * 86_400  # nothing older is kept
    since_epoch = max(since.timestamp() if since else now - DEFAULT_LIST_SINCE_H * 3600, oldest)
    query = ListQuery(
        since=clock.iso_utc(since_epoch), room=room, status=status, limit=limit, next_token=next_token
    )
    try:
        items, token = _ledger().list(query)
    except BadPageToken as exc:
        problem = FieldProblem(field="next_token", type="invalid_token", message=str(exc))
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid request: next_token", [problem])
    page = DispatchList(dispatches=[DispatchView.of(item) for item in items], next_token=token)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=page.model_dump(mode="json", exclude_none=True),
    )


def _view(status: HTTPStatus, view: DispatchView) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=view.model_dump(mode="json"),
    )


def _publish_cancelled(outcome: Outcome) -> None:
    # The cancel stands (ledger, execution, LiveKit) whether or not the event could be put: logged.
    from botocore.exceptions import BotoCoreError, ClientError  # imported by the first AWS call

    try:
        outcome_events.publish_outcome(outcome)
    except (ClientError, BotoCoreError, DispatchVerifyError) as exc:
        logger.error("AgentDispatchCancelled not published", extra={"error": str(exc)})


def _invalid(exc: RequestValidationError) -> Response[dict[str, Any]]:
    if _body_size() > MAX_BODY_BYTES:
        return _too_large()
    if not _json_content():
        return _not_json()
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return _error(
            HTTPStatus.BAD_REQUEST,
            "the body is not valid JSON",
            [FieldProblem(field="body", type="json_invalid", message="not valid JSON")],
        )
    problems = [
        FieldProblem(
            field=_field(error.get("loc", ())),
            type=str(error.get("type", "invalid")),
            message=_message(error),
        )
        for error in errors
    ]
    return _error(
        HTTPStatus.UNPROCESSABLE_ENTITY, "invalid request: " + ", ".join(p.field for p in problems), problems
    )


def _unreadable_body(exc: Exception) -> Response[dict[str, Any]]:
    """Powertools parses form and multipart bodies itself (ValueError on a bad one), and decodes the
    body as UTF-8 (UnicodeDecodeError, also a ValueError)."""
    if not _json_content():
        return _not_json()
    if isinstance(exc, UnicodeError):
        problem = FieldProblem(field="body", type="unicode_decode", message="not UTF-8 text")
        return _error(HTTPStatus.BAD_REQUEST, "the body is not UTF-8 JSON", [problem])
    raise exc


def _too_deep(exc: RecursionError) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.BAD_REQUEST, "the body is nested too deeply")


def _no_route(exc: NotFoundError) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.NOT_FOUND, "no such resource")


# Registered by call: Powertools' decorator factories are unannotated (mypy would call them untyped).
app.exception_handler(RequestValidationError)(_invalid)
app.exception_handler(RecursionError)(_too_deep)
app.exception_handler([RequestUnsupportedContentType, ValueError])(_unreadable_body)
app.not_found(_no_route)


# -- helpers ------------------------------------------------------------------------------------


def _ledger() -> Ledger:
    ledger = Ledger.from_config()
    if ledger is None:
        raise ConfigurationError.of("internal", "missing environment variable(s): LEDGER_TABLE_NAME")
    return ledger


def _executions() -> StepFunctionsExecutions:
    return StepFunctionsExecutions(config.state_machine_arn())


def _body_size() -> int:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        return len(body) * 3 // 4
    return len(body.encode("utf-8", errors="surrogatepass"))


def _json_content() -> bool:
    """No Content-Type, or application/json (with or without parameters)."""
    content_type = (app.current_event.headers.get("content-type") or "").strip().lower()
    return not content_type or content_type.split(";")[0].strip() == "application/json"


def _not_json() -> Response[dict[str, Any]]:
    return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json")


def _too_large() -> Response[dict[str, Any]]:
    return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY_BYTES} bytes")


def _error(
    status: HTTPStatus, message: str, errors: list[FieldProblem] | None = None
) -> Response[dict[str, Any]]:
    problem = Problem(message=message, errors=errors or [])
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=problem.model_dump(mode="json"),
    )


def _field(loc: Any) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    """Pydantic's message without the input (it may be metadata) or a Python name."""
    message = str(error.get("msg") or error.get("type") or "invalid")
    return message.removeprefix("Value error, ")[:200]


def _status_url(request_id: str) -> str:
    event = app.current_event
    context = event.request_context
    domain = context.domain_name or ""
    path = f"/dispatches/{request_id}"
    if "execute-api" in domain:
        return f"https://{domain}/{context.stage}{path}"
    headers = {key.lower(): value for key, value in (event.headers or {}).items()}
    host = headers.get("host")
    if not host:
        return path
    return f"{headers.get('x-forwarded-proto', 'https')}://{host}{path}"


def openapi_json() -> str:
    """The OpenAPI document of the stack's API, as committed in docs/openapi.json: this function's
    routes and the LiveKit webhook's (which no function serves: API Gateway queues it)."""
    document = json.loads(_openapi_json())
    document["paths"][WEBHOOK_PATH] = _webhook_operation()
    _deployment(document)
    return json.dumps(document, indent=2, ensure_ascii=False)


WEBHOOK_PATH = "/livekit/webhook"


def _webhook_operation() -> dict[str, Any]:
    """``POST /livekit/webhook`` as template.yaml's DispatchApi declares it: an SQS integration whose
    request template takes ``application/webhook+json`` only (anything else is API Gateway's 415), and
    whose answers are 200 (queued) or 500 (SQS refused it). What happens next is the LiveKit webhook
    function's (handlers/livekit_webhook.py)."""

    def answer(description: str, example: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"example": example}}}

    return {
        "post": {
            "summary": "LiveKit webhook: queued; an awaited agent's signed participant_joined resumes it",
            "description": (
                "No IAM or API key (LiveKit cannot sign AWS requests): LiveKit's own signature, the JWT in "
                "Authorization, is checked by the function that takes the queued events. API Gateway "
                "stores every post with that header and answers at once; only an agent's "
                "participant_joined reaches the function (the queue's filter), and one that is not signed "
                "by this LiveKit project is dropped there."
            ),
            "operationId": "livekit_webhook",
            "requestBody": {
                "required": True,
                "content": {
                    "application/webhook+json": {
                        "schema": {"type": "object", "description": "LiveKit's WebhookEvent (protobuf JSON)"}
                    }
                },
            },
            "responses": {
                "200": answer("Queued", {"queued": True}),
                "415": answer("Not application/webhook+json", {"message": "Unsupported Media Type"}),
                "500": answer(
                    "The queue refused it (LiveKit retries)", {"message": "the webhook could not be queued"}
                ),
            },
        }
    }


def _deployment(document: dict[str, Any]) -> None:
    """Where and how the deployed API is called: the stack's URL, its two auth modes (the stack's
    ApiAuth parameter picks one), the open webhook, and the Location header of an accepted request."""
    document["servers"] = [
        {
            "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/v1",
            "description": "The stack's output DispatchApiUrl without /dispatches",
            "variables": {
                "restApiId": {"default": "abc123", "description": "The stack's DispatchApi id"},
                "region": {"default": "eu-west-1", "description": "The stack's region"},
            },
        },
        {"url": "http://127.0.0.1:3000", "description": "dispatch-verify api (local, no auth)"},
    ]
    document["components"]["securitySchemes"] = {
        # API Gateway's own convention for AWS_IAM: an apiKey-style Authorization header, signed.
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
            "description": "ApiAuth=AWS_IAM (the default): SigV4 for service execute-api; the caller "
            "needs execute-api:Invoke on the API's routes",
        },
        "api_key": {
            "type": "apiKey",
            "name": "x-api-key",
            "in": "header",
            "description": "ApiAuth=API_KEY: the key the stack creates (its usage plan throttles)",
        },
    }
    document["security"] = [{"sigv4": []}, {"api_key": []}]
    webhook = document["paths"].get(WEBHOOK_PATH, {}).get("post")
    if webhook is not None:
        webhook["security"] = []  # LiveKit signs it with its own JWT: no AWS auth on this route
    accepted = document["paths"]["/dispatches"]["post"]["responses"].get(str(HTTPStatus.ACCEPTED.value))
    if accepted is not None:
        accepted["headers"] = {
            "Location": {
                "description": "The URL to GET the request's status (also status_url in the body)",
                "schema": {"type": "string"},
            }
        }


def _openapi_json() -> str:
    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        summary="Dispatch a LiveKit agent into a room and verify that it joined",
        description=(
            "Start a durable dispatch-and-verify workflow and follow it to `verified` or `escalated`. "
            "Deployed behind API Gateway with AWS_IAM (SigV4) auth by default, or API keys "
            "(`x-api-key`) with a usage plan when the stack's ApiAuth parameter is API_KEY."
        ),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(_media_type_in_lower_case(event), context)


def _media_type_in_lower_case(event: dict[str, Any]) -> dict[str, Any]:
    """Media types are case-insensitive (RFC 9110) but Powertools compares them as written: the
    Content-Type's type and subtype in lower case, so that APPLICATION/JSON is read as JSON too."""

    def lower(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        media_type, separator, parameters = value.partition(";")
        return media_type.lower() + separator + parameters

    def normalized(headers: Any, each: bool) -> Any:
        if not isinstance(headers, dict):
            return headers
        return {
            name: ([lower(v) for v in value] if each and isinstance(value, list) else lower(value))
            if isinstance(name, str) and name.lower() == "content-type"
            else value
            for name, value in headers.items()
        }

    return {
        **event,
        "headers": normalized(event.get("headers"), each=False),
        "multiValueHeaders": normalized(event.get("multiValueHeaders"), each=True),
    }


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)


if __name__ == "__main__":  # `make openapi`
    print(openapi_json())
