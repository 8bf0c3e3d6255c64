"""How long a wait for the agent lasts: the webhook backstop or the poll interval, never past the deadline."""

from __future__ import annotations

import pytest
from dispatch_verify import config
from dispatch_verify.errors import ConfigurationError
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent, redispatch_agent
from dispatch_verify.logic.wait_time import wait_seconds
from dispatch_verify.models import Options, WorkflowState
from pydantic import ValidationError

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def dispatched(livekit: FakeLiveKit, *, webhooks: bool, **options: object) -> WorkflowState:
    return dispatch_agent(a_state(**options), livekit, webhooks=webhooks)


@pytest.mark.parametrize(("webhooks", "expected"), [(True, 30), (False, 3)])
def test_a_wait_lasts_the_backstop_with_webhooks_and_the_poll_interval_without(
    livekit: FakeLiveKit, now: FakeTime, webhooks: bool, expected: int
) -> None:
    # Given poll 3 s, backstop 30 s, join timeout 45 s
    # When the agent is dispatched, with or without webhooks expected
    state = dispatched(livekit, webhooks=webhooks, webhook_backstop_s=30)

    # Then the first wait lasts the backstop (the join webhook ends it sooner; "Await agent" looks at
    # once for a job refused at once) or the poll interval
    assert state.wait_s == expected

    # And so does the wait after a look that found the agent not there yet
    now.advance(10 if webhooks else state.wait_s)
    state = check_participants(state, livekit, webhooks=webhooks)
    assert state.check is not None and state.check.next == "wait"
    assert state.wait_s == expected


def test_a_wait_is_cut_to_the_whole_seconds_left_of_the_join_timeout(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatch with a 45 s join timeout, checked 20.4 s later (agent not there yet)
    state = dispatched(livekit, webhooks=True)
    now.advance(20.4)

    # When the participants are checked
    state = check_participants(state, livekit, webhooks=True)

    # Then it waits again, only until the deadline, rounded up: the deadline is never overshot by more
    # than the rounding, and the next check finds the attempt stale
    assert state.check is not None and state.check.next == "wait"
    assert state.wait_s == 25  # ceil(24.6)
    now.advance(state.wait_s)
    state = check_participants(state, livekit, webhooks=True)
    assert state.check is not None and state.check.next == "redispatch"


def test_a_wait_lasts_at_least_one_second(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a dispatch with a 2 s join timeout, and the deadline a few milliseconds away
    state = dispatched(livekit, webhooks=False, join_timeout_s=2, poll_interval_s=5)
    attempt = state.attempts[-1]

    # When the wait is computed just before and just at the deadline
    # Then it is at least 1 s (Step Functions waits whole seconds, at least one)
    assert wait_seconds(state, attempt.deadline_epoch - 0.003, webhooks=False) == 1
    assert wait_seconds(state, attempt.deadline_epoch + 5, webhooks=False) == 1
    assert wait_seconds(state, attempt.deadline_epoch - 2, webhooks=False) == 2


def test_the_poll_interval_is_kept_when_it_is_shorter_than_the_time_left(livekit: FakeLiveKit) -> None:
    # Given a 45 s join timeout and a 10 s poll interval, no webhooks
    state = dispatched(livekit, webhooks=False, poll_interval_s=10)

    # Then the wait is the poll interval
    assert state.wait_s == 10


def test_a_check_that_verifies_or_gives_up_sets_no_wait(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a dispatched agent that then joined
    state = dispatched(livekit, webhooks=True)
    livekit.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT, joined_at=now())

    # When the participants are checked
    state = check_participants(state, livekit, webhooks=True)

    # Then nothing waits any more
    assert state.check is not None and state.check.next == "verified"
    assert state.wait_s is None


def test_a_redispatch_waits_for_the_new_attempt(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a first attempt gone stale after its 20 s join timeout
    state = dispatched(livekit, webhooks=True, join_timeout_s=20)
    now.advance(21)
    state = check_participants(state, livekit, webhooks=True)
    assert state.check is not None and state.check.next == "redispatch" and state.wait_s is None

    # When the agent is re-dispatched, with and without webhooks
    with_webhooks = redispatch_agent(state, livekit, webhooks=True)
    polling = redispatch_agent(state, livekit, webhooks=False)

    # Then the new attempt is waited on as the first was: the backstop with webhooks, else the poll
    assert (with_webhooks.wait_s, polling.wait_s) == (20, 3)  # the backstop cut to the 20 s join timeout


def test_the_backstop_is_validated_like_the_other_options() -> None:
    # Given backstops out of range, or not whole seconds
    for bad in (0, 301, 2.5, "30s"):
        # When the options are validated
        # Then they are refused
        with pytest.raises(ValidationError):
            Options.model_validate({"webhook_backstop_s": bad})
    assert Options().webhook_backstop_s == Options().join_timeout_s == 45  # one wait per attempt


@pytest.mark.parametrize(("value", "expected"), [("Enabled", True), ("Disabled", False), ("", True)])
def test_whether_webhooks_are_expected_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    # Given LIVEKIT_WEBHOOKS as the template sets it (or unset: the template's default, Enabled)
    monkeypatch.setenv("LIVEKIT_WEBHOOKS", value)

    # When it is read
    # Then it says whether a join webhook is expected
    assert config.livekit_webhooks_expected() is expected


def test_an_unknown_webhooks_setting_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a value the template does not allow
    monkeypatch.setenv("LIVEKIT_WEBHOOKS", "yes")

    # When it is read
    # Then it is refused, naming the variable
    with pytest.raises(ConfigurationError, match="LIVEKIT_WEBHOOKS"):
        config.livekit_webhooks_expected()
