"""Await agent: record this wait's task token, then look once, so a join that came first is not missed
and a dispatch that is already over (its job refused at once: no webhook says so) is not waited on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from dispatch_verify import clock
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.logic.check import stale_cause
from dispatch_verify.logic.participants import find_agent, is_named_agent
from dispatch_verify.models import WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import LiveKitPort
from dispatch_verify.ports.waits import WaitRegistry

AwaitResult = Literal["awaiting", "already_joined", "dispatch_over"]


def await_agent(
    state: WorkflowState,
    task_token: str,
    port: LiveKitPort,
    tokens: WaitRegistry,
    resume: Callable[[str, dict[str, Any]], bool],
) -> AwaitResult:
    """Record the token (a failure raises: the state machine falls back to a plain Wait), then look.

    The look closes the gap between the last check and the recording: a ``participant_joined``
    webhook sent in it found no token. If the agent is already there, the task is resumed at once.
    It also reads the live dispatch's jobs: one LiveKit refused at once (JS_FAILED, no worker
    capacity), or a dispatch already deleted or past its deadline, sends no webhook, so the task is
    resumed at once too and "Check participants" decides (re-dispatch or escalate) seconds after
    the dispatch rather than at the backstop.
    A failed look is only logged: the task's timeout leads to "Check participants" anyway.
    """
    request = state.request
    timeout_s = state.wait_s or request.options.poll_interval_s  # the task's TimeoutSecondsPath
    tokens.record(request.room, state.request_id, request.agent_name, task_token, timeout_s)
    try:
        participants = port.list_participants(request.room)
        agent = find_agent(participants, request.agent_name)
        over = None
        attempt = state.live_attempt
        if agent is None and attempt is not None:
            dispatches = port.list_dispatches(request.room)
            dispatch = next((d for d in dispatches if d.dispatch_id == attempt.dispatch_id), None)
            seen = any(is_named_agent(p, request.agent_name) for p in participants)
            # A dispatch not listed (yet) is left to the check: only one seen over ends the wait.
            over = stale_cause(attempt, dispatch, clock.now(), agent_seen=seen) if dispatch else None
    except DispatchVerifyError as exc:
        logger.warning("look after recording the wait failed; the timeout checks", extra={"error": str(exc)})
        return "awaiting"
    if agent is not None:
        output: dict[str, Any] = {"by": "look", "room": request.room, "agent_identity": agent.identity}
    elif over is not None:
        output = {"by": "look", "room": request.room, "dispatch_over": over}
    else:
        return "awaiting"
    resume(task_token, {**output, "at": clock.iso_utc(clock.now())})
    return "already_joined" if agent is not None else "dispatch_over"
