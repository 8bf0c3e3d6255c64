"""LiveKit webhooks from the simulator, as LiveKit sends them.

Each event is a POST whose body is the protobuf JSON of ``livekit.protocol.webhook.WebhookEvent``
(``MessageToJson`` defaults: camelCase, int64 as strings, enum names) with ``Content-Type:
application/webhook+json`` and ``Authorization: <JWT>`` (no ``Bearer``): issued by the API key,
valid for 5 minutes, claim ``sha256`` = base64(SHA-256(body)). ``livekit.api.WebhookReceiver``
verifies it.

The world reports events while its lock is held (:meth:`Webhooks.on_event`); they are delivered
after the outermost holder releases the lock (:meth:`Webhooks.flush`), in order. A callable target is
called in the releasing thread; a URL is POSTed by one background sender thread per target.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import queue
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.protobuf import json_format
from livekit import api
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent

from .model import new_id

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/webhook+json"
TOKEN_TTL_S = 300.0  # LiveKit signs webhooks with a 5-minute token
POST_TIMEOUT_S = 5.0
SENDER_CLOSE_S = 5.0  # how long stopping waits for queued POSTs
EVENTS = ("room_started", "room_finished", "participant_joined", "participant_left")

Target = Callable[[str, dict[str, str]], object]


@dataclass(frozen=True)
class WebhookRecord:
    """One event the simulator produced while a target was set.

    ``created_at`` is the event time on the simulator's clock; ``deliveries`` is how many times it
    was sent: 0 (dropped), 1, or 2 (duplicated). For a URL target a send may still have failed
    (logged, not retried)."""

    event: str
    room: str
    participant_identity: str
    id: str
    created_at: float
    deliveries: int


def signed_headers(body: str, api_key: str, api_secret: str, *, ttl_s: float = TOKEN_TTL_S) -> dict[str, str]:
    """The headers LiveKit sends with ``body``: Content-Type and a JWT over the body's SHA-256.

    A negative ``ttl_s`` gives an already expired token (a replayed webhook). Note that
    ``TokenVerifier`` allows 60 s of leeway by default."""
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = (
        api.AccessToken(api_key, api_secret).with_sha256(digest).with_ttl(timedelta(seconds=ttl_s)).to_jwt()
    )
    return {"Content-Type": CONTENT_TYPE, "Authorization": token}


def event_body(
    event: str, room: Room, participant: ParticipantInfo | None, created_at: float, event_id: str
) -> str:
    """The ``WebhookEvent`` as LiveKit serialises it."""
    msg = WebhookEvent(event=event, id=event_id, created_at=int(created_at))
    msg.room.CopyFrom(room)
    if participant is not None:
        msg.participant.CopyFrom(participant)
    return json_format.MessageToJson(msg)


def check_share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")
    return float(value)


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)  # ValueError for a malformed IPv6 host
    parts.port  # noqa: B018 - ValueError for a port that is not a number in range
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL must be http:// or https:// with a host, got {url!r}")
    return url


def redacted(url: str) -> str:
    """The URL without credentials or query, for logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer that is not 2xx: logged as a failed delivery


class UrlSender:
    """One background thread that POSTs queued events to ``url`` in order; failures are logged."""

    def __init__(self, url: str, sign: Callable[[str], dict[str, str]]) -> None:
        self.url = check_url(url)
        self._sign = sign
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="livekit-sim-webhooks", daemon=True)
        self._thread.start()

    def put(self, pending: _Pending) -> None:
        self._queue.put(pending)

    def close(self, timeout: float = SENDER_CLOSE_S) -> None:
        """Send what is queued (waiting up to ``timeout``), then end the thread."""
        self._queue.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            pending = self._queue.get()
            if pending is None:
                return
            for _ in range(pending.record.deliveries):
                self._post(pending)

    def _post(self, pending: _Pending) -> None:
        record = pending.record
        try:
            headers = self._sign(pending.body)
            req = urllib.request.Request(  # noqa: S310 - the scheme is checked: http or https
                self.url, data=pending.body.encode(), headers=headers, method="POST"
            )
            with self._opener.open(req, timeout=POST_TIMEOUT_S) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            log.warning(
                "webhook %s %s (room %r) to %s: HTTP %s", record.event, record.id, record.room,
                redacted(self.url), e.code,
            )  # fmt: skip
        except Exception as e:  # connection refused, timeout, TLS...: logged, not retried
            reason = getattr(e, "reason", e)
            log.warning(
                "webhook %s %s (room %r) to %s failed: %s", record.event, record.id, record.room,
                redacted(self.url), reason,
            )  # fmt: skip


@dataclass(frozen=True)
class _Pending:
    record: WebhookRecord
    body: str
    route: UrlSender | Target


class Webhooks:
    """The simulator's webhook state: target, shares, records and the outbox.

    ``on_event`` runs under the world lock; ``flush`` runs after the world lock is released (never
    while holding it or the clock's lock) and delivers the outbox in order. Only one thread
    delivers at a time; another thread's flush leaves its events to that thread, which delivers
    them before it stops, so the order holds and nobody waits on a slow target."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key, self._api_secret = api_key, api_secret
        self._lock = threading.Lock()  # target, shares, rng, records, outbox
        self._target: str | Target | None = None
        self._sender: UrlSender | None = None
        self._drop = self._duplicate = 0.0
        self._rng = random.Random()
        self._records: list[WebhookRecord] = []
        self._outbox: deque[_Pending] = deque()
        self._delivering = threading.Lock()
        self._local = threading.local()
        self.record_tokens = False
        self.tokens: set[str] = set()  # every token signed, while record_tokens is on

    @property
    def target(self) -> str | Target | None:
        return self._target

    @property
    def records(self) -> list[WebhookRecord]:
        with self._lock:
            return list(self._records)

    def recorded_tokens(self) -> set[str]:
        with self._lock:
            return set(self.tokens)

    def sign(self, body: str) -> dict[str, str]:
        headers = signed_headers(body, self.api_key, self._api_secret)
        if self.record_tokens:
            with self._lock:
                self.tokens.add(headers["Authorization"])
        return headers

    def configure(
        self, target: str | Target | None, drop: float, duplicate: float, seed: int | None
    ) -> UrlSender | None:
        """Switch to ``target``; returns the previous URL sender, for the caller to close once the
        events collected for it are flushed. Call with the world lock held."""
        sender = UrlSender(target, self.sign) if isinstance(target, str) else None
        with self._lock:
            previous, self._sender = self._sender, sender
            self._target = target
            self._drop, self._duplicate = drop, duplicate
            self._rng = random.Random(seed)
        return previous

    def on_event(self, event: str, room: Room, participant: ParticipantInfo | None, t: float) -> None:
        """Record an event (under the world lock) and queue its deliveries."""
        event_id = new_id("EV_")
        body = event_body(event, room, participant, t, event_id)
        with self._lock:
            route = self._sender if self._sender is not None else self._target
            if route is None or isinstance(route, str):
                return
            dropped = self._rng.random() < self._drop
            duplicated = self._rng.random() < self._duplicate
            deliveries = 0 if dropped else 2 if duplicated else 1
            identity = participant.identity if participant is not None else ""
            record = WebhookRecord(event, room.name, identity, event_id, t, deliveries)
            self._records.append(record)
            if deliveries:
                self._outbox.append(_Pending(record, body, route))

    def flush(self) -> None:
        """Deliver the outbox in order. Never raises."""
        if getattr(self._local, "active", False):
            return  # called back from our own target: the loop below delivers it next
        while self._outbox:
            if not self._delivering.acquire(blocking=False):
                return  # another thread is delivering and picks these up before it stops
            self._local.active = True
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        pending = self._outbox.popleft()
                    self._deliver(pending)
            finally:
                self._local.active = False
                self._delivering.release()

    def _deliver(self, pending: _Pending) -> None:
        route = pending.route
        if isinstance(route, UrlSender):
            route.put(pending)
            return
        record = pending.record
        for _ in range(record.deliveries):
            try:
                route(pending.body, self.sign(pending.body))
            except Exception:
                log.warning(
                    "webhook target raised on %s %s (room %r)", record.event, record.id, record.room,
                    exc_info=True,
                )  # fmt: skip
