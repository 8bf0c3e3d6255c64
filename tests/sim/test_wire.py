"""The wire: Twirp paths, JSON and protobuf bodies, JWT authentication and grants (no client)."""

from __future__ import annotations

import json

from livekit import api
from livekit.protocol.room import CreateRoomRequest

from livekit_sim import LiveKitSimulator

from .helpers import SECRET, lk, post, server_error, token

CREATE_DISPATCH = "/twirp/livekit.AgentDispatchService/CreateDispatch"
LIST_PARTICIPANTS = "/twirp/livekit.RoomService/ListParticipants"
CREATE_ROOM = "/twirp/livekit.RoomService/CreateRoom"


def bearer(jwt: str) -> str:
    return f"Bearer {jwt}"


def admin(room: str) -> str:
    return bearer(token(room_admin=True, room=room))


def test_json_in_json_out_with_camel_case_fields(sim: LiveKitSimulator) -> None:
    # When a dispatch is created with a JSON body using camelCase
    status, ctype, body = post(
        sim,
        CREATE_DISPATCH,
        {"agentName": "warm-agent", "room": "call-1", "metadata": "{}"},
        auth=admin("call-1"),
    )
    # Then the answer is protobuf JSON: camelCase names, int64 as a string
    assert (status, ctype) == (200, "application/json")
    answer = json.loads(body)
    assert answer["agentName"] == "warm-agent" and answer["id"].startswith("AD_")
    assert isinstance(answer["state"]["createdAt"], str) and int(answer["state"]["createdAt"]) > 10**18


def test_json_input_accepts_original_proto_field_names(sim: LiveKitSimulator) -> None:
    # When the body uses snake_case field names (curl users often do)
    status, _, body = post(
        sim, CREATE_DISPATCH, {"agent_name": "warm-agent", "room": "call-1"}, auth=admin("call-1")
    )
    # Then it is understood
    assert status == 200 and json.loads(body)["agentName"] == "warm-agent"


def test_protobuf_in_protobuf_out(sim: LiveKitSimulator) -> None:
    # When a protobuf body is posted
    body = CreateRoomRequest(name="call-1").SerializeToString()
    status, ctype, raw = post(
        sim, CREATE_ROOM, body, auth=bearer(token(room_create=True)), content_type="application/protobuf"
    )
    # Then a protobuf Room comes back
    assert (status, ctype) == (200, "application/protobuf")
    assert api.Room.FromString(raw).name == "call-1"


def test_a_garbled_token_gets_401_plain_text(sim: LiveKitSimulator) -> None:
    # When the token is not a JWT
    status, ctype, body = post(sim, LIST_PARTICIPANTS, {"room": "r"}, auth="Bearer not-a-jwt")
    # Then: 401 with a plain-text body, no Twirp JSON
    assert (status, ctype.split(";")[0], body) == (401, "text/plain", b"invalid authorization token")


def test_a_missing_token_gets_401_plain_text(sim: LiveKitSimulator) -> None:
    status, ctype, _ = post(sim, LIST_PARTICIPANTS, {"room": "r"}, auth=None)
    assert (status, ctype.split(";")[0]) == (401, "text/plain")


def test_a_token_for_an_unknown_api_key_gets_401_invalid_api_key(sim: LiveKitSimulator) -> None:
    jwt = api.AccessToken("otherkey", SECRET).with_grants(api.VideoGrants(room_admin=True, room="r")).to_jwt()
    status, _, body = post(sim, LIST_PARTICIPANTS, {"room": "r"}, auth=bearer(jwt))
    assert (status, body) == (401, b"invalid API key: otherkey")


def test_a_wrongly_signed_token_makes_the_python_client_raise_unknown_401(sim: LiveKitSimulator) -> None:
    # When the official client signs with the wrong secret
    err = server_error(sim, lambda c: c.room.list_rooms(api.ListRoomsRequest()), secret="wrong-secret")
    # Then it raises ServerError code "unknown", status 401 (the body was plain text)
    assert (err.code, err.status) == ("unknown", 401)


def test_an_expired_token_gets_401_plain_text(sim: LiveKitSimulator) -> None:
    # When the token expired an hour ago (beyond the one-minute leeway)
    status, ctype, body = post(
        sim, LIST_PARTICIPANTS, {"room": "r"}, auth=bearer(token(-3600, room_admin=True, room="r"))
    )
    # Then: 401 plain text naming the problem
    assert (status, ctype.split(";")[0]) == (401, "text/plain")
    assert b"expired" in body


def test_a_valid_token_without_the_grant_gets_401_permissions_denied(sim: LiveKitSimulator) -> None:
    # When a room-scoped call carries a token with only roomList
    status, ctype, body = post(sim, LIST_PARTICIPANTS, {"room": "r"}, auth=bearer(token(room_list=True)))
    # Then: Twirp JSON unauthenticated / permissions denied
    assert (status, ctype) == (401, "application/json")
    assert json.loads(body) == {"code": "unauthenticated", "msg": "permissions denied", "meta": {}}


def test_a_token_for_another_room_gets_401_permissions_denied(sim: LiveKitSimulator) -> None:
    status, _, body = post(
        sim, CREATE_DISPATCH, {"agentName": "a", "room": "mine"}, auth=admin("someone-else")
    )
    assert status == 401 and json.loads(body)["code"] == "unauthenticated"
    assert sim.room_names() == []


def test_room_create_and_room_list_grants_are_needed_for_room_calls(sim: LiveKitSimulator) -> None:
    # roomAdmin is not enough to create or list rooms
    assert post(sim, CREATE_ROOM, {"name": "r"}, auth=admin("r"))[0] == 401
    assert (
        post(sim, "/twirp/livekit.RoomService/ListRooms", {}, auth=bearer(token(room_create=True)))[0] == 401
    )
    assert post(sim, "/twirp/livekit.RoomService/ListRooms", {}, auth=bearer(token(room_list=True)))[0] == 200


def test_an_unknown_method_gets_404_bad_route(sim: LiveKitSimulator) -> None:
    status, _, body = post(sim, "/twirp/livekit.RoomService/Teleport", {}, auth=admin("r"))
    assert status == 404 and json.loads(body)["code"] == "bad_route"


def test_a_body_that_is_not_json_gets_400_malformed(sim: LiveKitSimulator) -> None:
    status, _, body = post(sim, CREATE_DISPATCH, b"{not json", auth=admin("r"))
    assert status == 400 and json.loads(body)["code"] == "malformed"


def test_calls_records_method_code_and_status(sim: LiveKitSimulator) -> None:
    # When one call succeeds and one lacks its grant
    lk(sim, lambda c: c.room.list_rooms(api.ListRoomsRequest()))
    post(sim, LIST_PARTICIPANTS, {"room": "r"}, auth=bearer(token(room_list=True)))
    # Then both are recorded
    assert sim.calls == [("ListRooms", "ok", 200), ("ListParticipants", "unauthenticated", 401)]
