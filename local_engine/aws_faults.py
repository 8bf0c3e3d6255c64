"""AWS-side faults for the local engine: the errors AWS answers under load, injected between a client
and moto, and recorded when (and only when) a request actually received one.

A fault is aimed at one operation (``"<service>.<Operation>"`` as botocore names it in its
``before-send`` event: ``lambda.Invoke``, ``sns.Publish``, ``eventbridge.PutEvents``,
``dynamodb.UpdateItem``, ``sfn.StartExecution``, ``sfn.SendTaskSuccess``, ...) and, with ``match``, at
the requests whose URL or body holds that text (a request id: one execution among many). Every
client in the process goes through it: the handlers' (DynamoDB, Step Functions callbacks), the API's
(StartExecution) and the state machine's own (Lambda invokes, the SNS and EventBridge service
integrations), so a Lambda fault is seen by Step Functions as ``Lambda.<Code>``, an SNS one as
``SNS.<Code>Exception``, exactly as the interpreter maps AWS's answers.

The answers are AWS's: the protocol's error document (JSON with ``__type`` for the JSON protocols,
``x-amzn-ErrorType`` for Lambda's REST-JSON, the XML ``ErrorResponse`` for SNS's query protocol) with
the operation's HTTP status. ``FailedEntry`` on ``eventbridge.PutEvents`` is EventBridge's partial
failure: HTTP 200 with ``FailedEntryCount`` 1 and the entry's ``ErrorCode``, the event not put.
``applied=True`` is a lost reply: the request takes effect in moto, then the caller gets the error.
Faults are a test device, not AWS behaviour.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

# (HTTP status, sender or receiver) per error code, as AWS answers them.
ERROR_STATUS: dict[str, int] = {
    "TooManyRequestsException": 429,  # Lambda: throttled (concurrency, rate)
    "ServiceException": 500,  # Lambda: an internal error
    "SdkClientException": 500,  # the SDK's own failure (connection reset, timeout)
    "ThrottlingException": 400,  # Step Functions, EventBridge, DynamoDB (control plane)
    "ProvisionedThroughputExceededException": 400,  # DynamoDB
    "InternalServerError": 500,  # DynamoDB
    "InternalException": 500,  # EventBridge
    "ServiceUnavailable": 503,  # Step Functions
    "Throttled": 400,  # SNS (ThrottledException)
    "InternalError": 500,  # SNS (InternalErrorException)
    "TaskTimedOut": 400,  # Step Functions SendTask*: the token is no longer waited for
}
FAILED_ENTRY = "FailedEntry"  # PutEvents' partial failure: 200, FailedEntryCount 1
# DynamoDB answers each request atomically; moto's backend reads and changes an item's dicts with no
# lock, so a GetItem beside an UpdateItem of the same item (the API's GET while a step records the
# outcome) could fail inside moto ("dictionary changed size during iteration"). DynamoDB requests
# are serialized here (they never call another service, so nothing waits inside the lock).
_DYNAMODB_REQUEST = threading.Lock()
_QUERY_PROTOCOL = {"sns"}
_REST_JSON = {"lambda"}
_JSON_PREFIX = {"sfn": "com.amazonaws.swf.service.v2.model#", "dynamodb": "com.amazonaws.dynamodb.v20120810#"}


@dataclass
class AwsFault:
    operation: str  # "<service>.<Operation>", e.g. "sns.Publish"
    code: str  # a key of ERROR_STATUS, or FAILED_ENTRY
    remaining: int
    match: str | None = None  # only requests whose URL or body holds this text
    applied: bool = False  # the request takes effect, yet the caller sees the error


@dataclass(frozen=True)
class DeliveredAwsFault:
    operation: str
    code: str
    match: str | None
    applied: bool


class AwsFaults:
    """The faults pending and those delivered. ``install()`` puts it between every botocore client
    and moto (one at a time); ``uninstall()`` takes it out."""

    def __init__(self) -> None:
        self._pending: list[AwsFault] = []
        self._delivered: list[DeliveredAwsFault] = []
        self._lock = threading.Lock()
        self._original: Callable[..., Any] | None = None

    def inject(
        self, operation: str, code: str, count: int = 1, *, match: str | None = None, applied: bool = False
    ) -> None:
        """The next ``count`` requests of ``operation`` (holding ``match``) answer ``code``."""
        if code != FAILED_ENTRY and code not in ERROR_STATUS:
            raise ValueError(f"unknown AWS error code {code!r}; known: {', '.join(sorted(ERROR_STATUS))}")
        if code == FAILED_ENTRY and operation != "eventbridge.PutEvents":
            raise ValueError("FailedEntry is PutEvents' partial failure only")
        if count < 1:
            raise ValueError("count must be >= 1")
        if "." not in operation:
            raise ValueError("operation is '<service>.<Operation>', e.g. 'sns.Publish'")
        with self._lock:
            self._pending.append(AwsFault(operation, code, count, match, applied))

    def clear(self, match: str | None = None) -> None:
        """Forget the pending faults: all of them, or those aimed with ``match``."""
        with self._lock:
            self._pending = [f for f in self._pending if match is not None and f.match != match]

    def delivered(self, match: str | None = None) -> list[DeliveredAwsFault]:
        """The faults requests actually received (all, or those aimed with ``match``), in order."""
        with self._lock:
            return [d for d in self._delivered if match is None or d.match == match]

    def _take(self, operation: str, request: AWSPreparedRequest) -> AwsFault | None:
        with self._lock:
            candidates = [f for f in self._pending if f.operation == operation and f.remaining > 0]
            if not candidates:
                return None
            text = _request_text(request)
            for fault in candidates:
                if fault.match is None or fault.match in text:
                    fault.remaining -= 1
                    self._delivered.append(
                        DeliveredAwsFault(operation, fault.code, fault.match, fault.applied)
                    )
                    return fault
            return None

    # -- between botocore and moto ------------------------------------------------------------------
    def install(self) -> None:
        if self._original is not None:
            raise RuntimeError("these AWS faults are installed already")
        original = BotocoreStubber.__call__
        faults = self

        def call(
            stubber: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any
        ) -> Any:
            if event_name.split(".")[1:2] == ["dynamodb"]:
                with _DYNAMODB_REQUEST:
                    return answer(stubber, event_name, request, **kwargs)
            return answer(stubber, event_name, request, **kwargs)

        def answer(
            stubber: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any
        ) -> Any:
            if not stubber.enabled:
                return original(stubber, event_name, request, **kwargs)
            operation = ".".join(event_name.split(".")[1:3])
            fault = faults._take(operation, request)
            if fault is None:
                return original(stubber, event_name, request, **kwargs)
            if fault.applied:
                original(stubber, event_name, request, **kwargs)
            return _error_response(request, operation, fault)

        self._original = original
        BotocoreStubber.__call__ = call  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            BotocoreStubber.__call__ = self._original  # type: ignore[method-assign]
            self._original = None

    def __enter__(self) -> AwsFaults:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def _request_text(request: AWSPreparedRequest) -> str:
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    elif body is not None and not isinstance(body, str):
        body = body.read().decode("utf-8", "replace") if hasattr(body, "read") else str(body)
    return f"{request.url}\n{body or ''}"


def _error_response(request: AWSPreparedRequest, operation: str, fault: AwsFault) -> AWSResponse:
    service = operation.split(".")[0]
    request_id = str(uuid.uuid4())
    message = f"injected fault: {fault.code}"
    if fault.code == FAILED_ENTRY:
        body = json.dumps(
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": message}]}
        )
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
        return AWSResponse(request.url, 200, headers, MockRawResponse(body))
    status = ERROR_STATUS[fault.code]
    if service in _QUERY_PROTOCOL:
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{fault.code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    elif service in _REST_JSON:
        body = json.dumps({"Type": "User" if status < 500 else "Service", "message": message})
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": fault.code,
            "x-amzn-RequestId": request_id,
        }
    else:
        body = json.dumps({"__type": _JSON_PREFIX.get(service, "") + fault.code, "message": message})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
    return AWSResponse(request.url, status, headers, MockRawResponse(body))
