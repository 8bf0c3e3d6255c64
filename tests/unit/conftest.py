"""Fixtures for the Lambda steps' specification: a settable clock, a fake LiveKit, a Lambda context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from dispatch_verify import clock, config
from dispatch_verify.logic.request import prepare_request
from dispatch_verify.models import WorkflowState
from dispatch_verify.observability import metrics

from .fakes import FakeLiveKit, FakeTime

EVENTS = Path(__file__).resolve().parents[2] / "events"
ROOM, AGENT = "support-call-4711", "inbound-agent"


@dataclass
class LambdaContext:
    function_name: str = "dispatch-verify-step"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:dispatch-verify-step"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(autouse=True)
def reset_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
    cold_start.is_cold_start = True


@pytest.fixture(autouse=True)
def quiet_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No tracing, no real AWS, no cached secret from another test."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("LIVEKIT_SECRET_ARN", "LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    config.clear_cache()
    yield
    config.clear_cache()


@pytest.fixture
def now() -> Iterator[FakeTime]:
    time = FakeTime()
    clock.set_clock(time)
    yield time
    clock.reset_clock()


@pytest.fixture
def livekit(now: FakeTime) -> FakeLiveKit:
    fake = FakeLiveKit(now)
    fake.rooms[ROOM] = None
    return fake


@pytest.fixture
def connected(livekit: FakeLiveKit, monkeypatch: pytest.MonkeyPatch) -> FakeLiveKit:
    """The handlers' ``livekit.connect`` yields the ``livekit`` fake (with credentials in the env)."""
    from dispatch_verify.adapters import livekit as livekit_module

    @contextmanager
    def connect(credentials: object) -> Iterator[FakeLiveKit]:
        yield livekit

    monkeypatch.setattr(livekit_module, "connect", connect)
    monkeypatch.setenv("LIVEKIT_URL", "https://example.livekit.cloud")
    monkeypatch.setenv("LIVEKIT_API_KEY", "APIkey123")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "not-a-real-secret")
    return livekit


def a_request(**options: Any) -> dict[str, Any]:
    return {"room": ROOM, "agent_name": AGENT, "metadata": {"caller": "+4930123456"}, "options": options}


def a_state(**options: Any) -> WorkflowState:
    return prepare_request(a_request(**options), "exec-0001")


def load_event(name: str) -> dict[str, Any]:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    assert isinstance(event, dict)
    return event
