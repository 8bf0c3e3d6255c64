"""How long the next wait for the agent lasts ("Await agent"'s timeout, or "Wait for agent").

Every state entered is billed, so a wait should end when there is something new to see: with
LiveKit webhooks expected, the agent's ``participant_joined`` ends it, and its timeout is only the
backstop for a lost webhook (``options.webhook_backstop_s``); without them it is the poll interval.
A job LiveKit refuses at once (JS_FAILED: no worker capacity) sends no webhook: "Await agent" looks
at the dispatch's jobs right after recording its wait (logic/await_agent.py) and ends the wait at
once, so no early timed look is needed (each one would cost three state transitions per dispatch).
Either way a wait never runs past the live attempt's join deadline by more than the rounding up to
whole seconds (Step Functions waits whole seconds), so a stale dispatch is found stale on time.
"""

from __future__ import annotations

import math

from dispatch_verify.models import WorkflowState


def wait_seconds(state: WorkflowState, now: float, *, webhooks: bool) -> int:
    """min(interval, whole seconds left until the live attempt's deadline), at least 1."""
    options = state.request.options
    interval = options.webhook_backstop_s if webhooks else options.poll_interval_s
    attempt = state.live_attempt
    if attempt is None:
        return interval
    left = math.ceil(attempt.deadline_epoch - now)
    return max(1, min(interval, left))
