"""The agent fleet: one worker per agent name, whose behaviour decides what happens to dispatches."""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.protocol.agent import Job, JobStatus
from livekit.protocol.models import ParticipantInfo

from .behaviours import JOIN_DELAY_S, Behaviour, parse_behaviour
from .model import AGENT_NAME_ATTRIBUTES, Dispatch, new_id
from .world import World

LEFT_ERROR = "agent worker left the room"
WORKER_DIED_ERROR = "agent worker exited before the agent connected"


def no_capacity_error(agent_name: str) -> str:
    return f"resource_exhausted: no worker with capacity available for agent {agent_name!r}"


@dataclass
class Worker:
    """The worker registered for one agent name. ``awake``, ``wake_at`` and ``pending`` are the
    sleep of a ``wake`` worker; ``active_jobs`` and ``last_activity`` its idle time."""

    agent_name: str
    behaviour: Behaviour
    worker_id: str = field(default_factory=lambda: new_id("AW_"))
    awake: bool = False
    wake_at: float | None = None
    pending: list[str] = field(default_factory=list)  # dispatch ids waiting for the wake
    active_jobs: set[str] = field(default_factory=set)
    last_activity: float = 0.0


class Fleet:
    """The workers, one per agent name. What a dispatch leads to is the behaviour's to say
    (``behaviours.BEHAVIOURS``); the fleet offers the moves: assign, wait for a wake, a pending job,
    a rejection, a leave."""

    def __init__(self, world: World, agents: dict[str, str] | None, default_behaviour: str) -> None:
        self.world = world
        self.default = parse_behaviour(default_behaviour)
        self.workers: dict[str, Worker] = {}
        for name, text in (agents or {}).items():
            self.set_agent(name, text)
        world.on_dispatch = self.on_dispatch
        world.on_job_end = self.on_job_end

    def set_agent(self, agent_name: str, behaviour: str | Behaviour) -> None:
        self.workers[agent_name] = Worker(agent_name, parse_behaviour(behaviour))

    def worker(self, agent_name: str) -> Worker:
        if agent_name not in self.workers:
            self.workers[agent_name] = Worker(agent_name, self.default)
        return self.workers[agent_name]

    # -- reactions --------------------------------------------------------------------------
    def on_dispatch(self, dispatch: Dispatch, t: float) -> None:
        """Called by CreateDispatch. Jobs appear as events, so the response still shows none."""
        worker = self.worker(dispatch.agent_name)
        worker.behaviour.spec.on_dispatch(self, worker, dispatch, t)

    def on_job_end(self, job: Job, t: float) -> None:
        worker = self.workers.get(job.agent_name)
        if worker is not None and job.id in worker.active_jobs:
            worker.active_jobs.discard(job.id)
            worker.last_activity = t

    # -- the moves a behaviour makes ----------------------------------------------------------
    def assign(
        self,
        worker: Worker,
        dispatch: Dispatch,
        t: float,
        join_delay_s: float,
        *,
        active_after_s: float | None = 0.0,
    ) -> None:
        """At ``t`` the dispatch gets a job that ``worker`` accepts (JS_PENDING, then JS_RUNNING at
        once); its agent joins ``join_delay_s`` later, JOINED, and is ACTIVE ``active_after_s`` after
        that (``None``: never, it stays JOINED)."""
        self.world.schedule(
            t, lambda at: self._assign(worker, dispatch, at, at + join_delay_s, active_after_s=active_after_s)
        )

    def run_without_agent(self, worker: Worker, dispatch: Dispatch, t: float) -> None:
        """At ``t`` ``worker`` accepts the dispatch's job (JS_RUNNING) but its agent never connects:
        the entrypoint hangs before it joins the room."""
        self.world.schedule(t, lambda at: self._accepted_job(worker, dispatch, at))

    def fail_then_offer(self, worker: Worker, dispatch: Dispatch, t: float, accept_after_s: float) -> None:
        """At ``t`` the dispatch's first job fails (its worker died), and LiveKit offers the dispatch
        again: a second job, JS_PENDING, that ``worker`` accepts ``accept_after_s`` later; its agent
        joins as a warm one does."""
        self.world.schedule(t, lambda at: self._fail_then_offer(worker, dispatch, at, accept_after_s))

    def wait_for_wake(self, worker: Worker, dispatch: Dispatch, wake_at: float) -> None:
        """The dispatch waits for the worker's wake: at ``wake_at`` unless one is due already."""
        worker.pending.append(dispatch.id)
        if worker.wake_at is None:
            worker.wake_at = wake_at
            self.world.schedule(wake_at, lambda at: self._wake(worker, at))

    def pending_job(self, dispatch: Dispatch, t: float) -> None:
        """At ``t`` the dispatch gets a job that stays JS_PENDING."""
        self.world.schedule(t, lambda at: self._job_if_live(dispatch, at, JobStatus.JS_PENDING))

    def reject(self, dispatch: Dispatch, t: float) -> None:
        """At ``t`` the dispatch gets a job that failed for capacity."""
        self.world.schedule(t, lambda at: self._reject(dispatch, at))

    def leave(self, job: Job, room: str, sid: str, at: float) -> None:
        """At ``at`` the job's agent (participant ``sid``) leaves ``room``; its job fails."""
        self.world.schedule(at, lambda now: self._leave(job, room, sid, now))

    # -- events -----------------------------------------------------------------------------
    def _job_if_live(self, dispatch: Dispatch, t: float, status: int, **kw: str) -> Job | None:
        if dispatch.deleted_at is not None or dispatch.room not in self.world.rooms:
            return None
        return self.world.add_job(dispatch, t, status, **kw)

    def _reject(self, dispatch: Dispatch, t: float) -> None:
        self._job_if_live(
            dispatch,
            t,
            JobStatus.JS_FAILED,
            error=no_capacity_error(dispatch.agent_name),
            reason="JSR_NO_CAPACITY",
        )

    def _wake(self, worker: Worker, t: float) -> None:
        if self.workers.get(worker.agent_name) is not worker:
            return  # behaviour replaced meanwhile
        worker.awake, worker.wake_at, worker.last_activity = True, None, t
        pending, worker.pending = worker.pending, []
        for dispatch_id in pending:
            dispatch = self.world.dispatches.get(dispatch_id)
            if dispatch is not None:
                self._assign(worker, dispatch, t, t)

    def _accept(self, worker: Worker, job: Job, t: float) -> bool:
        """``worker`` accepts the pending ``job``: it runs from ``t``."""
        if not self.world.start_job(job, t, worker.worker_id):
            return False
        worker.active_jobs.add(job.id)
        worker.last_activity = t
        return True

    def _accepted_job(self, worker: Worker, dispatch: Dispatch, t: float) -> Job | None:
        """A job offered to ``worker`` and accepted at once (a ready worker): running, no agent yet."""
        job = self._job_if_live(dispatch, t, JobStatus.JS_PENDING)
        if job is None or not self._accept(worker, job, t):
            return None
        return job

    def _assign(
        self,
        worker: Worker,
        dispatch: Dispatch,
        t: float,
        join_at: float,
        *,
        active_after_s: float | None = 0.0,
    ) -> None:
        job = self._accepted_job(worker, dispatch, t)
        if job is not None:
            self._connect_at(worker, job, dispatch, join_at, active_after_s)

    def _connect_at(
        self, worker: Worker, job: Job, dispatch: Dispatch, join_at: float, active_after_s: float | None
    ) -> None:
        self.world.schedule(join_at, lambda at: self._join(worker, job, dispatch, at, active_after_s))

    def _fail_then_offer(self, worker: Worker, dispatch: Dispatch, t: float, accept_after_s: float) -> None:
        first = self._accepted_job(worker, dispatch, t)
        if first is None:
            return
        self.world.end_job(first, t, JobStatus.JS_FAILED, WORKER_DIED_ERROR)
        second = self._job_if_live(dispatch, t, JobStatus.JS_PENDING)
        if second is None:
            return

        def accept(at: float) -> None:
            if self._accept(worker, second, at):
                self._connect_at(worker, second, dispatch, at + JOIN_DELAY_S, 0.0)

        self.world.schedule(t + accept_after_s, accept)

    def _join(
        self, worker: Worker, job: Job, dispatch: Dispatch, t: float, active_after_s: float | None
    ) -> None:
        if job.state.status != JobStatus.JS_RUNNING or dispatch.room not in self.world.rooms:
            return
        identity = job.state.participant_identity
        attributes = dict.fromkeys(AGENT_NAME_ATTRIBUTES, dispatch.agent_name)
        # LiveKit: a participant is JOINED once connected, ACTIVE once its media is up (and only
        # then is participant_joined sent). Joining ACTIVE at once is the same as JOINED for no time.
        at_once = active_after_s is not None and active_after_s <= 0
        info = ParticipantInfo(
            identity=identity,
            name=dispatch.agent_name,
            kind=ParticipantInfo.Kind.AGENT,
            state=ParticipantInfo.State.ACTIVE if at_once else ParticipantInfo.State.JOINED,
            attributes=attributes,
        )
        self.world.join(dispatch.room, info, t)
        if active_after_s is not None and not at_once:
            room, sid = dispatch.room, info.sid
            self.world.schedule(t + active_after_s, lambda at: self.world.activate(room, identity, sid, at))
        job.state.updated_at = round(t * 1e9)
        worker.behaviour.spec.on_join(self, worker, job, dispatch.room, info.sid, t)

    def _leave(self, job: Job, room: str, sid: str, t: float) -> None:
        state = self.world.rooms.get(room)
        identity = job.state.participant_identity
        if state is None or identity not in state.participants or state.participants[identity].sid != sid:
            return
        self.world.end_job(job, t, JobStatus.JS_FAILED, LEFT_ERROR)
        self.world.leave(room, identity, t)
