"""Twirp methods of RoomService, AgentDispatchService and SIP over the simulated world."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from livekit.api.access_token import Claims
from livekit.protocol import agent_dispatch as ad
from livekit.protocol import room as rm
from livekit.protocol.models import ParticipantInfo
from livekit.protocol.sip import CreateSIPParticipantRequest

from .errors import PERMISSIONS_DENIED, TwirpError, check_name_length
from .sip import Later, create_sip_participant, may_call
from .world import World


def _admin(claims: Claims, req: Any) -> bool:
    video = claims.video
    return bool(video and video.room_admin and video.room == req.room)


def _create(claims: Claims, req: Any) -> bool:
    return bool(claims.video and claims.video.room_create)


def _list(claims: Claims, req: Any) -> bool:
    return bool(claims.video and claims.video.room_list)


@dataclass(frozen=True)
class Method:
    service: str
    name: str
    request: type[Message]
    allowed: Callable[[Claims, Any], bool]
    run: Callable[[World, Any, float], Message | Later]  # Later: the reply comes after ringing

    def authorize(self, claims: Claims, req: Message) -> None:
        if not self.allowed(claims, req):
            raise TwirpError("unauthenticated", PERMISSIONS_DENIED)


# -- RoomService ----------------------------------------------------------------------------
def create_room(world: World, req: rm.CreateRoomRequest, t: float) -> Message:
    # RoomService.CreateRoom checks the length; a dispatch's automatic room creation does not.
    check_name_length("room name", req.name)
    state = world.ensure_room(
        req.name,
        t,
        empty_timeout=req.empty_timeout,
        departure_timeout=req.departure_timeout,
        max_participants=req.max_participants,
        metadata=req.metadata,
    )
    return world.room_info(state)


def list_rooms(world: World, req: rm.ListRoomsRequest, t: float) -> Message:
    names = set(req.names)
    rooms = [world.room_info(s) for name, s in world.rooms.items() if not names or name in names]
    return rm.ListRoomsResponse(rooms=rooms)


def delete_room(world: World, req: rm.DeleteRoomRequest, t: float) -> Message:
    world.room(req.room)
    world.close_room(req.room, t)
    return rm.DeleteRoomResponse()


def list_participants(world: World, req: rm.ListParticipantsRequest, t: float) -> Message:
    return rm.ListParticipantsResponse(participants=list(world.room(req.room).participants.values()))


def _participant(world: World, req: rm.RoomParticipantIdentity) -> ParticipantInfo:
    info = world.room(req.room).participants.get(req.identity)
    if info is None:
        raise TwirpError("not_found", "participant not found")
    return info


def get_participant(world: World, req: rm.RoomParticipantIdentity, t: float) -> Message:
    return _participant(world, req)


def remove_participant(world: World, req: rm.RoomParticipantIdentity, t: float) -> Message:
    _participant(world, req)
    world.leave(req.room, req.identity, t)
    return rm.RemoveParticipantResponse()


# -- AgentDispatchService -------------------------------------------------------------------
def create_dispatch(world: World, req: ad.CreateAgentDispatchRequest, t: float) -> Message:
    dispatch = world.create_dispatch(req.room, req.agent_name, req.metadata, t)
    return world.dispatch_proto(dispatch)


def list_dispatch(world: World, req: ad.ListAgentDispatchRequest, t: float) -> Message:
    if req.room not in world.rooms:
        if not world.auto_create:
            world.room(req.room)  # raises not_found
        return ad.ListAgentDispatchResponse()
    ids = world.rooms[req.room].dispatch_ids
    found = [
        world.dispatch_proto(world.dispatches[i]) for i in ids if not req.dispatch_id or i == req.dispatch_id
    ]
    return ad.ListAgentDispatchResponse(agent_dispatches=found)


def delete_dispatch(world: World, req: ad.DeleteAgentDispatchRequest, t: float) -> Message:
    return world.dispatch_proto(world.delete_dispatch(req.dispatch_id, req.room, t))


_ROOM, _DISPATCH, _SIP = "RoomService", "AgentDispatchService", "SIP"
METHODS: dict[tuple[str, str], Method] = {
    (m.service, m.name): m
    for m in (
        Method(_ROOM, "CreateRoom", rm.CreateRoomRequest, _create, create_room),
        Method(_ROOM, "ListRooms", rm.ListRoomsRequest, _list, list_rooms),
        Method(_ROOM, "DeleteRoom", rm.DeleteRoomRequest, _create, delete_room),
        Method(_ROOM, "ListParticipants", rm.ListParticipantsRequest, _admin, list_participants),
        Method(_ROOM, "GetParticipant", rm.RoomParticipantIdentity, _admin, get_participant),
        Method(_ROOM, "RemoveParticipant", rm.RoomParticipantIdentity, _admin, remove_participant),
        Method(_DISPATCH, "CreateDispatch", ad.CreateAgentDispatchRequest, _admin, create_dispatch),
        Method(_DISPATCH, "ListDispatch", ad.ListAgentDispatchRequest, _admin, list_dispatch),
        Method(_DISPATCH, "DeleteDispatch", ad.DeleteAgentDispatchRequest, _admin, delete_dispatch),
        Method(_SIP, "CreateSIPParticipant", CreateSIPParticipantRequest, may_call, create_sip_participant),
    )
}

# Real methods of these services that the simulator does not model: `unimplemented`, not `bad_route`.
UNMODELLED = {
    _ROOM: {
        "UpdateRoomMetadata",
        "UpdateParticipant",
        "MutePublishedTrack",
        "UpdateSubscriptions",
        "SendData",
        "ForwardParticipant",
        "MoveParticipant",
        "PerformRpc",
    },
    _SIP: {"TransferSIPParticipant"},
}
