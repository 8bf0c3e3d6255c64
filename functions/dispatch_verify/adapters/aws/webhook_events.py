"""The LiveKit webhook events already acted on, kept in DynamoDB so that each is acted on once.

LiveKit may deliver an event more than once, and a captured delivery stays valid for as long as its
signature does (5 minutes, and ``TokenVerifier``'s 60 s of leeway), so anyone who sees one can replay
it. ``claim`` is a conditional PutItem of the event's id (``attribute_not_exists``): the first
delivery claims it and acts; every later one finds it claimed and does nothing. Items expire through
DynamoDB's TTL ``EVENT_TTL_S`` after the claim: longer than any signature of the event stays valid.
A delivery that fails after its claim gives the claim back (``release``), so LiveKit's retry acts.

The table (``WebhookEventTable``, key ``event_id``) is the webhook function's alone: its role may put
and delete items there, but not write the wait tokens beside the workflows' own.
"""

from __future__ import annotations

from typing import Any

from dispatch_verify import clock, config
from dispatch_verify.adapters.aws import clients as aws

# A delivery's token is valid 5 minutes, and 60 s more with TokenVerifier's leeway; DynamoDB deletes
# an expired item late (readers here never look at the time: a claim counts until it is gone), and
# the margin covers LiveKit's retries, each signed afresh, and a clock running ahead.
EVENT_TTL_S = 10 * 60


class WebhookEvents:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table = (resource or aws.client("dynamodb:resource")).Table(table_name)

    @classmethod
    def from_config(cls) -> WebhookEvents:
        return cls(config.webhook_event_table_name())

    def claim(self, event_id: str, event: str, room: str) -> bool:
        """True for the first delivery of ``event_id``; False when it was claimed before."""
        from boto3.dynamodb.conditions import Attr
        from botocore.exceptions import ClientError

        try:
            self.table.put_item(
                Item={
                    "event_id": event_id,
                    "event": event,
                    "room": room,
                    "expires_at": int(clock.now()) + EVENT_TTL_S,
                },
                ConditionExpression=Attr("event_id").not_exists(),
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise

    def release(self, event_id: str) -> None:
        """Give a claim back: acting on the event failed, and a redelivery should act."""
        self.table.delete_item(Key={"event_id": event_id})
