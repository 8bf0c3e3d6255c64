"""A Python client of the dispatch API, for the backend that calls it.

>>> url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"  # DispatchApiUrl without /dispatches
>>> client = DispatchClient(url, auth=SigV4Auth.from_environment())
>>> accepted = client.start(room="call-42", agent_name="support", idempotency_key="call-42")
>>> outcome = client.wait(accepted.request_id, timeout_s=180)   # verified, escalated or cancelled
>>> client.cancel(accepted.request_id)                          # the caller hung up

Auth as the stack's ApiAuth parameter says: ``SigV4Auth`` (AWS_IAM, the default: requests signed for
service ``execute-api`` with the credentials botocore finds; the caller needs ``execute-api:Invoke``),
``ApiKeyAuth`` (API_KEY: the ``x-api-key`` header), or None (``dispatch-verify api`` on this machine).
The answers are the API's own models (``dispatch_verify.api_models``). Only the standard library, pydantic
and, for SigV4, botocore are imported: no Powertools, no boto3.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dispatch_verify.api_models import DispatchAccepted, DispatchList, DispatchView, Problem
from dispatch_verify.models import execution_name_problem

DEFAULT_TIMEOUT_S = 30.0  # one HTTP call
RETRIED_STATUSES = {429, 502, 503, 504}  # throttled or unavailable: asked again after a pause
MAX_RETRIES = 3


class ApiError(Exception):
    """The API answered with an error (``status``, and its ``Problem``: the message and the fields)."""

    def __init__(self, status: int, problem: Problem | None, text: str = "") -> None:
        self.status, self.problem = status, problem
        detail = problem.message if problem is not None else text[:200]
        fields = ", ".join(f"{p.field}: {p.message}" for p in problem.errors) if problem else ""
        super().__init__(f"HTTP {status}: {detail}" + (f" ({fields})" if fields else ""))


class WaitTimeout(TimeoutError):
    """``wait`` gave up while the request was still running; ``last`` is what GET said last."""

    def __init__(self, last: DispatchView) -> None:
        super().__init__(f"{last.request_id} still running ({last.phase}) when the wait ended")
        self.last = last


@dataclass(frozen=True)
class ApiKeyAuth:
    """ApiAuth=API_KEY: the key's value (``aws apigateway get-api-key --include-value``)."""

    key: str

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return {**headers, "x-api-key": self.key}


@dataclass(frozen=True)
class SigV4Auth:
    """ApiAuth=AWS_IAM: Signature Version 4 for service ``execute-api``, as API Gateway checks it."""

    credentials: Any  # botocore Credentials (refreshable ones are read at each request)
    region: str | None = None  # None: read from an execute-api URL's host

    @classmethod
    def from_environment(cls, region: str | None = None, profile: str | None = None) -> SigV4Auth:
        import botocore.session

        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
        if credentials is None:
            raise ValueError("no AWS credentials found (environment, profile, or instance role)")
        return cls(credentials, region or session.get_config_variable("region"))

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth as BotocoreSigV4
        from botocore.awsrequest import AWSRequest

        region = _region_of(url) or self.region
        if not region:
            raise ValueError(f"no region for SigV4: {url} is not an execute-api URL and none was given")
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        BotocoreSigV4(self.credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())


Auth = ApiKeyAuth | SigV4Auth | None


class DispatchClient:
    def __init__(
        self,
        base_url: str,
        auth: Auth = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``base_url``: the stack's output DispatchApiUrl without ``/dispatches`` (or the local API's)."""
        self.base_url = base_url.rstrip("/").removesuffix("/dispatches")
        self.auth, self.timeout_s = auth, timeout_s
        self._sleep, self._clock = sleep, clock

    # -- the operations -------------------------------------------------------------------------
    def start(
        self,
        room: str,
        agent_name: str,
        *,
        metadata: dict[str, Any] | str | None = None,
        options: dict[str, Any] | None = None,
        sip: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> DispatchAccepted:
        """POST /dispatches. With an ``idempotency_key`` a retry (here or yours) never starts twice."""
        body: dict[str, Any] = {"room": room, "agent_name": agent_name}
        for name, value in (
            ("metadata", metadata),
            ("options", options),
            ("sip", sip),
            ("idempotency_key", idempotency_key),
        ):
            if value is not None:
                body[name] = value
        answer = self._call("POST", "/dispatches", body=body, retry=idempotency_key is not None)
        return DispatchAccepted.model_validate(answer)

    def get(self, request_id: str) -> DispatchView:
        """GET /dispatches/{id}: running (with its phase), or the outcome."""
        return DispatchView.model_validate(self._call("GET", _item_path(request_id)))

    def wait(
        self,
        request_id: str,
        timeout_s: float = 300.0,
        *,
        first_delay_s: float = 1.0,
        max_delay_s: float = 15.0,
    ) -> DispatchView:
        """GET until the request is no longer running, the pause doubling from ``first_delay_s`` up to
        ``max_delay_s``; ``WaitTimeout`` after ``timeout_s`` (the request goes on: wait again, or
        cancel it). The EventBridge outcome events spare a backend this polling."""
        deadline = self._clock() + timeout_s
        delay = first_delay_s
        while True:
            view = self.get(request_id)
            left = deadline - self._clock()
            if view.status != "running":
                return view
            if left <= 0:
                raise WaitTimeout(view)
            self._sleep(min(delay, left))
            delay = min(delay * 2, max_delay_s)

    def cancel(self, request_id: str, *, delete_room: bool = False) -> DispatchView:
        """DELETE /dispatches/{id}: stop it, delete its live dispatches (and the room it created when
        ``delete_room``); it never dials. A repeat answers the same. ``ApiError`` 409: it had ended."""
        query = "?delete_room=true" if delete_room else ""
        return DispatchView.model_validate(self._call("DELETE", _item_path(request_id) + query, retry=True))

    def list(
        self,
        *,
        room: str | None = None,
        status: str | None = None,
        since: dt.datetime | str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> DispatchList:
        """GET /dispatches, newest first; give ``next_token`` (with the same filters) for the next page."""
        if isinstance(since, dt.datetime):
            since = since.isoformat()
        given = {"room": room, "status": status, "since": since, "limit": limit, "next_token": next_token}
        query = urllib.parse.urlencode({k: v for k, v in given.items() if v is not None})
        return DispatchList.model_validate(self._call("GET", "/dispatches" + (f"?{query}" if query else "")))

    # -- HTTP -----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, body: Any = None, retry: bool | None = None) -> Any:
        """One operation; throttled or unavailable answers are asked again (GET, DELETE, and a POST
        with an idempotency key), after Retry-After or a doubling pause."""
        retry = method != "POST" if retry is None else retry
        url = self.base_url + path
        data = json.dumps(body).encode() if body is not None else b""
        for attempt in range(MAX_RETRIES + 1):
            status, headers, payload = self._send(method, url, data)
            if status < 400:
                return json.loads(payload) if payload else None
            if not (retry and status in RETRIED_STATUSES and attempt < MAX_RETRIES):
                raise ApiError(status, _problem(payload), payload.decode("utf-8", "replace"))
            self._sleep(_retry_after(headers) or min(2.0**attempt, 10.0))
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "application/json"}
        if data:
            headers["Content-Type"] = "application/json"
        if self.auth is not None:
            headers = self.auth.sign(method, url, headers, data)
        request = urllib.request.Request(url, data=data or None, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()


def _item_path(request_id: str) -> str:
    problem = execution_name_problem(request_id)
    if problem is not None:
        raise ValueError(f"request_id {problem}")
    return "/dispatches/" + urllib.parse.quote(request_id, safe="")


def _problem(payload: bytes) -> Problem | None:
    try:
        return Problem.model_validate_json(payload)
    except ValueError:
        return None


def _retry_after(headers: dict[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else None
    except ValueError:
        return None


def _region_of(url: str) -> str | None:
    found = re.match(
        r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", urllib.parse.urlsplit(url).netloc
    )
    return found.group(1) if found else None
