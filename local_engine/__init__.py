"""The local engine: the real state machine definition on moto's Step Functions interpreter, the real
handlers in-process, the stack built from SAM's own translation of the template, IAM enforced.

>>> from clocks import VirtualClock
>>> with LocalEngine(VirtualClock(), livekit_credentials, template_path="template.yaml") as engine:
...     result = engine.run({"room": "r1", "agent_name": "support"})

``LocalApi`` serves the stack's API through the real handler (``LocalApiServer`` over HTTP, ``serve``
for the command line); ``translate`` gives the CloudFormation SAM makes of a template;
``acting_as`` signs AWS requests as a role, as a handler call does; ``QueueEventSource`` (in
``engine.queue_sources``) and ``SqsIntegration`` (a route's ``queue``) are the webhook queue's two ends.
"""

from local_engine.aws_faults import AwsFaults
from local_engine.credentials import acting_as
from local_engine.engine import ExecutionResult, Invocation, LocalEngine
from local_engine.local_api import WEBHOOK_PATH, LocalApi, LocalApiServer, Route, proxy_event, serve
from local_engine.moto_bridge import LambdaTarget
from local_engine.queues import QueueEventSource, SqsIntegration
from local_engine.stack import Stack, TemplateRefused, Translated, create_table, translate

__all__ = [
    "WEBHOOK_PATH",
    "AwsFaults",
    "ExecutionResult",
    "Invocation",
    "LambdaTarget",
    "LocalApi",
    "LocalApiServer",
    "LocalEngine",
    "QueueEventSource",
    "Route",
    "SqsIntegration",
    "Stack",
    "TemplateRefused",
    "Translated",
    "acting_as",
    "create_table",
    "proxy_event",
    "serve",
    "translate",
]
