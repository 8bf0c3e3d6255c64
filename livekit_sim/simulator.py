"""``LiveKitSimulator``: the world, the agent fleet and the Twirp server, with a test-facing API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from livekit.protocol.agent import Job
from livekit.protocol.agent_dispatch import AgentDispatch
from livekit.protocol.models import ParticipantInfo

from .agents import Fleet
from .behaviours import Behaviour, parse_behaviour
from .errors import TWIRP_STATUS, name_too_long
from .server import DeliveredFault, Fault, TwirpApp, _Server
from .sip import parse_answer
from .webhooks import Target, WebhookRecord, Webhooks, check_share, check_url
from .world import World

M = TypeVar("M", bound=Message)
log = logging.getLogger(__name__)
TICK_S = 0.02  # on real time, with a webhook target, the world is advanced this often


class LiveKitSimulator:
    """A LiveKit server-API look-alike: official clients work against ``url`` unchanged.

    All simulated time comes from ``clock`` (``now()`` epoch seconds, ``sleep(s)``). The world is
    advanced lazily: each request (and each inspection method here) first applies every event due
    by ``clock.now()``. JWT validity (``nbf``/``exp``) is checked on wall time, as tokens are minted.
    With a webhook target set (``set_webhook``) the world also advances as time passes: on a
    ``VirtualClock`` after each ``advance``/``sleep``, on real time every 20 ms.
    """

    def __init__(
        self,
        clock: Any,
        *,
        api_key: str = "devkey",
        api_secret: str = "secret",  # noqa: S107 - the key pair of `livekit-server --dev`
        agents: dict[str, str] | None = None,
        default_behaviour: str = "none",
        auto_create: bool = True,
        host: str = "127.0.0.1",
        sip_answers: dict[str, str] | None = None,
        sip_trunks: tuple[str, ...] = (),
    ) -> None:
        self.clock = clock
        self.api_key, self.api_secret, self.host = api_key, api_secret, host
        self.world = World(clock, auto_create=auto_create)
        self.fleet = Fleet(self.world, agents, default_behaviour)
        self.app = TwirpApp(self.world, api_key, api_secret)
        for number, answer in (sip_answers or {}).items():
            self.set_sip_answer(number, answer)
        self.world.telephony.trunks.update(sip_trunks)
        self.url: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._webhooks = Webhooks(api_key, api_secret)
        self.world.lock.after_release = self._webhooks.flush
        self._webhook_lock = threading.Lock()  # set_webhook/stop, one at a time
        self._unsubscribe: Callable[[], None] | None = None
        self._ticker: tuple[threading.Thread, threading.Event] | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError(f"simulator already serving at {self.url}")
        self._server = _Server((self.host, port), self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="livekit-sim", daemon=True
        )
        self._thread.start()
        self.url = f"http://{self.host}:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        """Stop serving; webhooks are switched off (``set_webhook(None)``), their records kept."""
        self.set_webhook(None)
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LiveKitSimulator:
        self.start(0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration ----------------------------------------------------------------------
    @property
    def auto_create(self) -> bool:
        """Whether CreateDispatch creates a missing room (else: ``not_found``). Settable."""
        return self.world.auto_create

    @auto_create.setter
    def auto_create(self, value: bool) -> None:
        with self.world.lock:
            self.world.auto_create = bool(value)

    def set_agent(self, agent_name: str, behaviour: str | Behaviour) -> None:
        """Register (or replace) the worker for ``agent_name``; applies to later dispatches."""
        with self.world.lock:
            self.world.advance()
            self.fleet.set_agent(agent_name, parse_behaviour(behaviour))

    @property
    def sip_trunks(self) -> set[str]:
        """Outbound trunk ids CreateSIPParticipant accepts (others: ``not_found``); ``ST_simtrunk`` always."""
        return set(self.world.telephony.trunks)

    def add_sip_trunk(self, trunk_id: str) -> None:
        with self.world.lock:
            self.world.telephony.trunks.add(trunk_id)

    def set_sip_answer(self, number: str, answer: str) -> None:
        """How ``number`` answers a dial: ``answer`` (the default), ``busy`` (486), ``noanswer`` (408
        after the ringing timeout) or ``decline`` (603)."""
        with self.world.lock:
            self.world.telephony.answers[number] = parse_answer(answer)

    def inject_fault(
        self,
        method: str,
        code: str | None,
        count: int = 1,
        latency_s: float = 0.0,
        message: str | None = None,
        *,
        applied: bool = False,
        room: str | None = None,
        hold_s: float = 0.0,
    ) -> None:
        """The next ``count`` calls of Twirp method ``method`` fail with ``code`` after ``latency_s``
        extra seconds on the clock. ``code=None`` with ``latency_s > 0`` only adds latency.
        ``applied=True``: the call takes effect but the caller still gets the error (a lost reply).

        ``room``: only calls about that room count (the request's room; CreateRoom's name), so a
        fault can be aimed at one workflow execution among many. ``hold_s``: the answer is held for
        that many *real* seconds after the call took effect (or, for a fault that is not applied,
        before the error), so a client whose timeout is shorter gives up although the call was
        done, as against a slow server. Faults are a test device, not LiveKit behaviour."""
        if code is not None and code not in TWIRP_STATUS:
            raise ValueError(f"unknown Twirp code {code!r}; known: {', '.join(sorted(TWIRP_STATUS))}")
        if code is None and latency_s <= 0 and hold_s <= 0:
            raise ValueError("a fault needs a code, a latency_s > 0, a hold_s > 0, or a mix")
        if count < 1 or latency_s < 0 or hold_s < 0:
            raise ValueError("count must be >= 1, latency_s and hold_s >= 0")
        self.app.add_fault(method, Fault(code, count, latency_s, message, applied, room, hold_s))

    def clear_faults(self, room: str | None = None) -> None:
        """Drop the injected faults not used up yet: every one, or those aimed at ``room``."""
        self.app.clear_faults(room)

    def delivered_faults(self, room: str | None = None) -> list[DeliveredFault]:
        """The injected faults that calls actually received (every room, or ``room``'s), in order: a
        fault injected but never reached (its call was not made) is not here."""
        with self.world.lock:
            return [d for d in self.app.delivered if room in (None, d.room)]

    def revoke_api_key(self, at: float | None = None) -> None:
        """Revoke the API key from clock time ``at`` (default: now): every request signed with it is
        then refused as LiveKit refuses an unknown key (401, plain text ``invalid API key``).
        Webhooks are still signed with it."""
        self.app.revoked_from = float(self.clock.now() if at is None else at)

    def restore_api_key(self) -> None:
        """The API key is valid again (a revocation not yet in force is cancelled)."""
        self.app.revoked_from = None

    def record_tokens(self, on: bool = True) -> None:
        """Keep every JWT received from clients and every webhook token signed (``tokens``)."""
        self.app.record_tokens = self._webhooks.record_tokens = on

    @property
    def tokens(self) -> set[str]:
        """The JWTs seen since ``record_tokens()``: bearer tokens received and webhook tokens signed."""
        return self.app.recorded_tokens() | self._webhooks.recorded_tokens()

    def add_participant(
        self,
        room: str,
        identity: str,
        *,
        kind: str = "STANDARD",
        attributes: dict[str, str] | None = None,
        state: str = "ACTIVE",
    ) -> None:
        """A participant joins ``room`` now (the room is created if missing). ValueError for a join
        LiveKit refuses: a room name or identity over 256 bytes."""
        for what, name in (("room name", room), ("participant identity", identity)):
            problem = name_too_long(what, name)
            if problem is not None:
                raise ValueError(problem)
        ParticipantInfo.Kind.Value(kind.upper())  # ValueError for an unknown kind or state
        ParticipantInfo.State.Value(state.upper())
        info = ParticipantInfo(
            identity=identity,
            name=identity,
            kind=kind.upper(),
            state=state.upper(),
            attributes=attributes or {},
        )
        with self.world.lock:
            now = self.world.advance()
            self.world.join(room, info, now)

    def remove_participant(self, room: str, identity: str) -> bool:
        """A participant leaves ``room`` now; False if it was not there."""
        with self.world.lock:
            now = self.world.advance()
            return self.world.leave(room, identity, now)

    # -- webhooks ---------------------------------------------------------------------------
    def set_webhook(
        self,
        target: str | Target | None,
        *,
        drop: float = 0.0,
        duplicate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Send LiveKit webhooks (room_started, room_finished, participant_joined,
        participant_left) to ``target``: ``None`` (off, the default), an ``http(s)://`` URL (POSTed
        in order by a background thread; failures logged, not retried) or a callable
        ``target(body, headers)`` (called in order, in the thread that advanced the world, never
        under the world's or the clock's lock; what it raises is logged).

        ``drop``: share of events never sent; ``duplicate``: share sent twice (same body and id);
        ``seed`` makes both choices reproducible. Events that fell due before this call go to the
        previous configuration. ``webhooks`` records every event produced while a target is set.
        """
        drop, duplicate = check_share("drop", drop), check_share("duplicate", duplicate)
        if isinstance(target, str):
            check_url(target)
        elif target is not None and not callable(target):
            raise ValueError(f"webhook target must be None, an http(s) URL or a callable, got {target!r}")
        with self._webhook_lock:
            self._stop_ticking()
            with self.world.lock:
                self.world.advance()  # what is already due goes to the previous configuration
                previous = self._webhooks.configure(target, drop, duplicate, seed)
                self.world.on_event = None if target is None else self._webhooks.on_event
            # released: what was collected for the previous target has been handed over
            if previous is not None:
                previous.close()
            if target is not None:
                self._start_ticking()

    @property
    def webhooks(self) -> list[WebhookRecord]:
        """Every event produced while a webhook target was set, oldest first (a copy)."""
        return self._webhooks.records

    def _advance_world(self, _now: float | None = None) -> None:
        try:
            with self.world.lock:
                self.world.advance()
        except Exception:  # a simulator bug must not break whoever moved the clock
            log.exception("advancing the simulated world failed")

    def _start_ticking(self) -> None:
        subscribe = getattr(self.clock, "subscribe", None)
        if callable(subscribe):
            unsubscribe = subscribe(self._advance_world)
            add_horizon = getattr(self.clock, "add_horizon", None)
            remove = add_horizon(self.world.next_event_at) if callable(add_horizon) else (lambda: None)

            def stop() -> None:
                unsubscribe()
                remove()

            self._unsubscribe = stop
            return
        stopped = threading.Event()

        def tick() -> None:
            while not stopped.wait(TICK_S):
                self._advance_world()

        thread = threading.Thread(target=tick, name="livekit-sim-ticker", daemon=True)
        self._ticker = (thread, stopped)
        thread.start()

    def _stop_ticking(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._ticker is not None:
            thread, stopped = self._ticker
            stopped.set()
            if thread is not threading.current_thread():
                thread.join(timeout=5)
            self._ticker = None

    # -- inspection -------------------------------------------------------------------------
    @property
    def calls(self) -> list[tuple[str, str, int]]:
        """(method, Twirp code or "ok", HTTP status) per request; plain-text 401s record
        "unauthenticated"."""
        return self.app.calls

    def sip_calls(self, room: str | None = None) -> list[tuple[str, str, str]]:
        """(room, number, answer) of every CreateSIPParticipant that placed a call, oldest first."""
        with self.world.lock:
            return [call for call in self.world.telephony.calls if room in (None, call[0])]

    def max_live_dispatches(self, room: str, agent_name: str) -> int:
        with self.world.lock:
            self.world.advance()
            return self.world.max_live(room, agent_name)

    def max_agents(self, room: str, agent_name: str) -> int:
        """The most AGENT participants named ``agent_name`` (``lk.agent.name``/``lk.agent_name``)
        that were ever in ``room`` at the same time."""
        with self.world.lock:
            self.world.advance()
            return self.world.max_agents(room, agent_name)

    def live_dispatches(self, room: str, agent_name: str | None = None) -> list[AgentDispatch]:
        with self.world.lock:
            self.world.advance()
            state = self.world.rooms.get(room)
            if state is None:
                return []
            found = [self.world.dispatches[i] for i in state.dispatch_ids]
            return [self.world.dispatch_proto(d) for d in found if agent_name in (None, d.agent_name)]

    def jobs(self, room: str | None = None, agent_name: str | None = None) -> list[Job]:
        """Every job ever created (also of deleted dispatches and closed rooms), oldest first."""
        with self.world.lock:
            self.world.advance()
            found = [
                j
                for j in self.world.jobs.values()
                if room in (None, self.world.job_dispatch[j.id].room) and agent_name in (None, j.agent_name)
            ]
            return [_copy(j) for j in found]

    def room_names(self) -> list[str]:
        with self.world.lock:
            self.world.advance()
            return list(self.world.rooms)

    def participants(self, room: str) -> list[ParticipantInfo]:
        with self.world.lock:
            self.world.advance()
            state = self.world.rooms.get(room)
            return [] if state is None else [_copy(p) for p in state.participants.values()]


def _copy(msg: M) -> M:
    out = type(msg)()
    out.CopyFrom(msg)
    return out
