"""Named exceptions raised by the Lambda steps.

The class names are part of the state machine's contract: ASL ``Retry`` and ``Catch`` match a
Lambda function error by its ``errorType``, which is the exception's class name. Renaming a class
here means changing statemachine/dispatch_verify.asl.json too (a test checks they agree).

The exception message is a JSON object (``ErrorDetail``) so that the escalation step can recover
the LiveKit code, message and HTTP status from the ``Cause`` that Step Functions hands it.
"""

from __future__ import annotations

import json
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict

Cause = Literal[
    "never_assigned",  # the dispatch never got a job
    "not_joined",  # a job was assigned but no agent participant appeared
    "job_failed",  # the job ended failed before any agent joined
    "joined_then_left",  # the agent joined and left again
    "room_missing",  # the room does not exist (or closed during the wait)
    "auth",  # LiveKit refused the credentials or the grants
    "quota",  # LiveKit kept answering resource_exhausted
    "livekit_unavailable",  # LiveKit kept failing or timing out
    "invalid_request",  # the workflow input (or LiveKit) said the request is malformed
    "dial_failed",  # the agent was verified but the callee's SIP call did not connect
    "internal",  # anything else: a bug or an AWS fault
]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)  # schema at first use, not at import
    cause: Cause
    code: str | None = None  # Twirp code, e.g. "unavailable"
    message: str
    status: int | None = None  # HTTP status LiveKit answered with, if any
    sip_status_code: int | None = None  # SIP response of a failed dial, e.g. 486
    sip_status: str | None = None  # its reason phrase, e.g. "Busy Here"


class DispatchVerifyError(Exception):
    """Base class: carries an ``ErrorDetail`` and renders it as JSON."""

    def __init__(self, detail: ErrorDetail) -> None:
        super().__init__(detail.model_dump_json())
        self.detail = detail

    @classmethod
    def of(cls, cause: Cause, message: str, *, code: str | None = None, status: int | None = None) -> Self:
        return cls(ErrorDetail(cause=cause, code=code, message=message, status=status))


class LiveKitTransientError(DispatchVerifyError):
    """LiveKit may succeed if asked again: retried by ASL with back-off, then escalated."""


class LiveKitPermanentError(DispatchVerifyError):
    """Asking again will not help (auth, grants, bad argument, missing room): escalated at once."""


class InvalidRequestError(DispatchVerifyError):
    """The workflow input is malformed: escalated at once with cause ``invalid_request``."""


class ConfigurationError(DispatchVerifyError):
    """The function is deployed without usable LiveKit credentials or settings."""


class DialFailedError(DispatchVerifyError):
    """The callee's call did not connect (busy, no answer, declined, unknown trunk): escalated at once.

    Never retried: asking again would ring the callee again.
    """


def detail_from_step_functions_error(error: str | None, cause: str | None) -> ErrorDetail:
    """Recover an ``ErrorDetail`` from the ``{"Error", "Cause"}`` that an ASL Catch records.

    ``Cause`` is the Lambda error payload (``{"errorType", "errorMessage", ...}``) for function
    errors, or free text for service errors (``States.Timeout``, ``Lambda.ServiceException``...).
    """
    message = cause or error or "unknown error"
    try:
        payload = json.loads(cause or "")
        message = payload.get("errorMessage", message) if isinstance(payload, dict) else message
        return ErrorDetail.model_validate_json(message)
    except (ValueError, TypeError):
        pass
    if error == LiveKitTransientError.__name__:
        return ErrorDetail(cause="livekit_unavailable", message=message)
    return ErrorDetail(cause="internal", code=error, message=message)
