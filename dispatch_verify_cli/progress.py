"""Turns Step Functions history events into one line of progress per step, in the problem's words."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO


def _state_output(event: dict[str, Any]) -> dict[str, Any] | None:
    details = event.get("stateExitedEventDetails") or {}
    try:
        output = json.loads(details.get("output") or "null")
    except ValueError:
        return None
    return output if isinstance(output, dict) else None


def _wait_seconds(entered: dict[str, Any]) -> Any:
    """How long the wait lasts: the state's ``wait_s`` (the poll interval or the webhook backstop,
    cut to the join deadline), else the poll interval."""
    state = json.loads(entered.get("input") or "{}")
    return state.get("wait_s") or state.get("request", {}).get("options", {}).get("poll_interval_s")


def describe(event: dict[str, Any], started: float, now: float) -> str | None:
    """A human line for the interesting events, or None for the rest."""
    kind = event.get("type", "")
    elapsed = f"[{now - started:5.1f}s]"
    entered = event.get("stateEnteredEventDetails") or {}
    if kind == "WaitStateEntered":
        seconds = _wait_seconds(entered)
        return f"{elapsed} waiting {seconds} s for the agent (durable Wait state, no process held)"
    if kind == "TaskStateEntered" and entered.get("name") == "Await agent":
        seconds = _wait_seconds(entered)
        return f"{elapsed} awaiting the agent: its join webhook, or a check in {seconds} s (no process held)"
    if kind == "TaskFailed":
        details = event.get("taskFailedEventDetails") or {}
        return f"{elapsed} step failed: {details.get('error')} (the state machine decides: retry or escalate)"
    if not kind.endswith("StateExited"):
        return None
    name = (event.get("stateExitedEventDetails") or {}).get("name", "")
    state = _state_output(event) or {}
    return _describe_exit(name, state, elapsed)


def _describe_exit(name: str, state: dict[str, Any], elapsed: str) -> str | None:
    request = state.get("request") or {}
    attempts = state.get("attempts") or []
    check = state.get("check") or {}
    if name == "Prepare request":
        who = f"agent {request.get('agent_name')!r} → room {request.get('room')!r}"
        return f"{elapsed} request {request.get('request_id')}: {who}"
    if name == "Ensure room":
        if request.get("options", {}).get("create_room", True):
            return f"{elapsed} room {request.get('room')!r} ensured"
        return f"{elapsed} room creation skipped (create_room=false)"
    if name in ("Dispatch agent", "Re-dispatch agent") and attempts:
        latest = attempts[-1]
        if name == "Re-dispatch agent" and check.get("next") == "verified":
            return f"{elapsed} agent found while re-dispatching: no new dispatch needed"
        verb = (
            "dispatch created"
            if len(attempts) == 1
            else f"stale dispatch cancelled, dispatch #{len(attempts)} created"
        )
        return f"{elapsed} {verb}: {latest.get('dispatch_id')} (attempt {len(attempts)})"
    if name == "Await agent":
        wake = state.get("wake") or {}
        if wake.get("by") == "webhook":
            return (
                f"{elapsed} participant_joined webhook for {wake.get('agent_identity')}: wait resumed at once"
            )
        if wake.get("by") == "look":
            return f"{elapsed} {wake.get('agent_identity')} was already in the room: wait resumed at once"
        return None
    if name == "Check participants" and check:
        seen = ", ".join(
            f"{p.get('identity')}({p.get('kind')}{'/' + p['agent_name'] if p.get('agent_name') else ''})"
            for p in check.get("participants") or []
        )
        line = f"{elapsed} participants seen: {seen or 'none'}"
        if check.get("next") == "verified":
            return f"{line}\n{elapsed} agent joined: {check.get('agent_identity')}"
        if check.get("next") in ("redispatch", "escalate"):
            return f"{line} → {check.get('next')} ({check.get('cause')})"
        return line
    if name == "Dial callee":
        dialled = state.get("dialled") or {}
        how = "answered" if dialled.get("answered") else "call placed, answer not awaited"
        return f"{elapsed} callee dialled into the room: {dialled.get('participant_identity')} ({how})"
    if name == "Close heartbeat room":
        room = request.get("room")
        failed = state.get("room_cleanup_error")
        if failed:
            return f"{elapsed} heartbeat room {room!r} NOT closed: {failed.get('Error')} (the outcome stands)"
        return f"{elapsed} heartbeat room {room!r} closed: its dispatches ended, the room deleted"
    if name == "Escalate":
        bundle = state.get("escalation") or {}
        return f"{elapsed} escalated: cause {bundle.get('cause')} (SNS + EventBridge AgentDispatchEscalated)"
    if name == "Record outcome":
        outcome = state.get("outcome") or {}
        if outcome.get("status") == "verified_and_dialled":
            sip = outcome.get("sip") or {}
            return (
                f"{elapsed} VERIFIED AND DIALLED: {outcome.get('agent_identity')} joined "
                f"{outcome.get('join_latency_s')} s after the first dispatch, then "
                f"{sip.get('participant_identity')} ({sip.get('call_to')}) was dialled in"
            )
        if outcome.get("cause") == "dial_failed":
            sip = outcome.get("sip") or {}
            status = " ".join(str(v) for v in (sip.get("sip_status_code"), sip.get("sip_status")) if v)
            return f"{elapsed} CALL NOT CONNECTED: {sip.get('reason')} ({status or 'no SIP status'})"
        if outcome.get("status") == "verified":
            return (
                f"{elapsed} VERIFIED: {outcome.get('agent_identity')} joined "
                f"{outcome.get('join_latency_s')} s after the first dispatch, "
                f"{outcome.get('attempts')} attempt(s)"
            )
        return f"{elapsed} NOT VERIFIED after {outcome.get('attempts')} attempt(s): {outcome.get('cause')}"
    return None


def printer(stream: TextIO, clock_now: Callable[[], float]) -> Callable[[dict[str, Any]], None]:
    """An ``on_event`` callback for LocalEngine.wait that prints progress lines to ``stream``."""
    started = clock_now()

    def on_event(event: dict[str, Any]) -> None:
        line = describe(event, started, clock_now())
        if line:
            print(line, file=stream, flush=True)

    return on_event
