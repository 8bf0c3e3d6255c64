"""The history an option set may cost, against Step Functions' 25,000 events per execution.

A Standard execution that reaches 25,000 history events fails with no escalation and no record, so
intake refuses an option set whose worst case does not fit a budget well under it. The worst case is
an agent that never comes: every attempt waits its whole join timeout in waits of the interval, then
the request escalates. Measured through the real state machine on the local engine (a never-joining
agent, 1 s interval; tests/integration/test_history_budget.py checks the model against it):
``FIXED_EVENTS`` for the start and the escalation, ``EVENTS_PER_ATTEMPT`` for a dispatch (the first
one's validation and room included: one "Dispatch agent" step), and
``EVENTS_PER_WAIT`` for each wait and the look after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dispatch_verify.models import Options

HISTORY_QUOTA = 25_000  # events per Standard execution (AWS Step Functions quota)
# What is left between the budget and the quota covers what the model leaves out: the engine's retries
# of transient errors (a few events each), a dial, a late webhook.
HISTORY_BUDGET = 20_000
FIXED_EVENTS = 18  # the start, Escalate (which records), "Page on-call", "Announce outcome", the end
EVENTS_PER_ATTEMPT = 7
EVENTS_PER_WAIT = 13


def waits_per_attempt(options: Options, webhooks: bool | None) -> int:
    """Waits in one attempt that never sees its agent: the join timeout in intervals, rounded up (the
    first wait is the interval too: "Await agent" looks at once, wait_time.py). ``webhooks`` None (the
    stack's mode unknown here) takes the shorter interval: never an undercount."""
    if webhooks is None:
        interval = min(options.poll_interval_s, options.webhook_backstop_s)
    else:
        interval = options.webhook_backstop_s if webhooks else options.poll_interval_s
    return max(1, math.ceil(options.join_timeout_s / interval))


def worst_case_events(options: Options, webhooks: bool | None) -> int:
    per_attempt = EVENTS_PER_ATTEMPT + EVENTS_PER_WAIT * waits_per_attempt(options, webhooks)
    return FIXED_EVENTS + options.max_attempts * per_attempt


def over_budget(
    options: Options, webhooks: bool | None, name: Callable[[str], str] = lambda field: f"options.{field}"
) -> str | None:
    """Why the options cannot fit the history budget, naming them with ``name``; None when they fit."""
    events = worst_case_events(options, webhooks)
    if events <= HISTORY_BUDGET:
        return None
    intervals = {None: ["poll_interval_s", "webhook_backstop_s"], False: ["poll_interval_s"]}
    interval = " or ".join(name(field) for field in intervals.get(webhooks, ["webhook_backstop_s"]))
    return (
        f"{name('join_timeout_s')} in waits of {interval}, times {name('max_attempts')}, allow up to "
        f"{events:,} history events when the agent never comes, over the budget of {HISTORY_BUDGET:,} "
        f"(a Standard execution ends at {HISTORY_QUOTA:,}): shorten the join timeout, lengthen the "
        "interval or lower the attempts"
    )
