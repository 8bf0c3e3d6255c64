"""How long the next wait for the agent lasts ("Await agent"'s timeout, or "Wait for agent").

Every state entered is billed, so a wait should end when there is something new to see: with
LiveKit webhooks expected, the agent's ``participant_joined`` ends it, and its timeout is only the
backstop for a lost webhook (``options.webhook_backstop_s``); without them it is the poll interval.
A job LiveKit refuses at once (JS_FAILED: no worker capacity) sends no webhook: the dispatching step
looks at the dispatch's jobs (and the room) right after CreateDispatch and, if the dispatch is
already over or the agent already there, waits one second, so no early timed look is needed (each
one would cost three state transitions per dispatch).
Either way a wait never runs past the live attempt's join deadline by more than the rounding up to
whole seconds (Step Functions waits whole seconds), so a stale dispatch is found stale on time.
"""

from __future__ import annotations

import math

from dispatch_verify.models import WaitItem, WorkflowState

# How long a wait's item outlives its wait, for DynamoDB's TTL (it deletes late; readers also filter).
WAIT_ITEM_MARGIN_S = 3600


def wait_seconds(state: WorkflowState, now: float, *, webhooks: bool) -> int:
    """min(interval, whole seconds left until the live attempt's deadline), at least 1."""
    options = state.request.options
    interval = options.webhook_backstop_s if webhooks else options.poll_interval_s
    attempt = state.live_attempt
    if attempt is None:
        return interval
    left = math.ceil(attempt.deadline_epoch - now)
    return max(1, min(interval, left))


def plan_wait(
    state: WorkflowState, looked_at: float, now: float, *, webhooks: bool, soon: bool = False
) -> None:
    """Set the next wait: ``wait_s`` (1 s when ``soon``: the step saw something to check at once), and
    what "Await agent" writes beside its token (``looked_at``: when this step last looked)."""
    state.wait_s = 1 if soon else wait_seconds(state, now, webhooks=webhooks)
    state.wait_item = WaitItem(
        looked_at=f"{looked_at:.3f}", expires_at=str(math.ceil(now) + state.wait_s + WAIT_ITEM_MARGIN_S)
    )
