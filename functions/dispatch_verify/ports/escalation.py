"""Where an escalation goes: implemented over SNS and EventBridge by ``adapters.aws.notify``."""

from __future__ import annotations

from typing import Protocol

from dispatch_verify.models import EscalationBundle


class EscalationChannel(Protocol):
    def publish(self, bundle: EscalationBundle) -> None: ...
