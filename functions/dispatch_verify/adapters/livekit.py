"""The one place that talks to LiveKit, and the one place that classifies its errors.

The steps see LiveKit through ``ports.livekit.LiveKitPort``: a few synchronous calls that return plain
values (``Dispatch``, ``Job``, ``Participant``). ``LiveKitClient`` implements the port with the
official ``livekit-api`` client, which is async: ``connect`` hands each invocation the process's
shared client for its credentials (one HTTP session on one event loop thread, kept across warm
invocations); a client of its own runs an ``asyncio.Runner``.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import aiohttp
from livekit import api

from dispatch_verify import config
from dispatch_verify.config import LiveKitCredentials
from dispatch_verify.errors import (
    Cause,
    DialFailedError,
    DispatchVerifyError,
    ErrorDetail,
    LiveKitPermanentError,
    LiveKitTransientError,
)
from dispatch_verify.ports.livekit import (
    Dispatch,
    Job,
    LiveKitPort,
    Participant,
    SipCall,
    SipParticipant,
)

log = logging.getLogger(__name__)
CLIENT_TIMEOUT_S = config.LIVEKIT_TIMEOUT_S  # the default; LIVEKIT_TIMEOUT_S sets it (config.py)
# A dial that waits until answered must outlast the ringing: livekit-api asks ringing + 2 s of aiohttp.
DIAL_MARGIN_S = 5.0
_LONGEST_RINGING_S = 60.0  # above any ringing_timeout_s a request may ask for (models: 40 s)

_T = TypeVar("_T")


_AUTH_CODES = {"unauthenticated", "permission_denied"}
_INVALID_CODES = {
    "invalid_argument",
    "failed_precondition",
    "unimplemented",
    "malformed",
    "bad_route",
    "out_of_range",
    "already_exists",
}


def livekit_error(exc: api.ServerError) -> DispatchVerifyError:
    """Classify a LiveKit server error: transient ones are retried by the state machine, the rest escalate.

    A rejected or garbled token comes back as plain text, which the client reports as code "unknown"
    with status 401: the status decides before the code does.
    """
    code, status = exc.code, exc.status

    # A plain-text error body (a rejected token, a proxy) leaves the message empty.
    message = exc.message or f"LiveKit answered HTTP {status} without an error message"

    def detail(cause: Cause) -> ErrorDetail:
        return ErrorDetail(cause=cause, code=code, message=message, status=status)

    if code in _AUTH_CODES or status in (401, 403):
        return LiveKitPermanentError(detail("auth"))
    if code == "resource_exhausted" or status == 429:
        return LiveKitTransientError(detail("quota"))
    if code == "not_found":
        return LiveKitPermanentError(detail("room_missing"))
    if code in _INVALID_CODES:
        return LiveKitPermanentError(detail("invalid_request"))
    return LiveKitTransientError(detail("livekit_unavailable"))


def dial_error(exc: api.ServerError) -> DispatchVerifyError:
    """Classify a CreateSIPParticipant error: a call that did not connect is a dial failure, not a fault.

    LiveKit maps SIP responses to Twirp codes that elsewhere mean "retry" (486 Busy Here is
    resource_exhausted, 408 is deadline_exceeded) and adds ``sip_status_code``/``sip_status`` to the
    error's meta, from which livekit-api raises ``SipCallError``: that error is never retried, since
    asking again would ring the callee again. ``not_found`` here is an unknown trunk (LiveKit creates
    a missing room for a SIP participant). Anything else is classified as for every other call.
    """
    if isinstance(exc, api.SipCallError) or exc.code == "not_found":
        sip_error = exc if isinstance(exc, api.SipCallError) else None
        return DialFailedError(
            ErrorDetail(
                cause="dial_failed",
                code=exc.code,
                message=exc.message or f"LiveKit answered HTTP {exc.status} without an error message",
                status=exc.status,
                sip_status_code=sip_error.sip_status_code if sip_error else None,
                sip_status=sip_error.sip_status if sip_error else None,
            )
        )
    return livekit_error(exc)


def network_error(exc: BaseException) -> LiveKitTransientError:
    """aiohttp errors, timeouts and socket errors: LiveKit did not answer, so asking again may work."""
    return LiveKitTransientError.of(
        "livekit_unavailable", f"{type(exc).__name__}: {str(exc) or 'no answer in time'}"
    )


class _SharedLoop:
    """One event loop per process, in a daemon thread: the aiohttp sessions that warm invocations
    reuse live on it (a session is bound to the loop it was made in; handlers may run in any thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="livekit-client-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()


class LiveKitClient:
    """``LiveKitPort`` over ``livekit.api.LiveKitAPI``. On its own (``close`` when done), or shared by
    the warm invocations of a process through ``connect`` (then it runs on ``_SharedLoop``)."""

    def __init__(
        self,
        credentials: LiveKitCredentials,
        timeout_s: float | None = None,  # None: config.livekit_timeout_s()
        *,
        shared_loop: _SharedLoop | None = None,
    ) -> None:
        self._timeout_s = timeout_s = config.livekit_timeout_s() if timeout_s is None else timeout_s
        self._shared = shared_loop
        self._runner = None if shared_loop else asyncio.Runner()
        self.broken = False  # a network error: a shared client is dropped after the invocation
        self._api = self._run(self._open(credentials, timeout_s))

    def _run(self, coro: Awaitable[_T]) -> _T:
        if self._shared is not None:
            return self._shared.run(coro)
        assert self._runner is not None
        return self._runner.run(coro)  # type: ignore[arg-type]

    @staticmethod
    async def _open(credentials: LiveKitCredentials, timeout_s: float) -> api.LiveKitAPI:
        # aiohttp wants its session created inside the loop that will use it.
        return api.LiveKitAPI(
            credentials.url,
            credentials.api_key,
            credentials.api_secret.get_secret_value(),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )

    def close(self) -> None:
        try:
            self._run(self._api.aclose())
        finally:
            if self._runner is not None:
                self._runner.close()

    async def aclose_shared(self) -> None:
        """Close from inside the shared loop (a client dropped from the shared ones)."""
        try:
            await self._api.aclose()
        except Exception as exc:  # a session to a server that is gone
            log.debug("closing a LiveKit client failed: %s", type(exc).__name__)

    def _call(
        self,
        call: Callable[[api.LiveKitAPI], Awaitable[_T]],
        *,
        timeout_s: float | None = None,
        classify: Callable[[api.ServerError], DispatchVerifyError] = livekit_error,
    ) -> _T:
        async def run() -> _T:
            # livekit-api 1.2.2 posts with timeout=None, which aiohttp reads as "no timeout": the
            # session's ClientTimeout never applies, so the bound is enforced here.
            return await asyncio.wait_for(call(self._api), timeout_s or self._timeout_s)

        try:
            return self._run(run())
        except api.ServerError as exc:
            raise classify(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.broken = True
            raise network_error(exc) from exc

    def create_room(self, room: str, empty_timeout_s: int | None) -> str:
        request = api.CreateRoomRequest(name=room)
        if empty_timeout_s is not None:
            request.empty_timeout = empty_timeout_s
        return str(self._call(lambda lk: lk.room.create_room(request)).sid)

    def list_participants(self, room: str) -> list[Participant]:
        response = self._call(lambda lk: lk.room.list_participants(api.ListParticipantsRequest(room=room)))
        return [participant_from_proto(p) for p in response.participants]

    def list_dispatches(self, room: str) -> list[Dispatch]:
        return [dispatch_from_proto(d) for d in self._call(lambda lk: lk.agent_dispatch.list_dispatch(room))]

    def create_dispatch(self, room: str, agent_name: str, metadata: str) -> Dispatch:
        request = api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
        return dispatch_from_proto(self._call(lambda lk: lk.agent_dispatch.create_dispatch(request)))

    def delete_dispatch(self, room: str, dispatch_id: str) -> bool:
        try:
            self._call(lambda lk: lk.agent_dispatch.delete_dispatch(dispatch_id, room))
        except LiveKitPermanentError as exc:
            if exc.detail.code == "not_found":
                return False
            raise
        return True

    def delete_room(self, room: str) -> bool:
        try:
            self._call(lambda lk: lk.room.delete_room(api.DeleteRoomRequest(room=room)))
        except LiveKitPermanentError as exc:
            if exc.detail.code == "not_found":
                return False
            raise
        return True

    def create_sip_participant(self, call: SipCall) -> SipParticipant:
        request = api.CreateSIPParticipantRequest(
            sip_trunk_id=call.trunk_id,
            sip_call_to=call.call_to,
            room_name=call.room,
            participant_identity=call.participant_identity,
            wait_until_answered=call.wait_until_answered,
        )
        if call.participant_name:
            request.participant_name = call.participant_name
        request.ringing_timeout.seconds = call.ringing_timeout_s
        # livekit-api raises a waiting dial's aiohttp timeout to ringing + 2 s; ours is a little longer.
        timeout_s = call.ringing_timeout_s + DIAL_MARGIN_S if call.wait_until_answered else self._timeout_s
        info = self._call(
            lambda lk: lk.sip.create_sip_participant(request, timeout=timeout_s),
            timeout_s=timeout_s + 1,  # let livekit-api's own timeout (or LiveKit's answer) come first
            classify=dial_error,
        )
        return SipParticipant(
            participant_identity=info.participant_identity or call.participant_identity,
            participant_id=info.participant_id,
            sip_call_id=info.sip_call_id,
        )


# Warm invocations reuse one client (one aiohttp session, its kept-alive connections) per
# credentials: AWS's advice for SDK clients, measured by bench.startup (about half the per-call cost
# on loopback; a TLS handshake saved per call against LiveKit Cloud).
_MAX_SHARED_CLIENTS = 4
_shared_lock = threading.Lock()
_shared_loop: _SharedLoop | None = None
_shared_clients: OrderedDict[tuple[str, str, str, float], LiveKitClient] = OrderedDict()


def _credentials_key(credentials: LiveKitCredentials) -> tuple[str, str, str]:
    secret = hashlib.sha256(credentials.api_secret.get_secret_value().encode()).hexdigest()
    return credentials.url, credentials.api_key, secret


def shared_client(credentials: LiveKitCredentials) -> LiveKitClient:
    """The process's client for these credentials (new credentials, e.g. a rotated secret, get a
    new one; the least recently used beyond ``_MAX_SHARED_CLIENTS`` is closed)."""
    global _shared_loop
    key = (*_credentials_key(credentials), config.livekit_timeout_s())
    with _shared_lock:
        client = _shared_clients.get(key)
        if client is not None:
            _shared_clients.move_to_end(key)
            return client
        if _shared_loop is None:
            _shared_loop = _SharedLoop()
            atexit.register(close_shared_clients)
        client = LiveKitClient(credentials, key[3], shared_loop=_shared_loop)
        _shared_clients[key] = client
        evicted = [
            _shared_clients.popitem(last=False)[1] for _ in range(len(_shared_clients) - _MAX_SHARED_CLIENTS)
        ]
    for old in evicted:
        _close_later(old)
    return client


def _discard(client: LiveKitClient) -> None:
    with _shared_lock:
        for key, found in list(_shared_clients.items()):
            if found is client:
                del _shared_clients[key]
    _close_later(client)


def _close_later(client: LiveKitClient) -> None:
    """Close a client no longer handed out once calls other threads may still be making on it are
    over (the longest a call may take: a dial's ringing bound)."""
    loop = _shared_loop
    if loop is None:
        return
    grace_s = max(CLIENT_TIMEOUT_S, config.livekit_timeout_s()) + _LONGEST_RINGING_S + DIAL_MARGIN_S

    def close_soon() -> None:
        loop.loop.call_later(grace_s, lambda: asyncio.ensure_future(client.aclose_shared()))

    loop.loop.call_soon_threadsafe(close_soon)


def close_shared_clients() -> None:
    """Close every shared client (at exit, and for tests)."""
    with _shared_lock:
        clients = list(_shared_clients.values())
        _shared_clients.clear()
    for client in clients:
        _close_quietly(client)


def _close_quietly(client: LiveKitClient) -> None:
    try:
        client.close()
    except Exception as exc:  # closing a session to a server that is gone must not fail a step
        log.debug("closing a LiveKit client failed: %s", type(exc).__name__)


@contextmanager
def connect(credentials: LiveKitCredentials) -> Iterator[LiveKitPort]:
    """The LiveKit port for one invocation: the process's shared client. A client that met a network
    error is dropped afterwards (its connections may be stale, e.g. after the Lambda was frozen)."""
    client = shared_client(credentials)
    try:
        yield client
    finally:
        if client.broken:
            _discard(client)


class _ProtoEnum(Protocol):
    def Name(self, number: int) -> str: ...


def _enum_name(enum: _ProtoEnum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:  # a value newer than this livekit-protocol
        return str(value)


def participant_from_proto(info: api.ParticipantInfo) -> Participant:
    if info.joined_at_ms:
        joined_at: float | None = info.joined_at_ms / 1000
    else:
        joined_at = float(info.joined_at) if info.joined_at else None
    return Participant(
        identity=info.identity,
        kind=_enum_name(api.ParticipantInfo.Kind, info.kind),
        state=_enum_name(api.ParticipantInfo.State, info.state),
        attributes=dict(info.attributes),
        joined_at=joined_at,
    )


def dispatch_from_proto(dispatch: api.AgentDispatch) -> Dispatch:
    jobs = tuple(
        Job(
            job_id=job.id,
            status=_enum_name(api.JobStatus, job.state.status),
            error=job.state.error,
            participant_identity=job.state.participant_identity,
            room_sid=job.room.sid,
        )
        for job in dispatch.state.jobs
    )
    return Dispatch(
        dispatch_id=dispatch.id,
        agent_name=dispatch.agent_name,
        room=dispatch.room,
        metadata=dispatch.metadata,
        created_at=dispatch.state.created_at / 1e9,  # nanoseconds on the wire
        deleted=bool(dispatch.state.deleted_at),
        jobs=jobs,
    )
