"""The history budget as the refusal states it (20,000 events of Step Functions' 25,000), and the
waits an attempt is counted for: the join timeout in intervals, rounded up."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.history import HISTORY_BUDGET, over_budget, waits_per_attempt, worst_case_events
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


def test_a_join_timeout_within_one_interval_is_one_wait() -> None:
    # Given a join timeout no longer than the interval
    options = Options(join_timeout_s=5, poll_interval_s=10, webhook_backstop_s=30)

    # Then an attempt waits once, in every mode
    assert [waits_per_attempt(options, mode) for mode in (False, True, None)] == [1, 1, 1]


def test_each_attempt_and_each_wait_adds_to_the_worst_case() -> None:
    # Given options, and the same with one attempt more, and with one wait more per attempt
    options = Options(join_timeout_s=10, poll_interval_s=1, max_attempts=2)
    one_attempt_more = options.model_copy(update={"max_attempts": 3})
    one_wait_more = options.model_copy(update={"join_timeout_s": 11})

    # Then the worst case grows by one attempt's events, and by one wait's in every attempt
    base = worst_case_events(options, False)
    per_attempt = worst_case_events(one_attempt_more, False) - base
    per_wait = (worst_case_events(one_wait_more, False) - base) // 2
    assert per_attempt > 10 * per_wait > 0  # an attempt is its waits and more
    assert base == worst_case_events(options.model_copy(update={"max_attempts": 1}), False) + per_attempt


def largest_accepted_join_timeout(attempts: int) -> int:
    """The longest join timeout in waits of 1 s that fits the budget, found by asking over_budget."""
    fits = [
        t
        for t in range(1, 3601)
        if over_budget(Options(join_timeout_s=t, poll_interval_s=1, max_attempts=attempts), False) is None
    ]
    return max(fits)


def test_the_refusal_edge_is_one_wait_past_the_budget() -> None:
    # Given the longest join timeout accepted with two attempts, waits of a second
    longest = largest_accepted_join_timeout(2)
    edge = Options(join_timeout_s=longest, poll_interval_s=1, max_attempts=2)
    past = edge.model_copy(update={"join_timeout_s": longest + 1})

    # Then it is within the budget, and one second (one wait) more is over it and refused
    assert worst_case_events(edge, False) <= HISTORY_BUDGET < worst_case_events(past, False)
    assert over_budget(past, False) is not None


def test_a_worst_case_of_exactly_the_budget_is_accepted() -> None:
    # Given option sets whose worst case is exactly the budget (the model allows some: a whole
    # number of attempts, each a whole number of waits of a second)
    exact = [
        Options(join_timeout_s=t, poll_interval_s=1, max_attempts=a)
        for a in range(1, 11)
        for t in range(1, 3601)
        if worst_case_events(Options(join_timeout_s=t, poll_interval_s=1, max_attempts=a), False)
        == HISTORY_BUDGET
    ]
    if not exact:
        pytest.skip("no option set's worst case is exactly the budget with these event counts")

    # Then each is accepted: the budget is "at most"
    assert all(over_budget(options, False) is None for options in exact)
