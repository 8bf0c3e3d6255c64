"""The history budget as the refusal states it (20,000 events of Step Functions' 25,000), and the
waits an attempt is counted for: the join timeout in intervals, rounded up."""

from __future__ import annotations

from dispatch_verify.logic.history import over_budget, waits_per_attempt, worst_case_events
from dispatch_verify.models import Options


def test_a_refusal_names_the_events_the_budget_of_20_000_and_the_quota_of_25_000() -> None:
    # Given options whose worst case is far over any budget: an hour in waits of a second, ten times
    options = Options(join_timeout_s=3600, poll_interval_s=1, max_attempts=10)

    # When intake judges them
    refusal = over_budget(options, False)

    # Then the refusal gives the count, the budget and the quota
    assert refusal is not None
    assert f"allow up to {worst_case_events(options, False):,} history events" in refusal
    assert "over the budget of 20,000" in refusal and "ends at 25,000" in refusal


def test_a_wait_is_the_join_timeout_in_intervals_rounded_up() -> None:
    options = Options(join_timeout_s=10, poll_interval_s=3, webhook_backstop_s=4)
    assert waits_per_attempt(options, webhooks=False) == 4  # 10 / 3
    assert waits_per_attempt(options, webhooks=True) == 3  # 10 / 4
    assert waits_per_attempt(options, webhooks=None) == 4  # the shorter interval: never an undercount


def test_a_refusal_names_the_interval_the_stack_s_mode_waits_in() -> None:
    # Given options over the budget in every mode
    options = Options(join_timeout_s=3600, poll_interval_s=1, webhook_backstop_s=1, max_attempts=10)

    # When intake judges them polling only, with webhooks, and with the mode unknown
    polling, webhooks, unknown = (over_budget(options, mode) or "" for mode in (False, True, None))

    # Then each names the interval it counted waits of
    assert "waits of options.poll_interval_s," in polling
    assert "waits of options.webhook_backstop_s," in webhooks
    assert "waits of options.poll_interval_s or options.webhook_backstop_s," in unknown
