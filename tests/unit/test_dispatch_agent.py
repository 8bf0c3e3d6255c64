"""Ensure room and Dispatch agent: create what is needed, once, even when run twice."""

from __future__ import annotations

from dispatch_verify.clock import iso_utc
from dispatch_verify.logic.dispatch import dispatch_agent, ensure_room

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def test_room_is_created_with_the_requested_empty_timeout(livekit: FakeLiveKit) -> None:
    # Given a request for a room that does not exist yet
    state = a_state(room_empty_timeout_s=600)
    livekit.rooms.clear()

    # When the room is ensured
    ensure_room(state, livekit)

    # Then it exists with that empty timeout
    assert livekit.rooms == {ROOM: 600}


def test_room_is_left_alone_when_the_request_does_not_ask_for_it(livekit: FakeLiveKit) -> None:
    # Given a request with create_room off
    state = a_state(create_room=False)

    # When the room is ensured
    ensure_room(state, livekit)

    # Then LiveKit was not called
    assert livekit.calls == []


def test_dispatch_records_an_attempt_with_livekit_creation_time_and_join_deadline(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a prepared request with a 30 s join timeout
    state = a_state(join_timeout_s=30)

    # When the agent is dispatched
    result = dispatch_agent(state, livekit)

    # Then one dispatch exists with the request's metadata, and the attempt records it
    (dispatch,) = livekit.live(ROOM, AGENT)
    assert dispatch.metadata == state.request.metadata
    (attempt,) = result.attempts
    assert attempt.dispatch_id == dispatch.dispatch_id
    assert attempt.created_at == iso_utc(dispatch.created_at)
    assert attempt.deadline_epoch == now() + 30
    assert state.attempts == []  # the input state is not modified


def test_dispatch_step_run_twice_on_the_same_state_leaves_one_dispatch(livekit: FakeLiveKit) -> None:
    # Given a dispatch step that created a dispatch but whose result was lost
    state = a_state()
    first = dispatch_agent(state, livekit)

    # When the state machine runs the step again on the same input
    second = dispatch_agent(state, livekit)

    # Then the earlier dispatch is adopted: one live dispatch, the same id in both results
    assert len(livekit.live(ROOM, AGENT)) == 1
    assert livekit.calls.count("create_dispatch") == 1
    assert second.attempts[0].dispatch_id == first.attempts[0].dispatch_id


def test_dispatch_of_another_agent_or_with_other_metadata_is_not_adopted(livekit: FakeLiveKit) -> None:
    # Given live dispatches in the room for another agent, and for ours with other metadata
    other_agent = livekit.create_dispatch(ROOM, "other-agent", a_state().request.metadata)
    other_metadata = livekit.create_dispatch(ROOM, AGENT, '{"caller":"someone else"}')

    # When our agent is dispatched
    result = dispatch_agent(a_state(), livekit)

    # Then a new dispatch is created for this request
    assert result.attempts[0].dispatch_id not in {other_agent.dispatch_id, other_metadata.dispatch_id}
    assert livekit.calls.count("create_dispatch") == 3


def test_dispatch_already_recorded_in_the_state_is_not_adopted_again(livekit: FakeLiveKit) -> None:
    # Given a state whose only attempt's dispatch is still live
    state = dispatch_agent(a_state(), livekit)

    # When another dispatch step runs on it
    result = dispatch_agent(state, livekit)

    # Then it created a second, distinct dispatch
    assert len({attempt.dispatch_id for attempt in result.attempts}) == 2
