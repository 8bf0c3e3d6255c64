"""The room a recovered state names (logic/request.py's recover_state): a heartbeat that left its room
out gets the one "Dispatch agent" would have named; any other request keeps what it gave, or none."""

from __future__ import annotations

from dispatch_verify.logic.heartbeat import heartbeat_room
from dispatch_verify.logic.request import recover_state

from .conftest import AGENT, ROOM
from .fakes import FakeTime

ERROR = {"Error": "InvalidRequestError", "Cause": "invalid"}


def test_a_heartbeat_without_a_room_is_recovered_in_the_room_its_execution_names(now: FakeTime) -> None:
    state = recover_state({"kind": "heartbeat", "agent_name": "", "error": ERROR}, "hb-1")
    assert state.request.room == heartbeat_room("hb-1") and state.request.kind == "heartbeat"


def test_a_heartbeat_with_a_room_keeps_it(now: FakeTime) -> None:
    state = recover_state({"kind": "heartbeat", "room": ROOM, "agent_name": "", "error": ERROR}, "hb-2")
    assert state.request.room == ROOM


def test_a_request_without_a_room_is_recovered_with_none_not_a_heartbeat_s(now: FakeTime) -> None:
    # Given an input refused for its missing room (not a heartbeat)
    state = recover_state({"agent_name": AGENT, "error": ERROR}, "exec-3")

    # Then the recovered state names no room, and is a request
    assert state.request.room == "" and state.request.kind == "request"
