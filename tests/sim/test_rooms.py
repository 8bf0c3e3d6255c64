"""RoomService through the official Python client: rooms and participants."""

from __future__ import annotations

import pytest
from livekit import api

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator

from .helpers import dispatch, list_dispatch, lk, participants, server_error


def create_room(sim: LiveKitSimulator, name: str, **kw: int) -> api.Room:
    return lk(sim, lambda c: c.room.create_room(api.CreateRoomRequest(name=name, **kw)))


def test_create_room_returns_a_room_with_sid_times_and_default_empty_timeout(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # When a room is created
    room = create_room(sim, "call-1")
    # Then it has a RM_ sid, the clock's creation time in seconds and in ms, and empty_timeout 300
    assert room.name == "call-1"
    assert room.sid.startswith("RM_")
    assert room.creation_time == int(clock.now())
    assert room.creation_time_ms == int(clock.now() * 1000)
    assert room.empty_timeout == 300


def test_create_room_is_idempotent_for_an_existing_room(sim: LiveKitSimulator) -> None:
    # Given a room
    first = create_room(sim, "call-1")
    # When it is created again
    again = create_room(sim, "call-1", empty_timeout=60)
    # Then the same room comes back, unchanged
    assert again.sid == first.sid
    assert again.empty_timeout == 300


def test_list_rooms_lists_every_room_or_only_the_names_asked_for(sim: LiveKitSimulator) -> None:
    # Given two rooms
    create_room(sim, "a")
    create_room(sim, "b")
    # When rooms are listed, all and filtered
    every = lk(sim, lambda c: c.room.list_rooms(api.ListRoomsRequest()))
    only_b = lk(sim, lambda c: c.room.list_rooms(api.ListRoomsRequest(names=["b"])))
    # Then both appear, and the filter keeps one
    assert sorted(r.name for r in every.rooms) == ["a", "b"]
    assert [r.name for r in only_b.rooms] == ["b"]


def test_delete_room_removes_the_room_its_participants_and_dispatches(sim: LiveKitSimulator) -> None:
    # Given a room with a user and a dispatch
    create_room(sim, "call-1")
    sim.add_participant("call-1", "caller")
    dispatch(sim, "call-1", "warm-agent")
    # When the room is deleted
    lk(sim, lambda c: c.room.delete_room(api.DeleteRoomRequest(room="call-1")))
    # Then it is gone with everything in it
    assert sim.room_names() == []
    assert sim.live_dispatches("call-1") == []
    assert (
        server_error(sim, lambda c: c.room.delete_room(api.DeleteRoomRequest(room="call-1"))).code
        == "not_found"
    )


def test_participant_calls_on_a_missing_room_answer_not_found(sim: LiveKitSimulator) -> None:
    # When participants of a room that does not exist are asked for
    err = server_error(sim, lambda c: c.room.list_participants(api.ListParticipantsRequest(room="nope")))
    # Then the server says not_found, "requested room does not exist"
    assert (err.code, err.status, err.message) == ("not_found", 404, "requested room does not exist")
    who = api.RoomParticipantIdentity(room="nope", identity="x")
    assert server_error(sim, lambda c: c.room.get_participant(who)).code == "not_found"
    assert server_error(sim, lambda c: c.room.remove_participant(who)).code == "not_found"


def test_get_participant_returns_it_and_remove_participant_makes_it_leave(sim: LiveKitSimulator) -> None:
    # Given a room with a caller
    create_room(sim, "call-1")
    sim.add_participant("call-1", "caller", attributes={"role": "customer"})
    who = api.RoomParticipantIdentity(room="call-1", identity="caller")
    # When it is fetched
    info = lk(sim, lambda c: c.room.get_participant(who))
    # Then it is a STANDARD, ACTIVE participant with a PA_ sid
    assert (info.identity, info.kind, info.state) == ("caller", 0, api.ParticipantInfo.State.ACTIVE)
    assert info.sid.startswith("PA_") and info.attributes["role"] == "customer"
    # And when it is removed, it is gone
    lk(sim, lambda c: c.room.remove_participant(who))
    assert participants(sim, "call-1") == []
    assert server_error(sim, lambda c: c.room.get_participant(who)).code == "not_found"


def test_a_room_with_only_agents_closes_after_empty_timeout(make_sim: object, clock: VirtualClock) -> None:
    # Given a room with empty_timeout 60 and a warm agent dispatched into it (no user ever joins)
    sim = make_sim(agents={"a": "warm"})  # type: ignore[operator]
    create_room(sim, "call-1", empty_timeout=60)
    dispatch(sim, "call-1", "a")
    clock.advance(30)
    assert len(participants(sim, "call-1")) == 1
    # When empty_timeout has passed since creation
    clock.advance(31)
    # Then the room is closed: gone, no participants, no dispatches
    assert sim.room_names() == []
    assert sim.participants("call-1") == []
    assert sim.live_dispatches("call-1") == []


def test_a_room_a_user_joined_stays_open_past_empty_timeout(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given a room with empty_timeout 60 that a user joined
    create_room(sim, "call-1", empty_timeout=60)
    sim.add_participant("call-1", "caller")
    # When more than empty_timeout passes
    clock.advance(600)
    # Then the room is still there
    assert list_dispatch(sim, "call-1") == []
    assert sim.room_names() == ["call-1"]


def test_a_room_closes_departure_timeout_after_its_last_user_leaves(
    sim: LiveKitSimulator, clock: VirtualClock
) -> None:
    # Given a room (departure_timeout 20 by default) whose caller leaves
    create_room(sim, "call-1")
    sim.add_participant("call-1", "caller")
    clock.advance(5)
    sim.remove_participant("call-1", "caller")
    # When 19 s and then 21 s have passed
    clock.advance(19)
    still_open = sim.room_names()
    clock.advance(2)
    # Then it was open at 19 s and closed at 21 s
    assert still_open == ["call-1"]
    assert sim.room_names() == []


EMOJI = "\U0001f600"  # 4 bytes of UTF-8


def test_create_room_refuses_a_name_over_256_bytes_as_livekit_does(sim: LiveKitSimulator) -> None:
    # When rooms are created whose names are 256 emoji (256 characters, 1,024 bytes) and 257 bytes
    for name in (EMOJI * 256, EMOJI * 64 + "a"):
        err = server_error(sim, lambda c, name=name: c.room.create_room(api.CreateRoomRequest(name=name)))

        # Then LiveKit's limit (bytes, not characters) answers invalid_argument, and no room exists
        assert (err.code, err.status) == ("invalid_argument", 400)
        assert err.message == "room name length exceeds limits: max length 256"
    assert sim.room_names() == []


def test_create_room_takes_any_name_of_at_most_256_bytes_control_characters_too(
    sim: LiveKitSimulator,
) -> None:
    # When rooms are created with 256 bytes of emoji, and with characters we refuse but LiveKit does not
    names = [EMOJI * 64, "call\u202e4711", "call\x854711", "call\u200b"]
    for name in names:
        create_room(sim, name)

    # Then LiveKit creates them all: it limits bytes, not characters
    assert sorted(sim.room_names()) == sorted(names)


def test_a_participant_whose_identity_is_over_256_bytes_cannot_join(sim: LiveKitSimulator) -> None:
    # When a participant with an identity of 65 emoji (260 bytes) joins
    with pytest.raises(ValueError, match="participant identity length exceeds limits"):
        sim.add_participant("call-1", EMOJI * 65)

    # Then it is not in the room (LiveKit refuses the join); 64 emoji join
    sim.add_participant("call-1", EMOJI * 64)
    assert [p.identity for p in participants(sim, "call-1")] == [EMOJI * 64]
