"""LiveKit webhooks: verified with livekit-api's ``WebhookReceiver``, then used to resume waits.

LiveKit signs each webhook with a JWT in ``Authorization`` (no ``Bearer``): issued by the API key,
valid for 5 minutes, with the body's SHA-256 as its ``sha256`` claim. ``WebhookReceiver.receive``
checks all of that; anything it refuses is ``WebhookRejected`` (the function logs it, drops it and
changes nothing). A verified ``participant_joined`` for an AGENT resumes the workflows awaiting that agent
name in that room (and marks their waits as joined, so that a wait whose token is not recorded yet
is refused the recording and checks at once: ``adapters.aws.waits``); every other event is
acknowledged and ignored.

A signed delivery can be replayed for as long as its token is valid, and LiveKit itself may deliver
an event more than once, so each such event is acted on once: its id (``WebhookEvent.id``, ``EV_...``)
is claimed first (``WebhookEvents``), and a later delivery of a claimed id resumes nothing.

A join also resumes only the waits recorded before it happened (``recorded_before``): a wait's
``recorded_at`` is when the step before it last looked at the participants, so an agent that joined
before that was seen by that look, and a later wait of the same room is none of this join's business
(an old event arriving late must not end it). The two times come from two clocks: the event's
``createdAt`` is LiveKit's, in whole seconds, and ``recorded_at`` Lambda's; ``JOIN_LEEWAY_S`` covers the
truncation and their skew. Were LiveKit's clock behind by more, a join within that excess after the
recording would be left to the wait's timeout (the backstop): later, never wrong, since the
participant list, not the webhook, verifies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import json_format
from livekit import api

from dispatch_verify import clock
from dispatch_verify.adapters.aws.waits import Waiter, WaitTokens
from dispatch_verify.adapters.livekit import participant_from_proto
from dispatch_verify.config import LiveKitCredentials
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import PRESENT_STATES

Resume = Callable[[str, dict[str, Any]], bool]

# How much later than a join (its createdAt, LiveKit's clock) a wait may have been recorded (Lambda's
# clock) and still be resumed by it: createdAt's truncation to whole seconds, the clocks' skew, and a
# participant list that shows a join a moment after LiveKit announced it.
JOIN_LEEWAY_S = 5


class EventLog(Protocol):
    """The events already acted on (``adapters.aws.webhook_events.WebhookEvents``)."""

    def claim(self, event_id: str, event: str, room: str) -> bool: ...

    def release(self, event_id: str) -> None: ...


class WebhookRejected(Exception):
    """Not a webhook LiveKit signed for this API key (missing, forged, tampered or expired)."""


class WebhookMalformed(Exception):
    """Signed, but not a ``WebhookEvent`` (the function drops it: retrying would not change it)."""


@dataclass(frozen=True)
class WebhookResult:
    event: str
    room: str
    resumed: int  # workflows resumed by this delivery (0 for a duplicate or an irrelevant event)
    duplicate: bool = False  # the event was acted on before: this delivery did nothing


def verify(body: str, authorization: str | None, credentials: LiveKitCredentials) -> api.WebhookEvent:
    if not authorization:
        raise WebhookRejected("no Authorization header")
    receiver = api.WebhookReceiver(
        api.TokenVerifier(credentials.api_key, credentials.api_secret.get_secret_value())
    )
    try:
        event = receiver.receive(body, authorization)
    except json_format.ParseError as exc:  # the signature held: the body is not a WebhookEvent
        raise WebhookMalformed(str(exc)) from None
    except Exception as exc:  # livekit-api raises bare Exception (hash) and PyJWT/ValueError errors
        # The reason names the check that failed (expired, signature, hash), never the token.
        raise WebhookRejected(f"{type(exc).__name__}: {exc}") from None
    if not event.event:
        raise WebhookMalformed("no event name")
    return event


def on_event(event: api.WebhookEvent, tokens: WaitTokens, resume: Resume, seen: EventLog) -> WebhookResult:
    room = event.room.name
    if event.event != "participant_joined" or not event.HasField("participant"):
        return WebhookResult(event.event, room, 0)
    participant = participant_from_proto(event.participant)
    if participant.kind != "AGENT" or participant.state not in PRESENT_STATES:
        return WebhookResult(event.event, room, 0)
    event_id = event_key(event)
    if not seen.claim(event_id, event.event, room):
        logger.info("webhook event already acted on", extra={"room": room, "event_id": event_id})
        return WebhookResult(event.event, room, 0, duplicate=True)
    output = {
        "by": "webhook",
        "event_id": event.id,
        "room": room,
        "agent_identity": participant.identity,
        "at": clock.iso_utc(clock.now()),
    }
    resumed = later = 0
    received_at = clock.now()
    try:
        for agent_name in dict.fromkeys(participant.agent_names()):
            for waiter in tokens.joined(room, agent_name, received_at):
                if not recorded_before(waiter, event.created_at):
                    later += 1  # a later wait: this join was seen by its look, or left since
                    continue
                if resume(waiter.task_token, output):
                    resumed += 1
                tokens.forget(waiter)
    except Exception:
        _release(seen, event_id)
        raise
    logger.info(
        "agent join webhook",
        extra={
            "room": room,
            "agent": participant.identity,
            "resumed": resumed,
            "later_waits": later,
            "event_id": event_id,
        },
    )
    return WebhookResult(event.event, room, resumed)


def event_key(event: api.WebhookEvent) -> str:
    """The event's id; for an event without one (LiveKit sets it), the digest of its content."""
    if event.id:
        return event.id
    return "sha256:" + hashlib.sha256(event.SerializeToString(deterministic=True)).hexdigest()


def recorded_before(waiter: Waiter, created_at: int) -> bool:
    """Whether ``waiter`` was recorded no later than ``JOIN_LEEWAY_S`` after the event was created (a
    wait or an event without its time: yes)."""
    if waiter.recorded_at is None or created_at <= 0:
        return True
    return waiter.recorded_at <= created_at + JOIN_LEEWAY_S


def _release(seen: EventLog, event_id: str) -> None:
    try:
        seen.release(event_id)
    except Exception as exc:  # the claim then stands until its TTL: a redelivery is ignored
        logger.warning(
            "could not release a webhook event's claim", extra={"event_id": event_id, "error": str(exc)}
        )
