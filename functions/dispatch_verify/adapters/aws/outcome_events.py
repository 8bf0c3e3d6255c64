"""An outcome as an EventBridge event on the stack's bus: source ``dispatch-verify``, the detail the
``Outcome`` model (the same JSON as the CLI's ``--json`` and ``GET /dispatches/{id}``). The API
publishes ``AgentDispatchCancelled`` with it when a request is cancelled."""

from __future__ import annotations

import os

from dispatch_verify import names
from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.errors import ConfigurationError, DispatchVerifyError
from dispatch_verify.models import Outcome

SOURCE = "dispatch-verify"
DETAIL_TYPES = {"cancelled": "AgentDispatchCancelled"}


def publish_outcome(outcome: Outcome) -> None:
    bus = os.environ.get(names.EVENT_BUS_NAME, "").strip()
    if not bus:
        raise ConfigurationError.of("internal", "missing environment variable(s): EVENT_BUS_NAME")
    detail_type = DETAIL_TYPES.get(outcome.status)
    if detail_type is None:
        raise DispatchVerifyError.of("internal", f"no outcome event for status {outcome.status}")
    response = aws.client("events").put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": outcome.model_dump_json(),
                "EventBusName": bus,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        failure = response["Entries"][0]
        reason = f"{failure.get('ErrorCode')}: {failure.get('ErrorMessage')}"
        raise DispatchVerifyError.of("internal", f"EventBridge refused the {detail_type} event ({reason})")
