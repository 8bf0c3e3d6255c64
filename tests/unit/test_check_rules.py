"""Rules of logic/check.py the other check specs leave open: a check works on its own copy of the state
(a retried step starts from the same input), and the room's sid is learned from the first job that
names it, never overwritten once known."""

from __future__ import annotations

from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.ports.livekit import Job

from .conftest import ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def test_a_check_leaves_the_state_it_was_given_unchanged(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a dispatched request, as the step receives it
    state = dispatch_agent(a_state(), livekit)
    given = state.model_dump()

    # When the room is checked (the agent is not there yet)
    result = check_participants(state, livekit, webhooks=False)

    # Then the result counts the check, and the input is as it was (a retry starts from it)
    assert result.attempts[-1].checks == 1
    assert state.model_dump() == given


def test_the_room_sid_is_learned_from_the_first_job_that_names_it(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatch whose first job does not name its room and whose second does
    state = dispatch_agent(a_state(), livekit)
    state = state.model_copy(update={"room_sid": None})
    (dispatch,) = livekit.list_dispatches(ROOM)
    livekit.set_jobs(
        dispatch.dispatch_id, Job("AJ_1", "JS_FAILED"), Job("AJ_2", "JS_PENDING", room_sid="RM_abc")
    )

    # When the room is checked
    result = check_participants(state, livekit, webhooks=False)

    # Then the room's sid is the one the job named
    assert result.room_sid == "RM_abc"


def test_a_room_sid_already_known_is_kept(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a request that knows its room's sid, and a job naming another
    state = dispatch_agent(a_state(), livekit).model_copy(update={"room_sid": "RM_known"})
    (dispatch,) = livekit.list_dispatches(ROOM)
    livekit.set_jobs(dispatch.dispatch_id, Job("AJ_1", "JS_PENDING", room_sid="RM_other"))

    # When the room is checked
    result = check_participants(state, livekit, webhooks=False)

    # Then the sid known first is kept
    assert result.room_sid == "RM_known"
