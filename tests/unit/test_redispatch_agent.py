"""Re-dispatch agent: cancel the stale dispatch, dispatch again; never two live dispatches."""

from __future__ import annotations

from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent, redispatch_agent
from dispatch_verify.models import WorkflowState

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def stale(livekit: FakeLiveKit, now: FakeTime) -> WorkflowState:
    state = dispatch_agent(a_state(join_timeout_s=20), livekit)
    now.advance(21)
    state = check_participants(state, livekit)
    assert state.check is not None and state.check.next == "redispatch"
    return state


def test_stale_dispatch_is_deleted_before_a_new_one_is_created(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a stale first attempt
    state = stale(livekit, now)
    old_id = state.attempts[0].dispatch_id

    # When the agent is re-dispatched
    result = redispatch_agent(state, livekit)

    # Then the old dispatch is gone and marked deleted, a new one is live, and the workflow waits
    (live,) = livekit.live(ROOM, AGENT)
    assert live.dispatch_id != old_id
    assert [(a.dispatch_id, a.deleted) for a in result.attempts] == [
        (old_id, True),
        (live.dispatch_id, False),
    ]
    assert livekit.max_live == 1
    assert result.check is not None and (result.check.next, result.check.cause) == ("wait", "never_assigned")


def test_new_attempt_gets_a_fresh_join_deadline(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a stale first attempt
    state = stale(livekit, now)

    # When the agent is re-dispatched
    result = redispatch_agent(state, livekit)

    # Then the new attempt waits a full join timeout from now
    assert result.attempts[-1].deadline_epoch == now() + 20


def test_agent_that_arrived_since_the_check_is_kept_and_verified(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a stale attempt whose agent joins just before the re-dispatch step
    state = stale(livekit, now)
    livekit.add_participant(ROOM, "agent-AJ_9", agent_name=AGENT)

    # When the agent is re-dispatched
    result = redispatch_agent(state, livekit)

    # Then nothing is deleted or created, and the check says verified
    assert "delete_dispatch" not in livekit.calls
    assert livekit.calls.count("create_dispatch") == 1
    assert result.check is not None and result.check.next == "verified"
    assert result.check.agent_identity == "agent-AJ_9"


def test_redispatch_run_twice_on_the_same_state_leaves_one_live_dispatch(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a re-dispatch step that completed in LiveKit but whose result was lost
    state = stale(livekit, now)
    first = redispatch_agent(state, livekit)

    # When the state machine runs it again on the same input
    second = redispatch_agent(state, livekit)

    # Then the dispatch created by the first run is adopted: one live dispatch, the same in both
    assert len(livekit.live(ROOM, AGENT)) == 1
    assert livekit.max_live == 1
    assert second.attempts[-1].dispatch_id == first.attempts[-1].dispatch_id
    assert second.attempts[0].deleted


def test_stale_dispatch_already_gone_counts_as_deleted(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a stale attempt whose dispatch LiveKit no longer knows
    state = stale(livekit, now)
    livekit.dispatches.clear()

    # When the agent is re-dispatched
    result = redispatch_agent(state, livekit)

    # Then the old attempt is marked deleted and a new dispatch is live
    assert result.attempts[0].deleted
    assert len(livekit.live(ROOM, AGENT)) == 1
