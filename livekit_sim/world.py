"""The simulated LiveKit world: rooms, participants, dispatches and jobs, advanced lazily.

Nothing runs in the background. Every request first calls :meth:`World.advance`, which applies each
scheduled event whose time is at or before ``clock.now()``, in time order. The same model therefore
runs on a virtual clock (tests) and on real time (a served simulator). Timestamps are event times.

LiveKit's webhook events (room_started, room_finished, participant_joined, participant_left) are
reported to ``on_event`` as they happen, under the lock; ``lock.after_release`` runs once the
outermost holder has released it, which is when the simulator delivers them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from livekit.protocol.agent import Job, JobState, JobStatus
from livekit.protocol.agent_dispatch import AgentDispatch, AgentDispatchState
from livekit.protocol.models import ParticipantInfo, Room

from .errors import TwirpError, not_found_room
from .model import (
    AGENT_NAME_ATTRIBUTES,
    DEFAULT_DEPARTURE_TIMEOUT_S,
    DEFAULT_EMPTY_TIMEOUT_S,
    ENDED,
    Dispatch,
    RoomState,
    is_agent,
    new_id,
    ns,
)
from .sip import Telephony

EventHook = Callable[[str, Room, ParticipantInfo | None, float], None]


class WorldLock:
    """A re-entrant lock (used with ``with``) that calls ``after_release`` once its outermost holder
    has released it, so work triggered under the lock can run without it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # only the holder touches it
        self.after_release: Callable[[], None] = lambda: None

    def __enter__(self) -> WorldLock:
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        outermost = self._depth == 0
        self._lock.release()
        if outermost:
            self.after_release()


class World:
    """All state behind one re-entrant lock. Callers hold ``lock`` around advance + operation."""

    def __init__(self, clock: Any, *, auto_create: bool = True) -> None:
        self.clock = clock
        self.auto_create = auto_create
        self.lock = WorldLock()
        self.rooms: dict[str, RoomState] = {}
        self.dispatches: dict[str, Dispatch] = {}  # live ones only
        self.jobs: dict[str, Job] = {}
        self.job_dispatch: dict[str, Dispatch] = {}
        self._events: list[tuple[float, int, Callable[[float], object]]] = []
        self._seq = itertools.count()
        self._live: Counter[tuple[str, str]] = Counter()
        self._max_live: Counter[tuple[str, str]] = Counter()
        self._max_agents: Counter[tuple[str, str]] = Counter()  # agent participants at once, per name
        self.telephony = Telephony()
        # hooks set by the agent fleet
        self.on_dispatch: Callable[[Dispatch, float], None] = lambda d, t: None
        self.on_job_end: Callable[[Job, float], None] = lambda j, t: None
        # set by the simulator while a webhook target is set
        self.on_event: EventHook | None = None

    def emit(self, event: str, state: RoomState, participant: ParticipantInfo | None, t: float) -> None:
        if self.on_event is not None:
            self.on_event(event, self.room_info(state), participant, t)

    # -- time -------------------------------------------------------------------------------
    def schedule(self, t: float, fn: Callable[[float], object]) -> None:
        heapq.heappush(self._events, (t, next(self._seq), fn))

    def next_event_at(self) -> float | None:
        """When the earliest scheduled event is due (a racy read of the heap's top: a hint)."""
        events = self._events
        return events[0][0] if events else None

    def advance(self) -> float:
        """Apply every event due by ``clock.now()`` in time order; return now."""
        now = float(self.clock.now())
        with self.lock:
            while self._events and self._events[0][0] <= now:
                t, _, fn = heapq.heappop(self._events)
                fn(t)
        return now

    # -- rooms ------------------------------------------------------------------------------
    def room(self, name: str) -> RoomState:
        state = self.rooms.get(name)
        if state is None:
            raise not_found_room()
        return state

    def ensure_room(
        self,
        name: str,
        t: float,
        *,
        empty_timeout: int = 0,
        departure_timeout: int = 0,
        max_participants: int = 0,
        metadata: str = "",
    ) -> RoomState:
        if not name:
            raise TwirpError("invalid_argument", "room name cannot be empty")
        existing = self.rooms.get(name)
        if existing is not None:
            return existing
        info = Room(
            sid=new_id("RM_"),
            name=name,
            empty_timeout=empty_timeout or DEFAULT_EMPTY_TIMEOUT_S,
            departure_timeout=departure_timeout or DEFAULT_DEPARTURE_TIMEOUT_S,
            max_participants=max_participants,
            creation_time=int(t),
            creation_time_ms=int(t * 1000),
            metadata=metadata,
        )
        state = RoomState(info)
        self.rooms[name] = state
        self.emit("room_started", state, None, t)
        sid = info.sid

        def close_if_never_used(at: float) -> None:
            current = self.rooms.get(name)
            if current is not None and current.info.sid == sid and not current.non_agent_ever_joined:
                self.close_room(name, at)

        self.schedule(t + info.empty_timeout, close_if_never_used)
        return state

    def close_room(self, name: str, t: float) -> None:
        """The room ends: participants leave, dispatches are deleted, jobs end."""
        state = self.rooms.pop(name, None)
        if state is None:
            return
        for identity in list(state.participants):
            self._remove_participant(state, identity, t, closing=True)
        for dispatch_id in list(state.dispatch_ids):
            dispatch = self.dispatches.get(dispatch_id)
            if dispatch is None:
                continue
            for job_id in dispatch.job_ids:
                job = self.jobs[job_id]
                if job.state.status == JobStatus.JS_RUNNING:
                    self.end_job(job, t, JobStatus.JS_SUCCESS, reason="JSR_ROOM_CLOSED")
                elif job.state.status == JobStatus.JS_PENDING:
                    self.end_job(job, t, JobStatus.JS_CANCELLED, "room closed", "JSR_ROOM_CLOSED")
            self._mark_deleted(dispatch, t)
        self.emit("room_finished", state, None, t)

    def room_info(self, state: RoomState) -> Room:
        info = Room()
        info.CopyFrom(state.info)
        info.num_participants = len(state.participants)
        return info

    # -- participants -----------------------------------------------------------------------
    def join(self, room: str, info: ParticipantInfo, t: float) -> None:
        state = self.rooms.get(room) or self.ensure_room(room, t)
        info.joined_at = int(t)
        info.joined_at_ms = int(t * 1000)
        if not info.sid:
            info.sid = new_id("PA_")
        if info.identity in state.participants:  # a new session replaces the old one
            self._remove_participant(state, info.identity, t)
        state.participants[info.identity] = info
        if is_agent(info):
            self._count_agents(state, info)
        if info.state == ParticipantInfo.State.ACTIVE:  # LiveKit: participant_joined on becoming ACTIVE
            self.emit("participant_joined", state, info, t)
        if not is_agent(info):
            state.non_agent_ever_joined = True

    def activate(self, room: str, identity: str, sid: str, t: float) -> None:
        """The participant (this session of it, ``sid``) goes from JOINED to ACTIVE: its media is
        up. LiveKit sends participant_joined now, not at the join."""
        state = self.rooms.get(room)
        info = state.participants.get(identity) if state is not None else None
        if state is None or info is None or info.sid != sid or info.state != ParticipantInfo.State.JOINED:
            return
        info.state = ParticipantInfo.State.ACTIVE
        self.emit("participant_joined", state, info, t)

    def _count_agents(self, state: RoomState, info: ParticipantInfo) -> None:
        for name in {info.attributes.get(a) for a in AGENT_NAME_ATTRIBUTES} - {None, ""}:
            present = sum(
                1
                for p in state.participants.values()
                if is_agent(p) and name in (p.attributes.get(a) for a in AGENT_NAME_ATTRIBUTES)
            )
            key = (state.info.name, str(name))
            self._max_agents[key] = max(self._max_agents[key], present)

    def leave(self, room: str, identity: str, t: float) -> bool:
        state = self.rooms.get(room)
        if state is None or identity not in state.participants:
            return False
        self._remove_participant(state, identity, t)
        return True

    def _remove_participant(self, state: RoomState, identity: str, t: float, closing: bool = False) -> None:
        info = state.participants.pop(identity)
        if info.state == ParticipantInfo.State.ACTIVE and self.on_event is not None:
            left = ParticipantInfo()
            left.CopyFrom(info)
            left.state = ParticipantInfo.State.DISCONNECTED
            self.emit("participant_left", state, left, t)
        job = self.job_for_participant(identity)
        if job is not None and job.state.status == JobStatus.JS_RUNNING:
            self.end_job(job, t, JobStatus.JS_SUCCESS, reason="JSR_ROOM_CLOSED" if closing else None)
        if closing or is_agent(info) or any(not is_agent(p) for p in state.participants.values()):
            return
        state.last_non_agent_left = t
        name, sid = state.info.name, state.info.sid

        def close_if_still_empty(at: float) -> None:
            current = self.rooms.get(name)
            if (
                current is not None
                and current.info.sid == sid
                and current.last_non_agent_left == t
                and all(is_agent(p) for p in current.participants.values())
            ):
                self.close_room(name, at)

        self.schedule(t + state.info.departure_timeout, close_if_still_empty)

    def job_for_participant(self, identity: str) -> Job | None:
        if identity.startswith("agent-"):
            return self.jobs.get(identity[len("agent-") :])
        return None

    # -- dispatches and jobs ----------------------------------------------------------------
    def create_dispatch(self, room: str, agent_name: str, metadata: str, t: float) -> Dispatch:
        if room not in self.rooms:
            if not self.auto_create:
                raise not_found_room()
            self.ensure_room(room, t)
        dispatch = Dispatch(new_id("AD_"), agent_name, room, metadata, created_at=t)
        self.dispatches[dispatch.id] = dispatch
        self.rooms[room].dispatch_ids.append(dispatch.id)
        key = (room, agent_name)
        self._live[key] += 1
        self._max_live[key] = max(self._max_live[key], self._live[key])
        self.on_dispatch(dispatch, t)
        return dispatch

    def _mark_deleted(self, dispatch: Dispatch, t: float) -> None:
        if dispatch.deleted_at is not None:
            return
        dispatch.deleted_at = t
        self.dispatches.pop(dispatch.id, None)
        state = self.rooms.get(dispatch.room)
        if state is not None and dispatch.id in state.dispatch_ids:
            state.dispatch_ids.remove(dispatch.id)
        self._live[(dispatch.room, dispatch.agent_name)] -= 1

    def delete_dispatch(self, dispatch_id: str, room: str, t: float, leave_after_s: float = 1.0) -> Dispatch:
        if room not in self.rooms and not self.auto_create:
            raise not_found_room()
        dispatch = self.dispatches.get(dispatch_id)
        if dispatch is None or dispatch.room != room:
            raise TwirpError("not_found", "dispatch ID not found")
        self._mark_deleted(dispatch, t)
        state = self.rooms.get(room)
        for job_id in dispatch.job_ids:
            job = self.jobs[job_id]
            identity = job.state.participant_identity
            present = state is not None and identity and identity in state.participants
            if job.state.status == JobStatus.JS_RUNNING and present:
                self.schedule(t + leave_after_s, self._agent_leaves_after_delete(job, room, identity))
            elif job.state.status not in ENDED:
                self.end_job(job, t, JobStatus.JS_CANCELLED, "dispatch deleted", "JSR_DISPATCH_DELETED")
        return dispatch

    def _agent_leaves_after_delete(self, job: Job, room: str, identity: str) -> Callable[[float], None]:
        def leave(at: float) -> None:
            if job.state.status == JobStatus.JS_RUNNING:
                self.end_job(job, at, JobStatus.JS_SUCCESS, reason="JSR_DISPATCH_DELETED")
            self.leave(room, identity, at)

        return leave

    def add_job(
        self,
        dispatch: Dispatch,
        t: float,
        status: int,
        *,
        worker_id: str = "",
        error: str = "",
        reason: str = "JSR_UNSPECIFIED",
    ) -> Job:
        job_id = new_id("AJ_")
        job = Job(
            id=job_id,
            dispatch_id=dispatch.id,
            agent_name=dispatch.agent_name,
            metadata=dispatch.metadata,
            state=JobState(status=status, updated_at=ns(t), worker_id=worker_id, error=error, reason=reason),  # type: ignore[arg-type]
        )
        if dispatch.room in self.rooms:  # the job's room, as LiveKit's Job carries it (name and sid)
            room_info = self.rooms[dispatch.room].info
            job.room.CopyFrom(Room(sid=room_info.sid, name=room_info.name))
        if status != JobStatus.JS_PENDING:
            job.state.started_at = ns(t)
        if status == JobStatus.JS_RUNNING:
            job.state.participant_identity = f"agent-{job_id}"
        if status in ENDED:
            job.state.ended_at = ns(t)
        self.jobs[job_id] = job
        self.job_dispatch[job_id] = dispatch
        dispatch.job_ids.append(job_id)
        return job

    def start_job(self, job: Job, t: float, worker_id: str) -> bool:
        """A worker accepted the pending job: JS_RUNNING from ``t``, with the identity its agent will
        join as (LiveKit's ``agent-<job id>``). The agent connects later, or never (a hung entrypoint).
        False if the job is no longer pending (its dispatch was deleted, its room closed)."""
        if job.state.status != JobStatus.JS_PENDING:
            return False
        job.state.status = JobStatus.JS_RUNNING
        job.state.started_at = job.state.updated_at = ns(t)
        job.state.worker_id = worker_id
        job.state.participant_identity = f"agent-{job.id}"
        return True

    def end_job(self, job: Job, t: float, status: int, error: str = "", reason: str | None = None) -> None:
        if job.state.status in ENDED:
            return
        job.state.status = status  # type: ignore[assignment]
        job.state.ended_at = job.state.updated_at = ns(t)
        if error:
            job.state.error = error
        if reason:
            job.state.reason = reason  # type: ignore[assignment]
        self.on_job_end(job, t)

    def dispatch_proto(self, dispatch: Dispatch) -> AgentDispatch:
        state = AgentDispatchState(
            created_at=ns(dispatch.created_at), jobs=[self.jobs[j] for j in dispatch.job_ids]
        )
        if dispatch.deleted_at is not None:
            state.deleted_at = ns(dispatch.deleted_at)
        return AgentDispatch(
            id=dispatch.id,
            agent_name=dispatch.agent_name,
            room=dispatch.room,
            metadata=dispatch.metadata,
            state=state,
        )

    # -- inspection -------------------------------------------------------------------------
    def live_count(self, room: str, agent_name: str) -> int:
        return self._live[(room, agent_name)]

    def max_live(self, room: str, agent_name: str) -> int:
        return self._max_live[(room, agent_name)]

    def max_agents(self, room: str, agent_name: str) -> int:
        """The most agent participants named ``agent_name`` ever in ``room`` at the same time."""
        return self._max_agents[(room, agent_name)]
