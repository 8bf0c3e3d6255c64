"""In-memory stand-ins for LiveKit (the port) and the escalation channel."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

from dispatch_verify.errors import DispatchVerifyError, LiveKitPermanentError
from dispatch_verify.ports.livekit import Dispatch, Job, Participant, SipCall, SipParticipant


class FakeTime:
    """A settable clock for ``dispatch_verify.clock.set_clock``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class FakeLiveKit:
    """Implements ``LiveKitPort`` over dictionaries, as LiveKit behaves for one server."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._ids = itertools.count(1)
        self.rooms: dict[str, int | None] = {}  # name -> empty_timeout
        self.participants: dict[str, list[Participant]] = {}
        self.dispatches: dict[str, Dispatch] = {}  # live ones; deleted ones are forgotten, as LiveKit does
        self.calls: list[str] = []
        self.max_live = 0
        self.sip_calls: list[SipCall] = []  # every call placed
        self._faults: dict[str, list[DispatchVerifyError]] = {}

    # -- the port ------------------------------------------------------------------------------
    def create_room(self, room: str, empty_timeout_s: int | None) -> str:
        self._enter("create_room")
        self.rooms.setdefault(room, empty_timeout_s)
        return f"RM_{room}"

    def list_participants(self, room: str) -> list[Participant]:
        self._enter("list_participants")
        self._require_room(room)
        return list(self.participants.get(room, []))

    def list_dispatches(self, room: str) -> list[Dispatch]:
        self._enter("list_dispatches")
        return [d for d in self.dispatches.values() if d.room == room]

    def create_dispatch(self, room: str, agent_name: str, metadata: str) -> Dispatch:
        self._enter("create_dispatch")
        self._require_room(room)
        dispatch = Dispatch(f"AD_{next(self._ids):04d}", agent_name, room, metadata, created_at=self._now())
        self.dispatches[dispatch.dispatch_id] = dispatch
        self.max_live = max(self.max_live, len(self.live(room, agent_name)))
        return dispatch

    def delete_dispatch(self, room: str, dispatch_id: str) -> bool:
        self._enter("delete_dispatch")
        return self.dispatches.pop(dispatch_id, None) is not None

    def delete_room(self, room: str) -> bool:
        self._enter("delete_room")
        for dispatch in self.live_in(room):  # the room's end ends its dispatches
            del self.dispatches[dispatch.dispatch_id]
        self.participants.pop(room, None)
        return self.rooms.pop(room, False) is not False

    def create_sip_participant(self, call: SipCall) -> SipParticipant:
        self._enter("create_sip_participant")
        self.sip_calls.append(call)
        self.add_participant(call.room, call.participant_identity, kind="SIP")
        return SipParticipant(call.participant_identity, f"PA_sip{len(self.sip_calls)}", "SCL_fake")

    # -- arranging a scenario ------------------------------------------------------------------
    def fail_next(self, method: str, error: DispatchVerifyError) -> None:
        self._faults.setdefault(method, []).append(error)

    def add_participant(
        self,
        room: str,
        identity: str,
        *,
        kind: str = "AGENT",
        agent_name: str | None = None,
        state: str = "ACTIVE",
        joined_at: float | None = None,
    ) -> None:
        attributes = {"lk.agent.name": agent_name, "lk.agent_name": agent_name} if agent_name else {}
        self.participants.setdefault(room, []).append(
            Participant(
                identity, kind, state, attributes, joined_at if joined_at is not None else self._now()
            )
        )

    def set_jobs(self, dispatch_id: str, *jobs: Job) -> None:
        self.dispatches[dispatch_id] = dataclasses.replace(self.dispatches[dispatch_id], jobs=jobs)

    def live_in(self, room: str) -> list[Dispatch]:
        return [d for d in self.dispatches.values() if d.room == room]

    def live(self, room: str, agent_name: str) -> list[Dispatch]:
        return [d for d in self.dispatches.values() if d.room == room and d.agent_name == agent_name]

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        pending = self._faults.get(method)
        if pending:
            raise pending.pop(0)

    def _require_room(self, room: str) -> None:
        if room not in self.rooms:
            raise LiveKitPermanentError.of("room_missing", "requested room does not exist", code="not_found")
