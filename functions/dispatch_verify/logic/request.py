"""Turn the workflow input into the state document, and recover one after that failed."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from dispatch_verify import clock, config
from dispatch_verify.errors import ErrorDetail, InvalidRequestError
from dispatch_verify.logic.heartbeat import heartbeat_room, with_heartbeat_defaults
from dispatch_verify.logic.history import over_budget
from dispatch_verify.models import (
    FROM_STATE,
    DispatchRequest,
    EscalationBundle,
    Options,
    StepError,
    WorkflowState,
)

_M = TypeVar("_M", ErrorDetail, StepError, EscalationBundle)


def prepare_request(raw: Any, execution_name: str) -> WorkflowState:
    """Validate the input; the request id defaults to the execution name (which Step Functions dedupes)."""
    if not isinstance(raw, dict):
        raise InvalidRequestError.of("invalid_request", "invalid request: the input must be a JSON object")
    try:
        request = DispatchRequest.model_validate(with_heartbeat_defaults(raw, execution_name))
    except ValidationError as exc:
        raise InvalidRequestError.of("invalid_request", f"invalid request: {describe(exc)}") from exc
    refusal = over_budget(request.options, config.livekit_webhooks_if_known())
    if refusal is not None:
        raise InvalidRequestError.of("invalid_request", f"invalid request: {refusal}")
    if request.request_id is None:
        request = request.model_copy(update={"request_id": execution_name})
    return WorkflowState(request=request, started_at=clock.iso_utc(clock.now()))


def describe(exc: ValidationError) -> str:
    """Name each bad field and what is wrong with it, without echoing the value (it may be metadata)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "input"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def recover_state(raw: Any, execution_name: str) -> WorkflowState:
    """The state for Escalate and Record outcome, which may follow a failed "Dispatch agent".

    Then ``raw`` is the workflow input plus the Catch's ``error``. A valid request is recovered
    whole; of an invalid one, keep what can be read (room, agent name, kind) and use the execution
    name as the request id. The result is
    built without validation, since the input that failed validation is exactly what it describes.
    """
    document: dict[str, Any] = raw if isinstance(raw, dict) else {}
    try:
        return WorkflowState.from_state(document)
    except ValidationError:
        pass
    nested = document.get("request")
    if isinstance(nested, dict) and "error" in document:
        # "Keep the input" after "Dispatch agent" failed: the input may be a valid request that
        # failed later (CreateRoom, CreateDispatch); then it is recovered whole, its own request id
        # and options included.
        try:
            prepared = prepare_request(nested, execution_name)
        except InvalidRequestError:
            pass
        else:
            return prepared.model_copy(update={"error": _valid(StepError, document.get("error"))})
    fields: dict[str, Any] = nested if isinstance(nested, dict) else document
    heartbeat = fields.get("kind") == "heartbeat"
    room = _text(fields.get("room"))
    request = DispatchRequest.model_construct(
        room=heartbeat_room(execution_name) if heartbeat and fields.get("room") is None else room,
        agent_name=_text(fields.get("agent_name")),
        metadata="",
        request_id=execution_name,
        kind="heartbeat" if heartbeat else "request",
        options=Options(),
    )
    started_at = document.get("started_at")
    return WorkflowState.model_construct(
        request=request,
        started_at=started_at if isinstance(started_at, str) else clock.iso_utc(clock.now()),
        attempts=[],
        check=None,
        last_error=_valid(ErrorDetail, document.get("last_error")),
        error=_valid(StepError, document.get("error")),
        escalation=_valid(EscalationBundle, document.get("escalation")),
        outcome=None,
        summary=None,
    )


def _text(value: Any) -> str:
    return value[:256] if isinstance(value, str) else ""


def _valid(model: type[_M], value: Any) -> _M | None:
    try:
        return model.model_validate(value, context=FROM_STATE) if value is not None else None
    except ValidationError:
        return None
