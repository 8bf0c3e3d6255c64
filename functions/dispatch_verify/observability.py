"""Logger, Tracer and Metrics shared by every handler (Powertools), and the keys they log with.

Tracing only when it is on. Powertools' ``Tracer()`` imports ``aws_xray_sdk.core`` even when tracing
is disabled (it builds its X-Ray provider first), and where tracing is on it patches every library
X-Ray knows (botocore among them, imported to be patched): well over 100 ms of a cold start. So the
handlers' ``tracer`` is Powertools' Tracer only where Powertools itself would trace (in Lambda, unless
``POWERTOOLS_TRACE_DISABLED`` is true; never under SAM local); elsewhere its
``capture_lambda_handler`` returns the handler as it is, and nothing of X-Ray is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:  # annotations only: the webhook function imports this, and none of the models
    from dispatch_verify.models import Outcome, WorkflowState

SERVICE = "dispatch-verify"
NAMESPACE = "DispatchVerify"

# The request id is the correlation id of every log line. Before "Prepare request" has run (and in
# an Escalate or Record outcome that follows its failure) the state is the raw input, so fall back to
# its request_id and then to the execution name, which is the default request id.
CORRELATION_ID_PATH = "state.request.request_id || state.request_id || execution_name"

Handler = TypeVar("Handler", bound=Callable[..., Any])


class Tracing:
    """The handlers' ``tracer``: Powertools' Tracer where tracing is on (``powertools``); where it is off,
    None, and ``capture_lambda_handler`` returns the handler as it is."""

    def __init__(self, powertools: Tracer | None) -> None:
        self.powertools = powertools

    def capture_lambda_handler(self, lambda_handler: Handler) -> Handler:
        if self.powertools is None:
            return lambda_handler
        # Powertools wraps with functools.wraps: the same call signature, typed loosely upstream.
        return cast(Handler, self.powertools.capture_lambda_handler(lambda_handler))


def tracing_enabled() -> bool:
    """Powertools' own rule (``Tracer._is_tracer_disabled``): on in a Lambda function (``LAMBDA_TASK_ROOT``
    set) unless ``POWERTOOLS_TRACE_DISABLED`` is true or it runs under SAM local or Chalice. The Lambda
    function's ``Tracing: Active`` decides only whether X-Ray records what is sent."""
    return not Tracer._is_tracer_disabled()


logger = Logger(service=SERVICE)
tracer = Tracing(Tracer(service=SERVICE) if tracing_enabled() else None)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def log_context(state: WorkflowState) -> None:
    """Attach the request's identifying keys to every following log line of this invocation."""
    live = state.live_attempt
    logger.append_keys(
        request_id=state.request.request_id,
        room=state.request.room,
        agent_name=state.request.agent_name,
        attempt=len(state.attempts),
        dispatch_id=live.dispatch_id if live else None,
    )


def emit_outcome_metrics(outcome: Outcome) -> None:
    """One data point per metric under the dimension set {AgentName, Kind, service}.

    CloudWatch matches a query's dimensions exactly, so the alarms and the dashboard in template.yaml
    ask for all three (Powertools adds ``service``); Kind is ``request`` or ``heartbeat``.
    """
    metrics.add_dimension(name="AgentName", value=outcome.agent_name or "unknown")
    metrics.add_dimension(name="Kind", value=outcome.kind)
    if outcome.join_latency_s is not None:
        metrics.add_metric(name="AgentJoinLatency", unit=MetricUnit.Seconds, value=outcome.join_latency_s)
    metrics.add_metric(name="DispatchAttempts", unit=MetricUnit.Count, value=outcome.attempts)
    metrics.add_metric(name="Verified", unit=MetricUnit.Count, value=int(outcome.status != "escalated"))
    metrics.add_metric(name="Escalated", unit=MetricUnit.Count, value=int(outcome.status == "escalated"))
