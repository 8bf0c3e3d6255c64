"""API Gateway's SQS integration and Lambda's SQS event source, as the template declares them.

``POST /livekit/webhook`` is no Lambda proxy route: the template gives API Gateway an AWS integration
with SQS (``x-amazon-apigateway-integration`` of type ``aws``, ``uri`` ``arn:aws:apigateway:...:sqs:
path/<account>/<queue>``). ``SqsIntegration`` does what API Gateway does with it: the request's media
type picks the request template (none, with ``passthroughBehavior: never``: API Gateway's 415), the
template is rendered as Velocity (airspeed-ext, with API Gateway's ``$input.body``,
``$input.params(name)`` and ``$util.urlEncode``), the form it renders is sent to moto's SQS signed as
the integration's ``credentials`` role (moto's IAM checks it), and the answer is the integration
response whose pattern matches SQS's status (else ``default``), with its response template as body.
Only ``Action=SendMessage`` is understood; anything else is a refusal, said plainly.

``QueueEventSource`` is an ``AWS::Lambda::EventSourceMapping`` on a queue, run by the engine instead
of moto (whose mappings would invoke moto's own Lambda): after each message the integration queues, it
receives what is visible (``BatchSize`` at a time, signed as the function's role, which must be allowed
to), deletes what no ``FilterCriteria`` pattern matches (Lambda's event filtering: the body as JSON when
it is JSON), and invokes the real handler with the batch as Lambda's SQS event. With
``ReportBatchItemFailures`` the records the handler names in ``batchItemFailures`` stay in the queue,
the others are deleted; a handler that raises leaves them all. What stays becomes visible again after
the queue's visibility timeout on the engine's clock, and moto moves a message received
``maxReceiveCount`` times to the queue's dead-letter queue. ``ScalingConfig.MaximumConcurrency`` is
``max_concurrency``; here the handler module is one execution environment, so its calls are made one at
a time (Powertools' batch processor keeps the batch on itself).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol
from urllib.parse import parse_qs, quote_plus

import airspeed
from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from local_engine.credentials import acting_as
from local_engine.errors import EngineClosing
from local_engine.moto_bridge import LambdaContext, LambdaTarget

# What SQS refuses in a message body or a string attribute: any character outside #x9, #xA, #xD,
# #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF (its documented set), and an empty one.
SQS_REFUSED_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SQS_URI = re.compile(r"^arn:aws:apigateway:[^:]+:sqs:path/(?P<account>\d+)/(?P<queue>[^/]+)$")


class LocalEngine(Protocol):
    """What of the local engine (local_engine/engine.py) the queues use."""

    session: Any  # boto3 Session on moto
    region: str
    api_integration_credentials: dict[str, Any]  # role ARN -> its assumed keys

    @property
    def closing(self) -> bool: ...

    def function(self, logical_id: str) -> LambdaTarget: ...

    def handler(self, target: LambdaTarget) -> Callable[[dict[str, Any], Any], Any]: ...

    def handler_call(self, target: LambdaTarget) -> AbstractContextManager[None]: ...

    def outside_call(self) -> AbstractContextManager[None]: ...  # raises EngineClosing once closing

    def queued(self, queue_url: str) -> None: ...

    def after(self, seconds: float, action: Callable[[], None]) -> None: ...


class _Input:
    """API Gateway's ``$input`` for a mapping template (what the webhook's template uses of it)."""

    def __init__(self, body: str, headers: dict[str, str]) -> None:
        self.body = body
        self._headers = {name.lower(): value for name, value in headers.items()}

    def params(self, name: str) -> str:
        return self._headers.get(name.lower(), "")  # API Gateway: "" for a parameter not given


class _Util:
    """API Gateway's ``$util`` (the part a SendMessage template needs)."""

    @staticmethod
    def urlEncode(value: str) -> str:
        return quote_plus(value)  # as Java's URLEncoder, which API Gateway's $util.urlEncode is


class SqsIntegration:
    """One API Gateway method integrated with SQS: render, send as the role, answer."""

    def __init__(self, engine: LocalEngine, integration: dict[str, Any]) -> None:
        self.engine = engine
        self.integration = integration
        match = SQS_URI.match(str(integration.get("uri", "")))
        if match is None:
            raise ValueError(f"not an SQS path integration: {integration.get('uri')}")
        sqs = engine.session.client("sqs")
        self.queue_url = sqs.get_queue_url(QueueName=match["queue"])["QueueUrl"]
        role = str(integration.get("credentials", ""))
        if role not in engine.api_integration_credentials:
            raise ValueError(f"the integration's role {role!r} is not one the engine assumed")
        self.credentials = engine.api_integration_credentials[role]

    def post(self, headers: dict[str, str], body: str) -> tuple[int, bytes]:
        """API Gateway's answer to a request of this method: status and body."""
        media_type = _media_type(headers)
        templates = self.integration.get("requestTemplates") or {}
        template = templates.get(media_type)
        if template is None:
            if str(self.integration.get("passthroughBehavior", "")).lower() != "when_no_match":
                return 415, b'{"message":"Unsupported Media Type"}'
            raise NotImplementedError("the local engine renders request templates only")
        rendered = airspeed.Template(template).merge({"input": _Input(body, headers), "util": _Util()})
        form = {name: values[-1] for name, values in parse_qs(rendered, keep_blank_values=True).items()}
        try:
            with self.engine.outside_call():  # refused once the engine closes; closing waits for it
                try:
                    status = self._send(form)
                except ClientError as exc:
                    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
                status, answer = self._integration_response(status)
                if 200 <= status < 300:
                    self.engine.queued(self.queue_url)
        except EngineClosing:  # the stack is going away: a post now finds no API, as after a delete
            return 503, b'{"message":"the local engine is closing"}'
        return status, answer

    def _send(self, form: dict[str, str]) -> int:
        if form.get("Action") != "SendMessage":
            raise NotImplementedError(f"the local engine sends SendMessage only, not {form.get('Action')}")
        attributes: dict[str, dict[str, str]] = {}
        index = 1
        while f"MessageAttribute.{index}.Name" in form:
            prefix = f"MessageAttribute.{index}"
            attributes[form[f"{prefix}.Name"]] = {
                "DataType": form[f"{prefix}.Value.DataType"],
                "StringValue": form[f"{prefix}.Value.StringValue"],
            }
            index += 1
        for text in [form.get("MessageBody", ""), *(a["StringValue"] for a in attributes.values())]:
            if text == "" or SQS_REFUSED_CHARACTER.search(text):
                return 400  # SQS: MissingParameter / InvalidMessageContents (moto stores either)
        with acting_as(self.credentials):
            answer = self.engine.session.client("sqs").send_message(
                QueueUrl=self.queue_url, MessageBody=form.get("MessageBody", ""), MessageAttributes=attributes
            )
        return int(answer["ResponseMetadata"]["HTTPStatusCode"])

    def _integration_response(self, status: int) -> tuple[int, bytes]:
        responses = self.integration.get("responses") or {}
        chosen = responses.get("default", {"statusCode": "200"})
        for pattern, response in responses.items():
            if pattern != "default" and re.fullmatch(pattern, str(status)):
                chosen = response
                break
        body = (chosen.get("responseTemplates") or {}).get("application/json", "")
        return int(chosen["statusCode"]), str(body).encode()


def _media_type(headers: dict[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
    return value.split(";", 1)[0].strip().lower()


class QueueEventSource:
    """An SQS event source mapping of the stack, polled by the engine."""

    def __init__(self, engine: LocalEngine, props: dict[str, Any]) -> None:
        self.engine = engine
        self.queue_arn = str(props["EventSourceArn"])
        name = self.queue_arn.rsplit(":", 1)[1]
        sqs = engine.session.client("sqs")
        self.queue_url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
        self.visibility_timeout_s = int(attributes["Attributes"]["VisibilityTimeout"])
        self.target = engine.function(str(props["FunctionName"]).split(":function:")[-1])
        self.batch_size = int(props.get("BatchSize", 10))
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        self.patterns = [EventPattern.load(str(f["Pattern"])) for f in filters]
        self.max_concurrency = int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 1000))
        self.reports_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self._one_environment = threading.Lock()
        self.filtered_out = 0  # messages deleted by the filter, never given to the function
        # Each invocation's batch, as the rooms its records are about ("" for a body that names none):
        # what a benchmark charges each dispatch of the function's work.
        self.batches: list[list[str]] = []

    def depth(self, queue_url: str | None = None) -> int:
        """Messages in the queue (or in ``queue_url``, its dead-letter queue say), visible or not, read
        as the engine: what is waiting, and what a failed batch left to come back."""
        attributes = self.engine.session.client("sqs").get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def matches(self, message: dict[str, Any]) -> bool:
        if not self.patterns:
            return True
        try:
            body: Any = json.loads(message["Body"])
        except ValueError:
            body = message["Body"]
        record = {
            "body": body,
            "messageAttributes": _attributes(message),
            "attributes": message.get("Attributes"),
        }
        return any(pattern.matches_event(record) for pattern in self.patterns)

    def poll(self) -> None:
        """Receive, filter and hand over what is visible now, batch after batch."""
        while not self.engine.closing:
            with acting_as(self.target.credentials):  # Lambda polls with the function's role
                received = self.engine.session.client("sqs").receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            messages = received.get("Messages") or []
            if not messages:
                return
            wanted = [m for m in messages if self.matches(m)]
            self.filtered_out += len(messages) - len(wanted)
            self._delete([m for m in messages if m not in wanted])
            if wanted:
                self._invoke(wanted)

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        self.batches.append([_room(m["Body"]) for m in messages])
        target = self.target
        context = LambdaContext(
            function_name=target.name,
            invoked_function_arn=target.arn,
            memory_limit_in_mb=target.memory_mb,
            timeout_s=target.timeout_s,
        )
        failed = {m["MessageId"] for m in messages}  # a handler that raises: the whole batch stays
        try:
            with self._one_environment, self.engine.handler_call(target):
                answer = self.engine.handler(target)(event, context)
            named = (answer or {}).get("batchItemFailures", []) if self.reports_failures else []
            failed = {str(item["itemIdentifier"]) for item in named}
        except Exception:  # noqa: S110 - Lambda's own behaviour: the batch is retried
            pass
        self._delete([m for m in messages if m["MessageId"] not in failed])
        again = [m for m in messages if m["MessageId"] in failed]
        if again:
            self.engine.after(self.visibility_timeout_s, lambda: self._visible_again(again))

    def _visible_again(self, messages: list[dict[str, Any]]) -> None:
        """The visibility timeout has passed on the engine's clock; moto's runs on real time, so the
        engine (not the function's role: this is SQS's own doing) makes them visible now."""
        with self.engine.outside_call():
            self._make_visible(messages)
            self.poll()

    def _make_visible(self, messages: list[dict[str, Any]]) -> None:
        sqs = self.engine.session.client("sqs")
        for message in messages:
            try:
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            except ClientError:  # received again meanwhile, or gone
                continue

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        """One DeleteMessage each (IAM authorizes DeleteMessageBatch as sqs:DeleteMessage, which is
        what the function's role holds; moto asks for sqs:DeleteMessageBatch)."""
        with acting_as(self.target.credentials):
            sqs = self.engine.session.client("sqs")
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record Lambda's SQS event carries for ``message``."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes") or {},
            "messageAttributes": _attributes(message),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.engine.region,
        }


def _room(body: str) -> str:
    try:
        event = json.loads(body)
    except ValueError:
        return ""
    room = event.get("room") if isinstance(event, dict) else None
    return str(room.get("name", "")) if isinstance(room, dict) else ""


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    """SQS's message attributes as Lambda's event spells them (camelCase keys)."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
