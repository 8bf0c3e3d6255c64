"""Calling the API: through the handler with API Gateway proxy events, or over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_engine import LocalApi, proxy_event


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def body_of(payload: Any) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload).encode()


def via_handler(api: LocalApi, method: str, path: str, payload: Any = None) -> Answer:
    """What API Gateway would send the function for this request, and what the function answers."""
    route = api.route(method, path)
    assert route is not None, f"no route for {method} {path}"
    headers = [("Host", "abc123.execute-api.eu-west-1.amazonaws.com"), ("Content-Type", "application/json")]
    event = proxy_event(route, method, path, headers, body_of(payload))
    event["requestContext"]["stage"] = "v1"
    event["requestContext"]["domainName"] = "abc123.execute-api.eu-west-1.amazonaws.com"
    response = api.invoke(route, event)
    headers_out = {**(response.get("headers") or {})}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers_out[name] = values[-1]
    return Answer(response["statusCode"], json.loads(response["body"]), headers_out)


def via_http(base_url: str, method: str, path: str, payload: Any = None) -> Answer:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, our local server
        base_url + path,
        method=method,
        data=body_of(payload) if payload is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - as above
            return Answer(response.status, json.loads(response.read()), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read()), dict(error.headers))


def follow(get: Callable[[], Answer], timeout_s: float = 30.0) -> Answer:
    """GET until the request is no longer running."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = get()
        if answer.status != 200 or answer.body["status"] != "running" or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def a_dispatch(room: str, agent: str, **extra: Any) -> dict[str, Any]:
    return {
        "room": room,
        "agent_name": agent,
        "metadata": {"purpose": "api-test"},
        "options": {"poll_interval_s": 1, "join_timeout_s": 10, "max_attempts": 2},
        **extra,
    }
