"""An outcome as an EventBridge event on the stack's bus, as the state machine's "Announce outcome" puts
it (logic/announce.py: source ``dispatch-verify``, the detail the outcome with its stable ``event_id``).
The API publishes ``AgentDispatchCancelled`` with it when a request is cancelled: a stopped execution
announces nothing."""

from __future__ import annotations

import json
import os

from dispatch_verify import names
from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.errors import ConfigurationError, DispatchVerifyError
from dispatch_verify.logic.announce import SOURCE, announcement
from dispatch_verify.models import Outcome


def publish_outcome(outcome: Outcome) -> None:
    bus = os.environ.get(names.EVENT_BUS_NAME, "").strip()
    if not bus:
        raise ConfigurationError.of("internal", "missing environment variable(s): EVENT_BUS_NAME")
    announced = announcement(outcome, None)
    response = aws.client("events").put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": announced.detail_type,
                "Detail": json.dumps(announced.detail),
                "EventBusName": bus,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        failure = response["Entries"][0]
        reason = f"{failure.get('ErrorCode')}: {failure.get('ErrorMessage')}"
        raise DispatchVerifyError.of(
            "internal", f"EventBridge refused the {announced.detail_type} event ({reason})"
        )
