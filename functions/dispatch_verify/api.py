"""The HTTP API: ``POST /dispatches`` starts a verified dispatch, ``GET /dispatches/{request_id}`` follows it.

Powertools' ``APIGatewayRestResolver`` validates requests against the pydantic models below and
generates the OpenAPI document from them (``docs/openapi.json``, kept fresh by a test). Bad input is
always a 4xx naming the field: 400 for a body that is not JSON, 413 for one over ``MAX_BODY_BYTES``,
422 for a JSON body or path that breaks the rules (the workflow input's own: ``DispatchRequest``).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatch_verify import aws, config, waits, webhook
from dispatch_verify.errors import Cause, ConfigurationError
from dispatch_verify.ledger import AttemptRecord, Ledger, Status
from dispatch_verify.logic.intake import IdempotencyConflict, accept_dispatch, dispatch_status
from dispatch_verify.models import (
    MAX_METADATA_BYTES,
    DispatchRequest,
    Options,
    ParticipantSeen,
    SipDetail,
    SipRequest,
)
from dispatch_verify.observability import logger

MAX_BODY_BYTES = 100 * 1024
API_TITLE = "dispatch-verify"
API_VERSION = "1.0.0"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_REQUEST_ID = r"^[A-Za-z0-9_-]+$"


# -- the contract -------------------------------------------------------------------------------


class DispatchCreate(BaseModel):
    """Dispatch ``agent_name`` into ``room`` and verify that it joined."""

    model_config = ConfigDict(extra="forbid")
    room: str = Field(min_length=1, max_length=256, json_schema_extra={"pattern": _PRINTABLE})
    agent_name: str = Field(min_length=1, max_length=256, json_schema_extra={"pattern": _PRINTABLE})
    metadata: dict[str, Any] | str | None = Field(
        None, description=f"JSON object (or string) for the agent's job, at most {MAX_METADATA_BYTES} bytes"
    )
    options: Options | None = None
    sip: SipRequest | None = Field(
        None, description="Dial this callee into the room over SIP once the agent is verified (never before)"
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        json_schema_extra={"pattern": _PRINTABLE},
        description="The same key with the same body returns the first request; with another body, 409",
    )

    @field_validator("room", "agent_name", "idempotency_key")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _utf8(value)
        return DispatchRequest._printable(value)

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: Any) -> Any:
        if isinstance(value, str):
            _utf8(value)
        DispatchRequest._metadata_as_string(value)
        return value

    def sent(self) -> dict[str, Any]:
        """The fields the caller gave (validated; defaults and the idempotency key left out)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"idempotency_key"})

    def workflow_input(self) -> DispatchRequest:
        return DispatchRequest(
            room=self.room,
            agent_name=self.agent_name,
            metadata=self.metadata,
            options=self.options or Options(),
            sip=self.sip,
        )


class DispatchAccepted(BaseModel):
    request_id: str
    status: Status
    status_url: str


class DispatchView(BaseModel):
    """What the ledger knows of a request."""

    request_id: str
    status: Status
    room: str
    agent_name: str
    attempts: list[AttemptRecord] = Field(
        description="One per dispatch: id, LiveKit's UTC created time, jobs seen"
    )
    participants: list[ParticipantSeen] = Field(description="The room's participants at the last check")
    agent_identity: str | None = None
    dispatch_id: str | None = Field(None, description="The dispatch whose agent joined")
    join_latency_s: float | None = None
    cause: Cause | None = None
    sip: SipDetail | None = Field(
        None, description="The call, when one was requested: how it ended; the number masked to 4 digits"
    )
    accepted_at: str | None = None
    finished_at: str | None = None


class FieldProblem(BaseModel):
    field: str
    type: str
    message: str


class Problem(BaseModel):
    message: str
    errors: list[FieldProblem] = Field(default_factory=list)


def _answer(status: HTTPStatus, description: str, model: type[BaseModel] = Problem) -> dict[int, Any]:
    return {status.value: {"description": description, "content": {"application/json": {"model": model}}}}


_INVALID = {
    **_answer(HTTPStatus.BAD_REQUEST, "The body is not JSON"),
    **_answer(HTTPStatus.UNPROCESSABLE_ENTITY, "A field breaks the rules; errors[].field names it"),
}

# -- the routes ---------------------------------------------------------------------------------

app = APIGatewayRestResolver(enable_validation=True)


@app.post(
    "/dispatches",
    summary="Start a verified dispatch",
    responses={
        **_answer(HTTPStatus.ACCEPTED, "Accepted (or the earlier request with this key)", DispatchAccepted),
        **_INVALID,
        **_answer(HTTPStatus.CONFLICT, "The idempotency key was used with another body"),
        **_answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body is over {MAX_BODY_BYTES} bytes"),
        **_answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "The body is not application/json"),
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
    summary="Follow a dispatch: running, verified or escalated",
    responses={
        **_answer(HTTPStatus.OK, "The request as the ledger knows it", DispatchView),
        **_answer(HTTPStatus.UNPROCESSABLE_ENTITY, "The request id is malformed"),
        **_answer(HTTPStatus.NOT_FOUND, "No request with this id (or it expired)"),
    },
)
def get_dispatch(
    request_id: Annotated[str, Path(min_length=1, max_length=80, pattern=_REQUEST_ID)],
) -> Response[dict[str, Any]]:
    item = dispatch_status(request_id, _ledger(), _executions())
    if item is None:
        return _error(HTTPStatus.NOT_FOUND, f"no dispatch request {request_id}")
    view = DispatchView.model_validate(item.model_dump(mode="json", exclude=_NOT_SHOWN))
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=view.model_dump(mode="json"),
    )


class WebhookAck(BaseModel):
    event: str = Field(description="The LiveKit event, e.g. participant_joined")
    resumed: int = Field(description="Workflows this delivery resumed (0: irrelevant, or a duplicate)")


@app.post(
    "/livekit/webhook",
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
    if _body_size() > MAX_BODY_BYTES:
        return _too_large()
    event = app.current_event
    body = (event.decoded_body if event.is_base64_encoded else event.body) or ""
    try:
        verified = webhook.verify(body, event.headers.get("authorization"), config.livekit_credentials())
    except webhook.WebhookRejected as exc:
        logger.warning("webhook rejected", extra={"reason": str(exc)})
        return _error(HTTPStatus.UNAUTHORIZED, "not a webhook signed by this LiveKit project")
    except webhook.WebhookMalformed as exc:
        logger.warning("signed webhook is not a WebhookEvent", extra={"reason": str(exc)})
        return _error(HTTPStatus.BAD_REQUEST, "the body is not a LiveKit WebhookEvent")
    result = webhook.on_event(verified, waits.WaitTokens.from_config(), waits.resume)
    ack = WebhookAck(event=result.event, resumed=result.resumed)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=ack.model_dump(mode="json"),
    )


_NOT_SHOWN = {"body_sha256", "execution_arn", "updated_at", "expires_at", "kind"}


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


class StepFunctionsExecutions:
    def __init__(self, state_machine_arn: str, client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client or aws.client("stepfunctions")

    def start(self, name: str, payload: dict[str, Any]) -> str:
        try:
            started = self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            # Step Functions' own idempotency: this name ran (or runs) already; it is ours.
            return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return str(started["executionArn"])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = self._client.describe_execution(executionArn=execution_arn)
        return described


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


def _utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None


def openapi_json() -> str:
    """The OpenAPI document, as committed in docs/openapi.json."""
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


if __name__ == "__main__":  # `make openapi`
    print(openapi_json())
