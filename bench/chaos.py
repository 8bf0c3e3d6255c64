"""Chaos suite: many workflow executions under random LiveKit faults, checked against invariants.

``python -m bench.chaos --executions 300 --seed 7`` (``make chaos``) generates seeded scenarios,
runs each through the real ASL and the real handlers on the local engine against the LiveKit
simulator, and checks, per execution:

* it ends, exactly as the injected truth says: ``verified`` (SUCCEEDED) or escalated with the
  expected cause (FAILED ``AgentNotVerified``, the bundle's cause);
* exactly one terminal ledger record for its request id, with that status and cause;
* escalated: exactly one SNS message and one ``AgentDispatchEscalated`` event for its request id;
  verified: none;
* its room never held two AGENT participants of the requested name at once, nor two live
  dispatches of it;

and, over the whole run, that no API secret and no JWT (the clients' bearer tokens, the webhooks'
tokens) appears in any handler log line, notification or bus event. Violations name the execution;
the exit status is 1 if there is any.

A scenario is: a room and an agent name of its own, the agent's behaviour, the faults aimed at its
room (the simulator's ``inject_fault(..., room=...)``), the webhook delivery (on, off, dropped
or duplicated shares), a key revocation, and the truth derived from those. Faults that the retry
budget absorbs (LiveKit ``Retry``: 6 tries per step) are kept at <= 4 failing calls per execution,
so that a stray timeout on a loaded machine cannot turn them into an exhaustion.

The clock is chosen in one place (``choose_clock``): on a ``DiscreteClock`` the executions of a
batch run at once on virtual time; on a ``VirtualClock`` (a sleep moves everyone's time) one after
another. The LiveKit client timeout is ``LIVEKIT_TIMEOUT_S`` (0.5 s here) so that a reply held for
real seconds (``hold_s``) really times the client out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from clocks import DiscreteClock, VirtualClock
from livekit_sim import BEHAVIOURS, LiveKitSimulator
from local_engine import ExecutionResult, LocalApi, LocalEngine, proxy_event

ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT_S = 0.5  # LIVEKIT_TIMEOUT_S for the run: a held reply must outlast it
HOLD_S = CLIENT_TIMEOUT_S + 1.5  # real seconds a "timeout" fault holds the reply: a margin a loaded
# machine cannot eat (with 0.3 s, a client thread starved past it got the reply before its timer: seed 5151)
SLOW_S = 0.15  # real seconds a "slow" fault holds it (inside the timeout)
REVOKE_AFTER_S = 8.0  # virtual seconds after the start of its batch a revoked key stops working
EXECUTION_TIMEOUT_S = 180.0  # real seconds one execution (or one concurrent batch) may take
POLL_S, JOIN_TIMEOUT_S = 3, 20
STEP_FAILING = ("CreateRoom", "CreateDispatch", "ListDispatch")  # no step swallows their failure
# A backend sends a refused start again (after Retry-After): the SDK's retry quota may be spent by
# then, so each try may meet only one of the throttles aimed at it.
START_TRIES = 30
ABSORBED_BUDGET = 4  # failing calls per execution the retries must absorb (6 tries per step)
EXHAUSTING = (6, 7)  # failing calls of one step's method that use up its 6 tries

FAULT_KINDS = (
    "none",  # no fault: the behaviour alone decides
    "transient",  # unavailable / internal / deadline_exceeded bursts within the retry budget
    "transient_exhausted",  # a burst longer than the budget: escalated livekit_unavailable
    "slow",  # replies held for a while, inside the client's timeout
    "timeout",  # the reply held longer than the client's timeout; the call took effect
    "lost_reply",  # the call took effect, the caller got an error
    "quota",  # 429 resource_exhausted within the budget
    "quota_exhausted",  # 429s beyond the budget: escalated quota
    "revoked",  # the API key revoked mid-run: escalated auth, unless verified before
    # AWS's own faults (local_engine/aws_faults.py), aimed at the execution's request id:
    "aws_lambda",  # Lambda.TooManyRequests / ServiceException (also after the handler ran) / SdkClient
    "aws_dynamodb",  # DynamoDB throttling the steps' ledger writes (the SDK's retries absorb it)
    "aws_sns",  # SNS throttled / internal error on the page ("Page on-call" retries)
    "aws_sns_lost",  # SNS accepted the page, the reply was lost: the retry pages again, same event id
    "aws_events",  # PutEvents throttled, internal, or HTTP 200 with FailedEntryCount 1
    "aws_callback",  # SendTaskSuccess throttled in the webhook path (the wait's timeout looks anyway)
    "aws_start",  # StartExecution throttled behind the API: 429/503 with Retry-After, sent again
)
AWS_FAULT_KINDS = tuple(k for k in FAULT_KINDS if k.startswith("aws_"))
WEBHOOK_MODES: dict[str, tuple[bool, float, float]] = {  # name: (on, drop, duplicate)
    "on": (True, 0.0, 0.0),
    "off": (False, 0.0, 0.0),
    "drop": (True, 0.6, 0.0),
    "duplicate": (True, 0.0, 0.6),
    "lossy": (True, 0.3, 0.3),
}
TRANSIENT_CODES = ("unavailable", "internal", "deadline_exceeded")
SECRET_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


# -- scenarios -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A family of agent behaviours: a kind of the simulator's ``BEHAVIOURS`` with how its seconds
    are drawn, the truth it makes when no fault decides otherwise, and its weight in the draw."""

    kind: str  # a key of livekit_sim.BEHAVIOURS
    truth: str  # "verified" or the escalation cause
    weight: int
    seconds: Callable[[random.Random], float] | None = None  # draws the seconds of a kind taking them
    agents: int = 1  # agents of the name the behaviour itself puts in the room (LiveKit's doing, not ours)

    def behaviour(self, seconds: float | None) -> str:
        """The simulator's text for this family's behaviour (the registry writes it)."""
        spec = BEHAVIOURS[self.kind]
        return str(spec.make() if seconds is None else spec.make(seconds))


FAMILIES = {
    "warm": Family("warm", "verified", 5),
    "wake": Family("wake", "verified", 5, lambda rng: round(rng.uniform(2, 12), 1)),  # inside the timeout
    # leave:S, S longer than any check can be delayed: seen while present
    "stay": Family("leave", "verified", 2, lambda rng: rng.randint(30, 40)),
    "never": Family("never", "not_joined", 2),
    "none": Family("none", "never_assigned", 2),
    "reject": Family("reject", "job_failed", 2),
    "leave0": Family("leave", "joined_then_left", 2, lambda rng: 0),  # gone before any check sees it
    "hang": Family("hang", "not_joined", 1),  # job RUNNING, the entrypoint hung: never connects
    "joined": Family("joined", "verified", 1),  # JOINED is in the room (no participant_joined webhook)
    "twin": Family("twin", "verified", 1, lambda rng: round(rng.uniform(1, 5), 1), agents=2),
    "failover": Family(
        "failover", "verified", 1, lambda rng: round(rng.uniform(1, 6), 1)
    ),  # failed, then another
}
REVOKED_FAMILIES = ("warm", "never", "none", "wake")  # with a key revoked: verified before, or auth
REVOKED_WAKE_S = 60  # asleep past the revocation: auth


@dataclass(frozen=True)
class FaultSpec:
    method: str
    code: str | None
    count: int
    latency_s: float = 0.0
    applied: bool = False
    hold_s: float = 0.0

    def failing(self) -> int:
        """Calls this fault makes fail, as the client sees them."""
        return self.count if self.code is not None or self.hold_s > 0 else 0

    def __str__(self) -> str:
        what = self.code or (
            "timeout" if self.hold_s > CLIENT_TIMEOUT_S else "slow" if self.hold_s else "latency"
        )
        extra = " applied" if self.applied else ""
        extra += f" +{self.latency_s:g}s" if self.latency_s else ""
        extra += f" held {self.hold_s:g}s" if self.hold_s else ""
        return f"{self.method} {what} x{self.count}{extra}"


@dataclass(frozen=True)
class AwsFaultSpec:
    operation: str  # "<service>.<Operation>", as local_engine.aws_faults names it
    code: str
    count: int
    applied: bool = False

    def __str__(self) -> str:
        return f"{self.operation} {self.code} x{self.count}{' applied' if self.applied else ''}"


@dataclass(frozen=True)
class Scenario:
    name: str  # execution name = request id
    room: str
    agent: str
    behaviour: str  # simulator behaviour text
    kind: str  # behaviour family, a key of FAMILIES
    max_attempts: int
    faults: tuple[FaultSpec, ...]
    fault_kinds: tuple[str, ...]
    webhooks: str  # a key of WEBHOOK_MODES
    revoke: bool
    expected: str  # "verified" or the escalation cause
    aws_faults: tuple[AwsFaultSpec, ...] = ()

    @property
    def expected_status(self) -> str:
        return "verified" if self.expected == "verified" else "escalated"

    def request(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "agent_name": self.agent,
            "metadata": {"chaos": self.name},
            "options": {
                "poll_interval_s": POLL_S,
                "join_timeout_s": JOIN_TIMEOUT_S,
                "max_attempts": self.max_attempts,
            },
        }

    def describe(self) -> str:
        faults = "; ".join(str(f) for f in (*self.faults, *self.aws_faults)) or "no fault"
        revoke = f"; key revoked at +{REVOKE_AFTER_S:g}s" if self.revoke else ""
        return f"{self.behaviour}, {faults}{revoke}, webhooks {self.webhooks}"


def generate(count: int, seed: int) -> list[Scenario]:
    """``count`` scenarios; every fault kind and webhook mode is present once count >= 9."""
    rng = random.Random(seed)
    kinds = [FAULT_KINDS[i % len(FAULT_KINDS)] for i in range(count)]
    modes = list(WEBHOOK_MODES)
    webhooks = [modes[i % len(modes)] for i in range(count)]
    rng.shuffle(kinds)
    rng.shuffle(webhooks)
    return [
        _scenario(rng, i, kind, mode, seed)
        for i, (kind, mode) in enumerate(zip(kinds, webhooks, strict=True))
    ]


def _scenario(rng: random.Random, i: int, fault_kind: str, webhooks: str, seed: int) -> Scenario:
    name = f"chaos-{seed}-{i:04d}"
    revoke = fault_kind == "revoked"
    families = list(REVOKED_FAMILIES) if revoke else list(FAMILIES)
    kind = rng.choices(families, weights=[FAMILIES[f].weight for f in families])[0]
    # Every family's seconds are drawn, whichever is chosen: a seed keeps giving the same scenarios.
    seconds = {name: f.seconds(rng) for name, f in FAMILIES.items() if f.seconds is not None}
    if revoke and kind == "wake":
        seconds[kind] = REVOKED_WAKE_S
    behaviour = FAMILIES[kind].behaviour(seconds.get(kind))
    if revoke and webhooks not in ("on", "duplicate"):
        # A warm agent must be seen before the revocation: by its join webhook. Without one the
        # first look may come only at the wait's backstop, after the key is gone.
        webhooks = rng.choice(["on", "duplicate"])
    aws_faults: tuple[AwsFaultSpec, ...] = ()
    if fault_kind in AWS_FAULT_KINDS:
        aws_faults, faults = _aws_faults(rng, fault_kind), []
    else:
        faults = _faults(rng, fault_kind, kind)
    kinds = [fault_kind]
    if fault_kind not in ("revoked", "transient_exhausted", "quota_exhausted") and rng.random() < 0.35:
        extra_kind = rng.choice(
            [k for k in ("transient", "slow", "timeout", "lost_reply", "quota") if k != fault_kind]
        )
        extra = _faults(rng, extra_kind, kind, budget=ABSORBED_BUDGET - sum(f.failing() for f in faults))
        if extra:
            faults += extra
            kinds.append(extra_kind)
    if revoke:
        expected = "verified" if kind == "warm" else "auth"
    elif fault_kind == "transient_exhausted":
        expected = "livekit_unavailable"
    elif fault_kind == "quota_exhausted":
        expected = "quota"
    else:
        expected = FAMILIES[kind].truth
    return Scenario(
        name=name,
        room=f"room-{name}",
        agent=f"agent-{i:04d}",
        behaviour=behaviour,
        kind=kind,
        max_attempts=rng.randint(1, 3),
        faults=tuple(faults),
        fault_kinds=tuple(dict.fromkeys(kinds)),
        webhooks=webhooks,
        revoke=revoke,
        expected=expected,
        aws_faults=aws_faults,
    )


def _faults(rng: random.Random, fault_kind: str, kind: str, budget: int = ABSORBED_BUDGET) -> list[FaultSpec]:
    # A stay agent is seen while present only if no check is held up by retries for long.
    lists = ["ListParticipants", "ListDispatch"] if kind != "stay" else []
    if fault_kind in ("none", "revoked") or budget <= 0:
        return []
    if fault_kind == "transient":
        method = rng.choice(["CreateRoom", "CreateDispatch", *lists])
        return [FaultSpec(method, rng.choice(TRANSIENT_CODES), rng.randint(1, budget))]
    if fault_kind == "transient_exhausted":
        method = rng.choice(["CreateRoom", "CreateDispatch"])
        return [FaultSpec(method, rng.choice(("unavailable", "internal")), rng.choice(EXHAUSTING))]
    if fault_kind == "slow":  # slow, yet inside the client's timeout (real time: the client's clock)
        method = rng.choice(["CreateRoom", "CreateDispatch", "ListParticipants", "ListDispatch"])
        return [FaultSpec(method, None, rng.randint(1, min(3, budget)), hold_s=SLOW_S)]
    if fault_kind == "timeout":
        method = rng.choice(["CreateRoom", "CreateDispatch", *lists])
        return [FaultSpec(method, None, rng.randint(1, min(2, budget)), hold_s=HOLD_S)]
    if fault_kind == "lost_reply":
        method = rng.choice(["CreateRoom", "CreateDispatch", "CreateDispatch", "DeleteDispatch"])
        code = rng.choice(TRANSIENT_CODES)
        return [FaultSpec(method, code, rng.randint(1, min(3, budget)), applied=True)]
    if fault_kind == "quota":
        method = rng.choice(["CreateDispatch", "CreateDispatch", *lists])
        return [FaultSpec(method, "resource_exhausted", rng.randint(1, budget))]
    if fault_kind == "quota_exhausted":
        return [FaultSpec("CreateDispatch", "resource_exhausted", rng.choice(EXHAUSTING))]
    raise ValueError(f"unknown fault kind {fault_kind!r}")


def _aws_faults(rng: random.Random, fault_kind: str) -> tuple[AwsFaultSpec, ...]:
    """AWS faults within what the SDK's retries and the states' Retry absorb (Lambda errors: 3 retries
    per step; SNS and EventBridge: 4; DynamoDB: the SDK's own)."""
    if fault_kind == "aws_lambda":
        code = rng.choice(["TooManyRequestsException", "ServiceException", "SdkClientException"])
        applied = code == "ServiceException" and rng.random() < 0.5  # the handler ran, the reply was lost
        return (AwsFaultSpec("lambda.Invoke", code, rng.randint(1, 2), applied),)
    if fault_kind == "aws_dynamodb":
        code = rng.choice(["ProvisionedThroughputExceededException", "ThrottlingException"])
        return (AwsFaultSpec("dynamodb.UpdateItem", code, rng.randint(1, 3)),)
    if fault_kind == "aws_sns":
        return (AwsFaultSpec("sns.Publish", rng.choice(["Throttled", "InternalError"]), rng.randint(1, 3)),)
    if fault_kind == "aws_sns_lost":
        return (AwsFaultSpec("sns.Publish", "InternalError", 1, applied=True),)
    if fault_kind == "aws_events":
        code = rng.choice(["ThrottlingException", "InternalException", "FailedEntry"])
        return (AwsFaultSpec("eventbridge.PutEvents", code, rng.randint(1, 3)),)
    if fault_kind == "aws_callback":
        return (AwsFaultSpec("sfn.SendTaskSuccess", "ThrottlingException", rng.randint(1, 3)),)
    if fault_kind == "aws_start":
        # Sometimes within the SDK's retries (accepted at once), sometimes past them (429, sent again).
        code = rng.choice(["ThrottlingException", "ServiceUnavailable"])
        return (AwsFaultSpec("sfn.StartExecution", code, rng.choice([1, 2, 8, 12])),)
    raise ValueError(f"unknown AWS fault kind {fault_kind!r}")


# -- what an execution left behind ------------------------------------------------------------------
@dataclass
class Observation:
    scenario: Scenario
    status: str  # SUCCEEDED, FAILED, ..., or "DID_NOT_END"
    error: str | None = None
    cause: str | None = None  # the escalation bundle's cause (FAILED), else None
    ledger: list[dict[str, Any]] = field(default_factory=list)  # items of its request id
    notifications: int = 0
    notification_causes: list[str] = field(default_factory=list)
    bus_events: int = 0
    max_agents: int = 0
    max_live_dispatches: int = 0
    client_timeouts: int = 0  # failed steps whose LiveKit call timed out on the client
    delivered: list[str] = field(default_factory=list)  # faults calls actually received ("Method code")
    aws_delivered: list[str] = field(default_factory=list)  # AWS faults requests actually received
    lost_pages: int = 0  # delivered SNS faults that took effect (the retried page repeats the message)
    page_event_ids: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)  # detail-types of its outcome events
    refusals: list[str] = field(default_factory=list)  # API answers before it was accepted ("429 ...")
    held_past_timeout: int = 0  # delivered faults whose reply was held past the client's timeout
    wall_s: float = 0.0


@dataclass(frozen=True)
class Violation:
    execution: str
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.execution}: {self.invariant}: {self.detail}"


def check_execution(obs: Observation) -> list[Violation]:
    """The invariants one execution must hold."""
    s, found = obs.scenario, []

    def bad(invariant: str, detail: str) -> None:
        found.append(Violation(s.name, invariant, detail))

    if obs.status == "DID_NOT_END":
        bad("ends", "still running when the run gave up on it")
        return found
    # the outcome matches the injected truth
    if s.expected == "verified":
        if obs.status != "SUCCEEDED":
            bad("outcome", f"expected verified, got {obs.status} {obs.error} cause={obs.cause}")
    elif obs.status != "FAILED" or obs.error != "AgentNotVerified":
        bad("outcome", f"expected escalated {s.expected}, got {obs.status} {obs.error}")
    elif obs.cause != s.expected:
        bad("cause", f"expected {s.expected}, escalated {obs.cause}")
    # exactly one terminal ledger record, with the right status and cause
    if len(obs.ledger) != 1:
        bad("one ledger record", f"{len(obs.ledger)} ledger items for request {s.name}")
    for item in obs.ledger:
        status, cause = item.get("status"), item.get("cause")
        if status != s.expected_status:
            bad("ledger status", f"ledger says {status!r}, expected {s.expected_status!r}")
        elif s.expected_status == "escalated" and cause != s.expected:
            bad("ledger cause", f"ledger cause {cause!r}, expected {s.expected!r}")
        elif s.expected_status == "verified" and cause is not None:
            bad("ledger cause", f"verified, yet the ledger has cause {cause!r}")
    # one page for an escalation (and one more per delivered lost SNS reply: SNS's at-least-once, all
    # with one event id), none for a verification; one outcome event of the right type for every outcome
    want = 1 if s.expected_status == "escalated" else 0
    if obs.notifications != want + (obs.lost_pages if want else 0):
        bad("one page", f"{obs.notifications} SNS messages, expected {want} (+{obs.lost_pages} lost replies)")
    if len(set(obs.page_event_ids)) > 1:
        bad("one page", f"the repeated pages carry different event ids {sorted(set(obs.page_event_ids))}")
    expected_type = "AgentDispatchVerified" if s.expected_status == "verified" else "AgentDispatchEscalated"
    if obs.event_types != [expected_type]:
        bad("one outcome event", f"outcome events {obs.event_types}, expected [{expected_type}]")
    # a refused start said when to come back and left nothing behind (checked as it was refused)
    for refusal in obs.refusals:
        if "bad" in refusal:
            bad("no request lost", refusal)
    if want and obs.notification_causes and set(obs.notification_causes) != {s.expected}:
        bad("notification cause", f"SNS causes {obs.notification_causes}, expected {s.expected}")
    # a reply held past the client's timeout did time the client out (the harness works); "Await
    # agent" shrugs off a failed ListParticipants (the wait's timeout looks again), so only methods
    # whose failure fails a step count. Only faults a call received count: a retried step may adopt
    # what a lost reply created and never make the call a scheduled fault was waiting for.
    if obs.held_past_timeout and not obs.client_timeouts:
        bad("fault delivered", "a reply was held past the client timeout, yet no step timed out")
    # never two agents of the requested name in the room
    if obs.max_agents > FAMILIES[s.kind].agents:
        bad("never two agents", f"{obs.max_agents} agents named {s.agent} in {s.room} at once")
    if obs.max_live_dispatches > 1:
        bad("never two live dispatches", f"{obs.max_live_dispatches} live dispatches of {s.agent} at once")
    return found


def check_secrets(
    texts: Iterable[tuple[str, str]], secret_values: Iterable[str], tokens: set[str], names: Iterable[str]
) -> list[Violation]:
    """No secret value and no JWT in any text. ``texts``: (where, text) pairs (log lines,
    notifications, events); a violation names the execution whose name the text carries."""
    values = [v for v in secret_values if v]
    names = list(names)
    found: list[Violation] = []
    for where, text in texts:
        leaks = [f"the API secret {_mask(v)}" for v in values if v in text]
        for jwt in SECRET_PATTERN.findall(text):
            known = "a JWT the simulator saw" if jwt in tokens else "a JWT-shaped string"
            leaks.append(f"{known} {_mask(jwt)}")
        if leaks:
            execution = next((n for n in names if n in text), "(no execution named)")
            found.append(Violation(execution, "no secret in logs", f"{', '.join(leaks)} in {where}"))
    return found


def _mask(value: str) -> str:
    return f"{value[:6]}...({len(value)} chars)"


# -- running -----------------------------------------------------------------------------------------
def choose_clock(preference: str = "auto") -> tuple[Any, bool]:
    """The one place the clock is chosen: (clock, run a batch's executions at once?). ``auto`` is the
    DiscreteClock; ``virtual`` runs them one after another on a VirtualClock."""
    if preference == "virtual":
        return VirtualClock(), False
    return DiscreteClock(), True


@dataclass
class Report:
    observations: list[Observation]
    violations: list[Violation]
    wall_s: float
    concurrent: bool

    def table(self) -> str:
        return summary_table(self)


class Progress:
    def __init__(self, total: int, out: TextIO | None) -> None:
        self.total, self.done, self.out = total, 0, out
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        if self.out is not None:
            print(text, file=self.out, flush=True)

    def finished(self, obs: Observation, violations: list[Violation]) -> None:
        with self._lock:
            self.done += 1
            s = obs.scenario
            got = (
                obs.cause
                if obs.status == "FAILED"
                else "verified"
                if obs.status == "SUCCEEDED"
                else obs.status
            )
            mark = "ok" if not violations else "VIOLATION " + "; ".join(v.invariant for v in violations)
            self.line(
                f"[{self.done:>4}/{self.total}] {s.name} {s.describe()} -> {got} "
                f"(expected {s.expected}) {mark} [{obs.wall_s:.1f} s]"
            )


def run(
    scenarios: list[Scenario],
    *,
    clock: str = "auto",
    progress: TextIO | None = sys.stderr,
) -> Report:
    """Run the scenarios (revocation ones with a key of their own) and check every invariant."""
    started = time.monotonic()
    bar = Progress(len(scenarios), progress)
    observations: list[Observation] = []
    violations: list[Violation] = []
    groups = [[s for s in scenarios if not s.revoke], [s for s in scenarios if s.revoke]]
    concurrent = False
    with _client_timeout(CLIENT_TIMEOUT_S):
        for group in groups:
            if not group:
                continue
            chosen, concurrent = choose_clock(clock)
            obs, found = _run_group(group, chosen, concurrent, bar)
            observations += obs
            violations += found
    return Report(observations, violations, time.monotonic() - started, concurrent)


@contextlib.contextmanager
def _client_timeout(seconds: float) -> Iterator[None]:
    saved = os.environ.get("LIVEKIT_TIMEOUT_S")
    os.environ["LIVEKIT_TIMEOUT_S"] = str(seconds)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LIVEKIT_TIMEOUT_S", None)
        else:
            os.environ["LIVEKIT_TIMEOUT_S"] = saved


def _run_group(
    group: list[Scenario], clock: Any, concurrent: bool, bar: Progress
) -> tuple[list[Observation], list[Violation]]:
    """One simulator and one engine with a distinctive key pair of their own."""
    api_key = f"chaos-key-{secrets.token_hex(4)}"
    api_secret = f"chaos-secret-{secrets.token_urlsafe(24)}"
    observations: list[Observation] = []
    violations: list[Violation] = []
    with contextlib.ExitStack() as stack:
        if hasattr(clock, "__enter__"):
            stack.enter_context(clock)
        sim = stack.enter_context(LiveKitSimulator(clock, api_key=api_key, api_secret=api_secret))
        sim.record_tokens()
        credentials = {"url": sim.url or "", "api_key": api_key, "api_secret": api_secret}
        engine = stack.enter_context(
            LocalEngine(clock, credentials, template_path=str(ROOT / "template.yaml"))
        )
        api = LocalApi(engine)
        ledger_table = _ledger_table(engine)
        started = Started()
        batches: dict[str, list[Scenario]] = {}
        for s in group:
            batches.setdefault(s.webhooks, []).append(s)
        for b, (mode, batch) in enumerate(sorted(batches.items())):
            on, drop, duplicate = WEBHOOK_MODES[mode]
            sim.set_webhook(api.deliver_webhook if on else None, drop=drop, duplicate=duplicate, seed=b)
            outcomes = (
                _run_concurrent(batch, sim, engine, clock, api, started)
                if concurrent
                else ((s, _run_one(s, sim, engine, api, started)) for s in batch)
            )
            for s, outcome in outcomes:
                obs = _observe(s, outcome, sim, engine, ledger_table, started)
                found = check_execution(obs)
                bar.finished(obs, found)
                observations.append(obs)
                violations += found
            sim.set_webhook(None)
        names = [s.name for s in group]
        violations += check_secrets(_texts(engine, observations), [api_secret], sim.tokens, names)
    return observations, violations


def _inject(s: Scenario, sim: LiveKitSimulator, engine: LocalEngine) -> None:
    sim.set_agent(s.agent, s.behaviour)
    for a in s.aws_faults:
        engine.aws_faults.inject(a.operation, a.code, a.count, match=s.name, applied=a.applied)
    for f in s.faults:
        sim.inject_fault(
            f.method, f.code, f.count, latency_s=f.latency_s, applied=f.applied, room=s.room, hold_s=f.hold_s
        )


def _run_one(
    s: Scenario, sim: LiveKitSimulator, engine: LocalEngine, api: LocalApi, started: Started
) -> tuple[ExecutionResult | None, float]:
    _inject(s, sim, engine)
    if s.revoke:
        sim.restore_api_key()
        sim.revoke_api_key(at=engine.clock.now() + REVOKE_AFTER_S)
    t0 = time.monotonic()
    try:
        arn = _start(s, engine, api, started)
        result: ExecutionResult | None = engine.wait(arn, timeout_s=EXECUTION_TIMEOUT_S)
    except TimeoutError:
        result = None
    sim.clear_faults(s.room)
    engine.aws_faults.clear(s.name)
    return result, time.monotonic() - t0


@dataclass
class Started:
    """Per scenario started through the API: its request id (the API's, from its idempotency key) and
    the API's refusals before it was accepted."""

    request_ids: dict[str, str] = field(default_factory=dict)
    refusals: dict[str, list[str]] = field(default_factory=dict)

    def request_id(self, s: Scenario) -> str:
        return self.request_ids.get(s.name, s.name)


def _start(s: Scenario, engine: LocalEngine, api: LocalApi, started: Started) -> str:
    """Start ``s``: directly, or, when StartExecution faults are aimed at it, through the API as a
    backend would: POST with its name as the idempotency key, and after a 429/503 the same request
    again (Retry-After is virtual-time free here). A refusal must carry Retry-After and leave no ledger
    item; what is wrong with one is kept in ``started.refusals`` for the invariants."""
    if not any(a.operation == "sfn.StartExecution" for a in s.aws_faults):
        return engine.start(s.request(), name=s.name)
    from dispatch_verify.logic.intake import request_id_for  # on sys.path once the engine runs

    request_id = request_id_for(s.name)
    refusals = started.refusals.setdefault(s.name, [])
    route = api.route("POST", "/dispatches")
    assert route is not None
    body = json.dumps({**s.request(), "idempotency_key": s.name}).encode()
    headers = [("Host", "localhost"), ("Content-Type", "application/json")]
    for _ in range(START_TRIES):
        answer = api.invoke(route, proxy_event(route, "POST", "/dispatches", headers, body))
        status, answered = answer["statusCode"], {**(answer.get("headers") or {})}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            answered[name] = values[-1]
        if status == 202:
            accepted = json.loads(answer["body"])
            started.request_ids[s.name] = accepted["request_id"]
            return (
                engine.state_machine_arn.replace(":stateMachine:", ":execution:")
                + f":{accepted['request_id']}"
            )
        note = f"{status}"
        if status not in (429, 503):
            note += " bad: neither accepted nor 429/503"
        elif not str(answered.get("Retry-After", "")).isdigit():
            note += " bad: no Retry-After"
        if _ledger_items(engine, _ledger_table(engine), request_id):
            note += " bad: a ledger item was left without an execution"
        refusals.append(note)
    refusals.append(f"bad: still refused after {START_TRIES} tries")
    raise TimeoutError(s.name)


def _ledger_table(engine: LocalEngine) -> str:
    return next(
        t.environment["LEDGER_TABLE_NAME"]
        for t in engine.functions()
        if t.environment.get("LEDGER_TABLE_NAME")
    )


def _run_concurrent(
    batch: list[Scenario],
    sim: LiveKitSimulator,
    engine: LocalEngine,
    clock: Any,
    api: LocalApi,
    started: Started,
) -> Iterator[tuple[Scenario, tuple[ExecutionResult | None, float]]]:
    """Every execution of the batch starts at the same virtual instant; time stands still meanwhile."""
    t0 = time.monotonic()
    arns: dict[str, str] = {}
    with clock.running():
        for s in batch:
            _inject(s, sim, engine)
        if any(s.revoke for s in batch):
            sim.restore_api_key()
            sim.revoke_api_key(at=clock.now() + REVOKE_AFTER_S)
        for s in batch:
            with contextlib.suppress(TimeoutError):  # never accepted: observed as DID_NOT_END
                arns[s.name] = _start(s, engine, api, started)
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    for s in batch:
        try:
            if s.name not in arns:
                raise TimeoutError(s.name)
            result: ExecutionResult | None = engine.wait(
                arns[s.name], timeout_s=max(1.0, deadline - time.monotonic())
            )
        except TimeoutError:
            result = None
        sim.clear_faults(s.room)
        engine.aws_faults.clear(s.name)
        yield s, (result, time.monotonic() - t0)


def _observe(
    s: Scenario,
    outcome: tuple[ExecutionResult | None, float],
    sim: LiveKitSimulator,
    engine: LocalEngine,
    ledger_table: str,
    started: Started,
) -> Observation:
    result, wall_s = outcome
    delivered = sim.delivered_faults(s.room)
    aws_delivered = engine.aws_faults.delivered(s.name)
    refusals = started.refusals.get(s.name, [])
    if result is None:
        return Observation(s, "DID_NOT_END", wall_s=wall_s, refusals=refusals)
    rid = started.request_id(s)
    cause = None
    if result.status == "FAILED":
        with contextlib.suppress(ValueError, TypeError):
            cause = json.loads(result.cause or "").get("cause")
    notifications = [n for n in engine.notifications() if _request_id(n.get("message")) == rid]
    events = [e for e in engine.bus_events() if _request_id(e.get("detail")) == rid]
    return Observation(
        scenario=s,
        status=result.status,
        error=result.error,
        cause=cause,
        ledger=_ledger_items(engine, ledger_table, rid),
        notifications=len(notifications),
        page_event_ids=[str(n["attributes"].get("event_id")) for n in notifications],
        event_types=[str(e.get("detail-type")) for e in events],
        aws_delivered=[f"{d.operation} {d.code}{' applied' if d.applied else ''}" for d in aws_delivered],
        lost_pages=sum(d.operation == "sns.Publish" and d.applied for d in aws_delivered),
        refusals=refusals,
        notification_causes=[str(n["message"].get("cause")) for n in notifications],
        bus_events=len(events),
        max_agents=sim.max_agents(s.room, s.agent),
        max_live_dispatches=sim.max_live_dispatches(s.room, s.agent),
        delivered=[f"{d.method} {d.code or ('held' if d.hold_s else 'latency')}" for d in delivered],
        held_past_timeout=sum(d.hold_s > CLIENT_TIMEOUT_S and d.method in STEP_FAILING for d in delivered),
        client_timeouts=sum(
            "TimeoutError" in str((event.get("taskFailedEventDetails") or {}).get("cause"))
            for event in result.history
        ),
        wall_s=wall_s,
    )


def _request_id(body: Any) -> str | None:
    return body.get("request_id") if isinstance(body, dict) else None


def _ledger_items(engine: LocalEngine, table: str, request_id: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    client = engine.session.client("dynamodb")
    deserializer = TypeDeserializer()
    found = client.query(
        TableName=table,
        KeyConditionExpression="request_id = :r",
        ExpressionAttributeValues={":r": {"S": request_id}},
        ConsistentRead=True,
    )["Items"]
    return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in found]


def _texts(engine: LocalEngine, observations: list[Observation]) -> Iterator[tuple[str, str]]:
    for n, line in enumerate(list(engine.lambda_output)):
        yield f"handler log line {n + 1}", line
    for n, message in enumerate(engine.notifications()):
        yield f"SNS message {n + 1}", json.dumps(message, default=str)
    for n, event in enumerate(engine.bus_events()):
        yield f"EventBridge event {n + 1}", json.dumps(event, default=str)


# -- reporting ---------------------------------------------------------------------------------------
def summary_table(report: Report) -> str:
    by_name: dict[str, list[Violation]] = {}
    for v in report.violations:
        by_name.setdefault(v.execution, []).append(v)
    lines = [
        f"chaos: {len(report.observations)} executions in {report.wall_s:.1f} s wall "
        f"({'batches at once, DiscreteClock' if report.concurrent else 'one at a time, VirtualClock'}), "
        f"{len(report.violations)} violation(s)",
        "",
    ]

    def section(title: str, key: Any) -> None:
        rows: dict[str, Counter[str]] = {}
        for obs in report.observations:
            for label in key(obs):
                row = rows.setdefault(label, Counter())
                row["runs"] += 1
                row[obs.scenario.expected_status] += 1
                row["violating"] += bool(by_name.get(obs.scenario.name))
        lines.append(f"{title:<22}{'runs':>6}{'verified':>10}{'escalated':>11}{'violating':>11}")
        for label in sorted(rows):
            r = rows[label]
            lines.append(
                f"{label:<22}{r['runs']:>6}{r['verified']:>10}{r['escalated']:>11}{r['violating']:>11}"
            )
        lines.append("")

    section("fault kind", lambda o: o.scenario.fault_kinds)
    section("expected outcome", lambda o: [o.scenario.expected])
    section("agent behaviour", lambda o: [o.scenario.kind])
    section("webhooks", lambda o: [o.scenario.webhooks])
    delivered = Counter(d for o in report.observations for d in (*o.delivered, *o.aws_delivered))
    lines.append("faults delivered (only those a call or request received; scheduled ones never reached")
    lines.append(
        "are not counted): " + (", ".join(f"{k} {n}" for k, n in sorted(delivered.items())) or "none")
    )
    lines.append("")
    invariants = Counter(v.invariant for v in report.violations)
    lines.append(
        "violations by invariant: " + (", ".join(f"{k} {n}" for k, n in invariants.items()) or "none")
    )
    for v in report.violations[:50]:
        lines.append(f"  {v}")
    if len(report.violations) > 50:
        lines.append(f"  ... and {len(report.violations) - 50} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", "-n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clock", choices=("auto", "virtual", "discrete"), default="auto")
    parser.add_argument("--json", type=Path, help="also write the observations and violations here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    scenarios = generate(args.executions, args.seed)
    report = run(scenarios, clock=args.clock, progress=None if args.quiet else sys.stderr)
    print(summary_table(report), file=sys.stderr)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "executions": len(report.observations),
                    "wall_s": round(report.wall_s, 1),
                    "violations": [asdict(v) for v in report.violations],
                    "observations": [
                        {**asdict(o), "scenario": asdict(o.scenario)} for o in report.observations
                    ],
                },
                indent=1,
                default=str,
            )
        )
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
