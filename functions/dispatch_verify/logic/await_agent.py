"""Await agent: record this wait's task token, then look once, so a join that came first is not missed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from dispatch_verify import clock
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.logic.participants import find_agent
from dispatch_verify.models import WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import LiveKitPort
from dispatch_verify.ports.waits import WaitRegistry

AwaitResult = Literal["awaiting", "already_joined"]


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
    A failed look is only logged: the task's timeout leads to "Check participants" anyway.
    """
    request = state.request
    timeout_s = state.wait_s or request.options.poll_interval_s  # the task's TimeoutSecondsPath
    tokens.record(request.room, state.request_id, request.agent_name, task_token, timeout_s)
    try:
        agent = find_agent(port.list_participants(request.room), request.agent_name)
    except DispatchVerifyError as exc:
        logger.warning("look after recording the wait failed; the timeout checks", extra={"error": str(exc)})
        return "awaiting"
    if agent is None:
        return "awaiting"
    output = {
        "by": "look",
        "room": request.room,
        "agent_identity": agent.identity,
        "at": clock.iso_utc(clock.now()),
    }
    resume(task_token, output)
    return "already_joined"
