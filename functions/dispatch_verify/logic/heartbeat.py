"""Heartbeats: a scheduled dispatch of the agent into a room of its own, closed again at the end.

The schedule cannot put the execution name into its input, so a heartbeat arrives without a room and
"Dispatch agent" names it ``heartbeat-<execution name>``: a fresh room per run. The metadata tells
the agent it is a heartbeat (``{"type": "heartbeat"}``) so that it can end the session quickly.
"Close heartbeat room" deletes the run's live dispatches and then the room, whatever the outcome.
"""

from __future__ import annotations

from typing import Any

from dispatch_verify.models import WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import LiveKitPort

HEARTBEAT = "heartbeat"
ROOM_PREFIX = "heartbeat-"
METADATA = {"type": HEARTBEAT}


def heartbeat_room(execution_name: str) -> str:
    return f"{ROOM_PREFIX}{execution_name}"


def with_heartbeat_defaults(raw: dict[str, Any], execution_name: str) -> dict[str, Any]:
    """A heartbeat input with its room and metadata filled in; any other input unchanged."""
    if raw.get("kind") != HEARTBEAT:
        return raw
    filled = dict(raw)
    if filled.get("room") is None:
        filled["room"] = heartbeat_room(execution_name)
    if filled.get("metadata") in (None, "", {}):
        filled["metadata"] = METADATA
    return filled


def close_heartbeat_room(state: WorkflowState, port: LiveKitPort) -> None:
    """Delete the heartbeat's live dispatches, then its room; what LiveKit no longer knows counts as done.

    Deleting the room alone would end its dispatches too, but deleting them first means an escalated
    heartbeat leaves no live dispatch even if the room cannot be deleted. Only rooms named
    ``heartbeat-...`` are ever deleted: a heartbeat started with somebody's real room keeps it.
    """
    request = state.request
    if request.kind != HEARTBEAT or not request.room.startswith(ROOM_PREFIX):
        logger.warning("not a heartbeat room: left open", extra={"kind": request.kind, "room": request.room})
        return
    live = [attempt.dispatch_id for attempt in state.attempts if not attempt.deleted]
    ended = [dispatch_id for dispatch_id in live if port.delete_dispatch(request.room, dispatch_id)]
    deleted = port.delete_room(request.room)
    logger.info(
        "heartbeat room closed",
        extra={
            "room_deleted": deleted,
            "dispatches_deleted": ended,
            "dispatches_already_gone": len(live) - len(ended),
        },
    )
