"""Heartbeats: the room is named after the execution, the agent is told, and the room is closed again."""

from __future__ import annotations

import json

import pytest
from dispatch_verify.errors import InvalidRequestError, LiveKitTransientError
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.heartbeat import close_heartbeat_room
from dispatch_verify.logic.request import prepare_request, recover_state

from .conftest import AGENT, a_state
from .fakes import FakeLiveKit, FakeTime

SCHEDULE_INPUT = {"kind": "heartbeat", "agent_name": AGENT, "metadata": {"type": "heartbeat"}}


def test_heartbeat_without_room_runs_in_a_room_named_after_the_execution(now: FakeTime) -> None:
    # Given the input the schedule sends (it cannot know the execution name)
    # When it is prepared
    state = prepare_request(SCHEDULE_INPUT, "2b9f-heartbeat-run")

    # Then the room is fresh for this run, and the request id is the execution name
    assert state.request.room == "heartbeat-2b9f-heartbeat-run"
    assert state.request.kind == "heartbeat"
    assert state.request_id == "2b9f-heartbeat-run"
    assert json.loads(state.request.metadata) == {"type": "heartbeat"}


def test_heartbeat_without_metadata_tells_the_agent_it_is_a_heartbeat(now: FakeTime) -> None:
    # Given a heartbeat input with no metadata
    # When it is prepared
    state = prepare_request({"kind": "heartbeat", "agent_name": AGENT}, "exec-1")

    # Then the agent gets {"type": "heartbeat"}, so that it can recognise and end the session quickly
    assert json.loads(state.request.metadata) == {"type": "heartbeat"}


def test_request_without_room_is_invalid_and_says_only_a_heartbeat_may_omit_it(now: FakeTime) -> None:
    # Given an ordinary request without a room
    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request({"agent_name": AGENT}, "exec-1")

    # Then it is rejected with a message that names the room and the exception
    assert raised.value.detail.cause == "invalid_request"
    assert "room is required" in raised.value.detail.message
    assert "heartbeat" in raised.value.detail.message


def test_failed_heartbeat_is_recovered_with_its_derived_room(now: FakeTime) -> None:
    # Given a heartbeat input that failed validation (no agent name), as Escalate receives it
    raw = {"request": {"kind": "heartbeat", "agent_name": ""}, "error": {"Error": "InvalidRequestError"}}

    # When its state is recovered
    state = recover_state(raw, "exec-9")

    # Then the evidence names the room this run would have used, and the kind
    assert (state.request.room, state.request.kind) == ("heartbeat-exec-9", "heartbeat")


def test_closing_an_escalated_heartbeat_ends_its_live_dispatch_then_deletes_the_room(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a heartbeat whose dispatch is still live (the agent never came)
    state = prepare_request(SCHEDULE_INPUT, "exec-2")
    livekit.rooms[state.request.room] = None
    state = dispatch_agent(state, livekit)

    # When its room is closed
    close_heartbeat_room(state, livekit)

    # Then the dispatch was deleted before the room, and neither is left
    assert livekit.calls[-2:] == ["delete_dispatch", "delete_room"]
    assert livekit.live_in(state.request.room) == []
    assert state.request.room not in livekit.rooms


def test_closing_a_room_that_is_already_gone_counts_as_done(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a heartbeat whose room LiveKit already closed (empty timeout)
    state = prepare_request(SCHEDULE_INPUT, "exec-3")

    # When its room is closed
    close_heartbeat_room(state, livekit)

    # Then nothing fails
    assert livekit.calls == ["delete_room"]


def test_a_request_room_is_never_deleted(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given an ordinary request (its room is somebody's call)
    state = a_state()

    # When the close step is reached anyway
    close_heartbeat_room(state, livekit)

    # Then LiveKit is not asked to delete anything
    assert livekit.calls == []


def test_a_heartbeat_in_a_room_not_named_for_heartbeats_keeps_its_room(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a heartbeat started by hand in a named room
    state = prepare_request({**SCHEDULE_INPUT, "room": "support-call-4711"}, "exec-4")

    # When its room is closed
    close_heartbeat_room(state, livekit)

    # Then the room stays: only heartbeat-... rooms belong to heartbeats
    assert livekit.calls == []


def test_livekit_outage_while_closing_is_raised_for_the_state_machine_to_retry(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given LiveKit failing transiently
    state = prepare_request(SCHEDULE_INPUT, "exec-5")
    livekit.fail_next("delete_room", LiveKitTransientError.of("livekit_unavailable", "503"))

    # When the room is closed
    # Then the transient error reaches the state machine (whose Retry handles it)
    with pytest.raises(LiveKitTransientError):
        close_heartbeat_room(state, livekit)
