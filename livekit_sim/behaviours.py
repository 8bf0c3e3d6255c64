"""Agent fleet behaviours, one per agent name, written as short text (``warm``, ``wake:12``...).

``BEHAVIOURS`` is the one place each kind is defined: its name, its grammar (the seconds it takes),
its one-line help, how it is written back as text, and its scheduling: what the fleet does with a
dispatch (``on_dispatch``) and once the agent has joined (``on_join``). The parser, the fleet, the
command line's help and the chaos harness read it; a test holds the README's list to it.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from livekit.protocol.agent import Job

    from .model import Dispatch


class Worker(Protocol):
    """What a behaviour reads and keeps of the worker of its agent name (agents.Worker is one)."""

    behaviour: Behaviour
    awake: bool
    active_jobs: set[str]
    last_activity: float


class Fleet(Protocol):
    """The moves a behaviour makes with a dispatch (agents.Fleet makes them). Protocols, so that this
    module does not import agents.py, which imports it."""

    def assign(
        self,
        worker: Worker,
        dispatch: Dispatch,
        t: float,
        join_delay_s: float,
        *,
        active_after_s: float | None = 0.0,
    ) -> None: ...

    def run_without_agent(self, worker: Worker, dispatch: Dispatch, t: float) -> None: ...

    def fail_then_offer(
        self, worker: Worker, dispatch: Dispatch, t: float, accept_after_s: float
    ) -> None: ...

    def wait_for_wake(self, worker: Worker, dispatch: Dispatch, wake_at: float) -> None: ...

    def pending_job(self, dispatch: Dispatch, t: float) -> None: ...

    def reject(self, dispatch: Dispatch, t: float) -> None: ...

    def leave(self, job: Job, room: str, sid: str, at: float) -> None: ...


JOIN_DELAY_S = 0.3  # a warm worker's agent joins this long after the dispatch
DEFAULT_IDLE_S = 600.0  # a woken worker stays warm this long after its last job


@dataclass(frozen=True)
class Behaviour:
    """What the worker registered for one agent name does with a dispatch: a kind of
    ``BEHAVIOURS`` and its seconds (``seconds``: the wake or the stay; ``idle_s``: a woken worker's
    idle time before it sleeps again). ``str()`` writes it as ``parse_behaviour`` reads it."""

    kind: str
    seconds: float = 0.0
    idle_s: float = DEFAULT_IDLE_S

    def __post_init__(self) -> None:
        if self.kind not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour kind {self.kind!r}; {grammar()}")

    @property
    def spec(self) -> BehaviourKind:
        """The kind's definition in ``BEHAVIOURS``."""
        return BEHAVIOURS[self.kind]

    def __str__(self) -> str:
        return self.spec.text(self)


@dataclass(frozen=True)
class Arg:
    """One seconds argument of a kind: ``label`` as the grammar writes it, the ``Behaviour`` field
    it sets, and its default (``None``: the text must give it)."""

    label: str
    field: str
    default: float | None = None


class BehaviourKind:
    """One kind of behaviour. A subclass names it, writes its help, lists its arguments and says
    what the fleet does; the grammar, the parsing and the text follow from ``name`` and ``args``."""

    name: ClassVar[str]
    help: ClassVar[str]  # one line, for the command line's help
    args: ClassVar[tuple[Arg, ...]] = ()  # after the name, each behind a ':'

    @property
    def usage(self) -> str:
        """The grammar: ``warm``, ``leave:S``, ``wake:S[:IDLE]``."""
        return self.name + "".join(f":{a.label}" if a.default is None else f"[:{a.label}]" for a in self.args)

    def make(self, *values: float) -> Behaviour:
        """A behaviour of this kind with these seconds (finite, >= 0), one per argument in order;
        optional ones may be left out."""
        required = sum(a.default is None for a in self.args)
        if not required <= len(values) <= len(self.args):
            if not self.args:
                raise ValueError(f"{self.name!r} takes no argument")
            raise ValueError(f"{self.name!r} is written {self.usage!r}, e.g. '{self.name}:5'")
        for value in values:
            if not math.isfinite(value) or value < 0:
                raise ValueError("seconds must be finite and >= 0")
        return Behaviour(self.name, **{a.field: float(v) for a, v in zip(self.args, values, strict=False)})

    def parse(self, args: list[str]) -> Behaviour:
        """This kind from the text after its name, split at ':'."""
        values = []
        for text in args:
            try:
                values.append(float(text))
            except ValueError:
                raise ValueError(f"{text!r} is not a number of seconds") from None
        return self.make(*values)

    def text(self, behaviour: Behaviour) -> str:
        """``behaviour`` as ``parse_behaviour`` reads it; trailing arguments at their default left out."""
        values: list[float] = [getattr(behaviour, a.field) for a in self.args]
        while values and self.args[len(values) - 1].default == values[-1]:  # a required one: None
            values.pop()
        return ":".join([self.name, *(str(int(v)) if v.is_integer() else repr(v) for v in values)])

    # -- scheduling: what the fleet does ------------------------------------------------------
    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        """Called by CreateDispatch at ``t``; jobs appear as events, so its response shows none."""
        raise NotImplementedError

    def on_join(self, fleet: Fleet, worker: Worker, job: Job, room: str, sid: str, t: float) -> None:
        """The worker's agent joined ``room`` at ``t`` (participant ``sid``); it stays by default."""


class Warm(BehaviourKind):
    name = "warm"
    help = f"a ready worker: the job runs, the agent joins {JOIN_DELAY_S:g} s later"

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.assign(worker, dispatch, t, JOIN_DELAY_S)


class Wake(BehaviourKind):
    name = "wake"
    help = f"asleep: wakes S s after the first dispatch, then warm until idle IDLE s ({DEFAULT_IDLE_S:g})"
    args = (Arg("S", "seconds"), Arg("IDLE", "idle_s", DEFAULT_IDLE_S))

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        if self._awake(worker, t):
            fleet.assign(worker, dispatch, t, JOIN_DELAY_S)
        else:  # asleep: the first dispatch wakes it, later ones wait for the same wake
            fleet.wait_for_wake(worker, dispatch, t + worker.behaviour.seconds)

    @staticmethod
    def _awake(worker: Worker, t: float) -> bool:
        """A woken worker stays warm while it has jobs and ``idle_s`` after its last activity."""
        idle_since = worker.last_activity + worker.behaviour.idle_s
        if worker.awake and not worker.active_jobs and t >= idle_since:
            worker.awake = False
        return worker.awake


class Never(BehaviourKind):
    name = "never"
    help = "a job is offered but no worker takes it: it stays JS_PENDING, the agent never joins"

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.pending_job(dispatch, t)


class NoWorker(BehaviourKind):
    name = "none"
    help = "no worker registered: the dispatch keeps zero jobs"

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        """Nothing happens: no job, no agent."""


class Reject(BehaviourKind):
    name = "reject"
    help = "no capacity: the job fails at once (resource_exhausted)"

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.reject(dispatch, t)


class Leave(BehaviourKind):
    name = "leave"
    help = "joins like warm, leaves S s after joining; its job fails"
    args = (Arg("S", "seconds"),)

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.assign(worker, dispatch, t, JOIN_DELAY_S)

    def on_join(self, fleet: Fleet, worker: Worker, job: Job, room: str, sid: str, t: float) -> None:
        fleet.leave(job, room, sid, t + worker.behaviour.seconds)


class Hang(BehaviourKind):
    name = "hang"
    help = "a worker accepts: the job is JS_RUNNING, but its entrypoint hangs and the agent never connects"

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.run_without_agent(worker, dispatch, t)


class Joined(BehaviourKind):
    name = "joined"
    help = "joins like warm but stays JOINED, never ACTIVE (so no participant_joined webhook)"

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.assign(worker, dispatch, t, JOIN_DELAY_S, active_after_s=None)


class Twin(BehaviourKind):
    name = "twin"
    help = "two agents of this name: a job's agent joins like warm, a second job's agent S s later (1)"
    args = (Arg("S", "seconds", 1.0),)

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.assign(worker, dispatch, t, JOIN_DELAY_S)
        fleet.assign(worker, dispatch, t + worker.behaviour.seconds, JOIN_DELAY_S)


class Failover(BehaviourKind):
    name = "failover"
    help = (
        "the first job fails at once (its worker died); a second job on the same dispatch is "
        "JS_PENDING for S s, then runs and its agent joins like warm"
    )
    args = (Arg("S", "seconds"),)

    def on_dispatch(self, fleet: Fleet, worker: Worker, dispatch: Dispatch, t: float) -> None:
        fleet.fail_then_offer(worker, dispatch, t, worker.behaviour.seconds)


BEHAVIOURS: dict[str, BehaviourKind] = {
    kind.name: kind
    for kind in (Warm(), Wake(), Never(), NoWorker(), Reject(), Leave(), Hang(), Joined(), Twin(), Failover())
}


def grammar() -> str:
    """What a behaviour may be, in one sentence (error messages)."""
    labels = " and ".join(dict.fromkeys(a.label for kind in BEHAVIOURS.values() for a in kind.args))
    usages = ", ".join(repr(kind.usage) for kind in BEHAVIOURS.values())
    return f"behaviour must be one of: {usages}, with {labels} in seconds (finite, >= 0)"


def behaviour_help(width: int = 78) -> str:
    """Every kind on its own line(s): its grammar, then its help, wrapped to ``width`` columns."""
    column = max(len(kind.usage) for kind in BEHAVIOURS.values()) + 4
    lines: list[str] = []
    for kind in BEHAVIOURS.values():
        lines += textwrap.wrap(
            kind.help,
            width,
            initial_indent=f"  {kind.usage}".ljust(column),
            subsequent_indent=" " * column,
        )
    return "\n".join(lines)


def parse_behaviour(text: str | Behaviour) -> Behaviour:
    """Parse one of ``BEHAVIOURS``' grammars: ``warm``, ``wake:S[:IDLE]``, ``never``, ``none``,
    ``reject``, ``leave:S``, ``hang``, ``joined``, ``twin[:S]``, ``failover:S`` (case and
    surrounding spaces do not matter)."""
    if isinstance(text, Behaviour):
        return text
    if not isinstance(text, str):
        raise ValueError(f"bad behaviour {text!r}: expected text; {grammar()}")
    name, *args = text.strip().lower().split(":")
    kind = BEHAVIOURS.get(name)
    if kind is None:
        raise ValueError(f"bad behaviour {text!r}: unknown kind {name!r}; {grammar()}")
    try:
        return kind.parse(args)
    except ValueError as exc:
        raise ValueError(f"bad behaviour {text!r}: {exc}; {grammar()}") from None
