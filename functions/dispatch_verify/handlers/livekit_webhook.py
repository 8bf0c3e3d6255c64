"""Lambda "LiveKit webhook": LiveKit's webhooks, taken from their queue in batches.

LiveKit posts to ``POST /livekit/webhook``; API Gateway puts each post on an SQS queue itself (the
body, and LiveKit's ``Authorization`` header as the message attribute ``authorization``) and answers
200 once it is stored. No function runs per post: the queue's event source hands this function only
what its filter lets through (an agent's ``participant_joined``: everything else is deleted unread),
up to 10 events at once and never more than ``LiveKitWebhookConcurrency`` functions at a time
(template.yaml). So a burst of LiveKit events, or a flood of posts on a route open to the internet,
waits in the queue instead of taking the concurrency the workflow's steps and the API need.

Each record is checked with livekit-api's ``WebhookReceiver`` (adapters/livekit_webhook.py): one that
is not signed by this LiveKit project (missing, forged, tampered, expired), that is not a
``WebhookEvent``, or that is over ``MAX_BODY_BYTES``, is logged and dropped: retrying would not make
it valid. A verified event resumes the workflows waiting for that agent (once per event id). A record
whose handling failed (DynamoDB, Step Functions) is reported back as a batch item failure
(Powertools' ``BatchProcessor``): SQS makes it visible again after the queue's visibility timeout
(30 s) and, after 5 receives, moves it to the dead-letter queue. The wait's backstop looks anyway.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dispatch_verify import config
from dispatch_verify.adapters import livekit_webhook as webhook
from dispatch_verify.adapters.aws import waits
from dispatch_verify.adapters.aws.webhook_events import WebhookEvents
from dispatch_verify.handlers import loaded
from dispatch_verify.observability import logger, metrics, tracer

MAX_BODY_BYTES = 100 * 1024  # LiveKit's events are a few KB; a body this big is nothing it sent
AUTHORIZATION = "authorization"  # the message attribute API Gateway's request template sets
# Each dropped record counts one (EMF, namespace DispatchVerify, dimension service): the alarm
# LiveKitWebhooksRejectedAlarm pages when LiveKit's posts do not verify, e.g. a project that signs with
# another key than the secret's. LiveKit itself sees 200 (API Gateway only queued it).
REJECTED = "WebhooksRejected"

processor = BatchProcessor(event_type=EventType.SQS)


def handle_record(record: SQSRecord) -> None:
    """One queued post. Returns for what is done or worthless (dropped); raises for what may succeed
    when retried (the processor reports it as a batch item failure)."""
    body = record.body or ""
    size = len(body.encode("utf-8", "surrogatepass"))
    context = {"message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count}
    if size > MAX_BODY_BYTES:
        logger.warning("webhook dropped: body too large", extra={**context, "bytes": size})
        metrics.add_metric(name=REJECTED, unit=MetricUnit.Count, value=1)
        return
    attribute = record.message_attributes[AUTHORIZATION]  # Powertools: None when it is absent
    authorization = attribute.string_value if attribute is not None else None
    try:
        verified = webhook.verify(body, authorization, config.livekit_credentials())
    except webhook.WebhookRejected as exc:
        logger.warning(
            "webhook dropped: not signed by this LiveKit project", extra={**context, "reason": str(exc)}
        )
        metrics.add_metric(name=REJECTED, unit=MetricUnit.Count, value=1)
        return
    except webhook.WebhookMalformed as exc:
        logger.warning(
            "webhook dropped: signed, but not a WebhookEvent", extra={**context, "reason": str(exc)}
        )
        metrics.add_metric(name=REJECTED, unit=MetricUnit.Count, value=1)
        return
    result = webhook.on_event(
        verified, waits.WaitTokens.from_config(), waits.resume, WebhookEvents.from_config()
    )
    logger.info(
        "webhook handled",
        extra={**context, "event": result.event, "room": result.room, "resumed": result.resumed},
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}``: the records to retry."""
    try:
        answer = process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    finally:
        if metrics.metric_set:  # only a batch that dropped something writes a data point
            metrics.flush_metrics()
    return dict(answer)


loaded()  # the cold start's imports are done: freeze them, collector back on (handlers/__init__.py)
