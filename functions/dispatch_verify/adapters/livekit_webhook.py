"""LiveKit webhooks: verified with livekit-api's ``WebhookReceiver``, then used to resume waits.

LiveKit signs each webhook with a JWT in ``Authorization`` (no ``Bearer``): issued by the API key,
valid for 5 minutes, with the body's SHA-256 as its ``sha256`` claim. ``WebhookReceiver.receive``
checks all of that; anything it refuses is ``WebhookRejected`` (the API answers 401 and changes
nothing). A verified ``participant_joined`` for an AGENT resumes the workflows awaiting that agent
name in that room; every other event is acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from livekit import api

from dispatch_verify import clock
from dispatch_verify.adapters.aws.waits import WaitTokens
from dispatch_verify.adapters.livekit import participant_from_proto
from dispatch_verify.config import LiveKitCredentials
from dispatch_verify.logic.participants import PRESENT_STATES
from dispatch_verify.observability import logger

Resume = Callable[[str, dict[str, Any]], bool]


class WebhookRejected(Exception):
    """Not a webhook LiveKit signed for this API key (missing, forged, tampered or expired)."""


class WebhookMalformed(Exception):
    """Signed, but not a ``WebhookEvent`` (the API answers 400)."""


@dataclass(frozen=True)
class WebhookResult:
    event: str
    room: str
    resumed: int  # workflows resumed by this delivery (0 for a duplicate or an irrelevant event)


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


def on_event(event: api.WebhookEvent, tokens: WaitTokens, resume: Resume) -> WebhookResult:
    room = event.room.name
    if event.event != "participant_joined" or not event.HasField("participant"):
        return WebhookResult(event.event, room, 0)
    participant = participant_from_proto(event.participant)
    if participant.kind != "AGENT" or participant.state not in PRESENT_STATES:
        return WebhookResult(event.event, room, 0)
    output = {
        "by": "webhook",
        "event_id": event.id,
        "agent_identity": participant.identity,
        "at": clock.iso_utc(clock.now()),
    }
    resumed = 0
    for agent_name in dict.fromkeys(participant.agent_names()):
        for waiter in tokens.awaiting(room, agent_name):
            if resume(waiter.task_token, output):
                resumed += 1
            tokens.forget(waiter)
    logger.info(
        "agent join webhook",
        extra={"room": room, "agent": participant.identity, "resumed": resumed, "event_id": event.id},
    )
    return WebhookResult(event.event, room, resumed)
