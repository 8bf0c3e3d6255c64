"""The state Escalate recovers after "Dispatch agent" failed: a valid request whole (it failed later, in
CreateRoom or CreateDispatch), else what can be read of the input, cut to LiveKit's 256 characters."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.request import recover_state

from .conftest import AGENT, ROOM, a_request
from .fakes import FakeTime

ERROR = {"Error": "LiveKitPermanentError", "Cause": '{"errorMessage": "quota"}'}


def test_an_over_long_room_and_agent_name_are_kept_cut_to_256_characters() -> None:
    # Given an input refused for its names, 300 characters each
    raw = {"room": "r" * 300, "agent_name": "a" * 300}

    # When Escalate recovers the state from it
    state = recover_state(raw, "exec-1")

    # Then the first 256 characters of each are kept
    assert state.request.room == "r" * 256 and state.request.agent_name == "a" * 256


@pytest.mark.parametrize("request_id", ["crm-991", None])
def test_a_valid_request_that_failed_later_is_recovered_whole_with_its_own_id_and_options(
    now: FakeTime, request_id: str | None
) -> None:
    # Given "Keep the input" after "Dispatch agent" failed in LiveKit: a valid input (its own request
    # id, or none) with options, and the error beside it
    raw = {**a_request(join_timeout_s=20, max_attempts=2), "kind": "request"}
    if request_id:
        raw["request_id"] = request_id

    # When Escalate recovers the state
    state = recover_state({"request": raw, "error": ERROR}, "exec-7")

    # Then the request is the validated one: its id (else the execution name), its options and its
    # metadata as the workflow keeps it; the error is beside it for the escalation's cause
    assert state.request_id == (request_id or "exec-7")
    assert (state.request.room, state.request.agent_name) == (ROOM, AGENT)
    assert (state.request.options.join_timeout_s, state.request.options.max_attempts) == (20, 2)
    assert state.request.metadata == '{"caller":"+4930123456"}'
    assert state.error is not None and state.error.Error == "LiveKitPermanentError"


def test_an_invalid_request_beside_its_error_is_still_recovered_by_what_can_be_read(now: FakeTime) -> None:
    # Given "Keep the input" after validation failed (a room with a control character), its request id
    raw = {"room": "bad\u0007room", "agent_name": AGENT, "request_id": "crm-1"}
    error = {"Error": "InvalidRequestError", "Cause": "invalid"}

    # When Escalate recovers the state
    state = recover_state({"request": raw, "error": error}, "exec-8")

    # Then the names are kept as read, and the request id is the execution name (the input's was not
    # validated), with no options but the defaults
    assert (state.request.room, state.request.agent_name) == ("bad\u0007room", AGENT)
    assert state.request_id == "exec-8"
    assert state.request.options.max_attempts == 3
