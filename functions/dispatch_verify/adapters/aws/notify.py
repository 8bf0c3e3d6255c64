"""The one place that publishes escalations (``ports.escalation.EscalationChannel``): an SNS message for
people, an EventBridge event for systems."""

from __future__ import annotations

from typing import Any

from dispatch_verify.config import EscalationTargets
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.models import EscalationBundle

SOURCE = "dispatch-verify"
DETAIL_TYPE = "AgentDispatchEscalated"
MAX_SUBJECT = 100  # SNS limit


class AwsEscalationChannel:
    """``EscalationChannel`` over boto3 SNS and EventBridge clients."""

    def __init__(self, targets: EscalationTargets, sns: Any, events: Any) -> None:
        self._targets, self._sns, self._events = targets, sns, events

    def publish(self, bundle: EscalationBundle) -> None:
        body = bundle.model_dump_json()
        self._sns.publish(
            TopicArn=self._targets.topic_arn,
            Subject=subject(bundle),
            Message=body,
            MessageAttributes={
                "cause": {"DataType": "String", "StringValue": bundle.cause},
                "agent_name": {"DataType": "String", "StringValue": bundle.agent_name or "unknown"},
            },
        )
        response = self._events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": body,
                    "EventBusName": self._targets.event_bus_name,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            failure = response["Entries"][0]
            reason = f"{failure.get('ErrorCode')}: {failure.get('ErrorMessage')}"
            raise DispatchVerifyError.of("internal", f"EventBridge refused the escalation event ({reason})")


def subject(bundle: EscalationBundle) -> str:
    """SNS subjects are printable ASCII without line breaks, at most 100 characters."""
    where = f"{bundle.agent_name or 'unknown'} in {bundle.room or 'unknown'}"
    if bundle.cause == "dial_failed":  # the agent is there; the callee is not
        reason = bundle.sip.reason if bundle.sip else None
        text = f"Call not connected: {where} ({bundle.cause}: {reason or 'other'})"
    else:
        text = f"Agent not verified: {where} ({bundle.cause})"
    ascii_only = "".join(c if " " <= c <= "~" else "?" for c in text)
    return ascii_only if len(ascii_only) <= MAX_SUBJECT else ascii_only[: MAX_SUBJECT - 3] + "..."
