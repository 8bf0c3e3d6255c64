"""Turns Step Functions history events into one line of progress per step, in the problem's words.

Each line says only what happened: a step whose error was caught says so (never "room ensured" after
the room could not be made), a failed task names its error and what LiveKit said, each look at the
room names the dispatch's job state (no job yet, pending, running, failed and why), and a wait says
whether a webhook may end it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

# What to do about a cause, when the bundle carries no sentence of its own (its ``explanation``).
HINTS = {
    "auth": "LiveKit refused the credentials: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET (and LIVEKIT_URL)",
    "never_assigned": "no job was made: is a worker running, registered under exactly this agent name?",
    "not_joined": "a worker took the job but its agent never joined: check the agent's logs for the job",
    "job_failed": "the job failed before the agent joined: see the job error above, and the agent's logs",
    "room_missing": "the room does not exist: create it first (create_room) or check its name",
    "livekit_unavailable": "LiveKit kept failing or timing out: check LIVEKIT_URL and the server's health",
    "quota": "LiveKit said a quota is used up: wait, or raise the project's limits",
    "invalid_request": "the request was refused as malformed: see the message above",
}
DIAL_HINTS = {
    "busy": "the callee was busy",
    "no_answer": "nobody answered before the ringing timeout",
    "declined": "the callee declined the call",
    "other": "check the outbound trunk id (--sip-trunk) and the number's format (E.164, e.g. +15550100123)",
}


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
    try:
        state = json.loads(entered.get("input") or "{}")
    except ValueError:
        return None
    return state.get("wait_s") or (state.get("request") or {}).get("options", {}).get("poll_interval_s")


def error_text(error: str | None, cause: str | None) -> str:
    """A step's error as a person reads it: its name, LiveKit's code and message, the HTTP status."""
    message: Any = cause or ""
    try:
        payload = json.loads(cause or "")
        if isinstance(payload, dict):
            message = payload.get("errorMessage", message)
        detail = json.loads(message) if isinstance(message, str) else message
    except ValueError:
        detail = None
    if isinstance(detail, dict) and "message" in detail:
        parts = [str(detail.get("cause") or ""), str(detail["message"])]
        extra = ", ".join(
            f"{label} {detail[key]}"
            for key, label in (("code", "code"), ("status", "HTTP"), ("sip_status_code", "SIP"))
            if detail.get(key)
        )
        text = ": ".join(p for p in parts if p) + (f" ({extra})" if extra else "")
    else:
        text = str(message)[:300]
    return f"{error}: {text}" if text else str(error)


def job_state(state: dict[str, Any]) -> str:
    """The live dispatch's job as the last look saw it: no job yet, or each job's latest status."""
    attempts = [a for a in state.get("attempts") or [] if not a.get("deleted")]
    if not attempts:
        return "no dispatch"
    latest: dict[str, dict[str, Any]] = {}
    for job in attempts[-1].get("job_states") or []:
        latest[str(job.get("job_id"))] = job  # job_states are in the order seen: the last is the latest
    if not latest:
        return "job: none yet (no worker has taken the dispatch)"
    shown = []
    for job in latest.values():
        status = str(job.get("status", "?")).removeprefix("JS_").lower()
        error = f" ({job['error']})" if job.get("error") else ""
        shown.append(f"{job.get('job_id')} {status}{error}")
    return "job: " + ", ".join(shown)


def describe(
    event: dict[str, Any], started: float, now: float, *, webhooks: bool = True, step: str | None = None
) -> str | None:
    """A human line for the interesting events, or None for the rest. ``webhooks``: whether a join
    webhook can end a wait (only the embedded simulator reaches this machine); ``step``: the state the
    event belongs to (a TaskFailed event does not name it)."""
    kind = event.get("type", "")
    elapsed = f"[{now - started:5.1f}s]"
    entered = event.get("stateEnteredEventDetails") or {}
    if kind == "WaitStateEntered":
        seconds = _wait_seconds(entered)
        return f"{elapsed} waiting {seconds} s for the agent (durable Wait state, no process held)"
    if kind == "TaskStateEntered" and entered.get("name") == "Await agent":
        seconds = _wait_seconds(entered)
        if webhooks:
            return (
                f"{elapsed} awaiting the agent: its join webhook, or a look in {seconds} s (no process held)"
            )
        return f"{elapsed} waiting {seconds} s, then a look at the room (polling: no webhooks reach here)"
    if kind == "TaskFailed":
        details = event.get("taskFailedEventDetails") or {}
        where = f"{step} " if step else "step "
        what = error_text(details.get("error"), details.get("cause"))
        return f"{elapsed} {where}failed: {what} (the state machine retries it or escalates)"
    if not kind.endswith("StateExited"):
        return None
    name = (event.get("stateExitedEventDetails") or {}).get("name", "")
    state = _state_output(event) or {}
    return _describe_exit(name, state, elapsed)


def _caught(name: str, state: dict[str, Any]) -> dict[str, Any] | None:
    """The error a Catch recorded for this step: at $ for "Dispatch agent", at $.error for the others."""
    if name == "Dispatch agent" and "Error" in state and "request" not in state:
        return state
    error = state.get("error")
    return error if isinstance(error, dict) and name in _CATCH_TO_ERROR else None


# The steps whose Catch records their error at $.error and goes on to escalate.
_CATCH_TO_ERROR = {"Check participants", "Re-dispatch agent", "Dial callee"}


def _describe_exit(name: str, state: dict[str, Any], elapsed: str) -> str | None:
    request = state.get("request") or {}
    attempts = state.get("attempts") or []
    check = state.get("check") or {}
    caught = _caught(name, state)
    if caught is not None:
        what = error_text(caught.get("Error"), caught.get("Cause"))
        return f"{elapsed} {name} did not complete: {what} → escalate"
    if name == "Dispatch agent" and attempts:
        who = f"agent {request.get('agent_name')!r} → room {request.get('room')!r}"
        if request.get("options", {}).get("create_room", True):
            room = f"room {request.get('room')!r} ensured"
        else:
            room = "room creation skipped (create_room=false)"
        dispatched = f"dispatch created: {attempts[-1].get('dispatch_id')} (attempt 1)"
        return (
            f"{elapsed} request {request.get('request_id')}: {who}\n{elapsed} {room}\n{elapsed} {dispatched}"
        )
    if name == "Re-dispatch agent" and attempts:
        latest = attempts[-1]
        if check.get("next") == "verified":
            found = f"{elapsed} agent found while re-dispatching: no new dispatch needed"
            return _with_outcome(found, state, elapsed)
        verb = (
            "dispatch created"
            if len(attempts) == 1
            else f"stale dispatch deleted, dispatch #{len(attempts)} created"
        )
        return f"{elapsed} {verb}: {latest.get('dispatch_id')} (attempt {len(attempts)})"
    if name == "Await agent":
        wake = state.get("wake") or {}
        if wake.get("by") == "webhook":
            return (
                f"{elapsed} participant_joined webhook for {wake.get('agent_identity')}: wait resumed at once"
            )
        if wake.get("Error") == "DynamoDb.ConditionalCheckFailedException":
            return f"{elapsed} the agent's join came before the wait was recorded: checking at once"
        return None
    if name == "Check participants" and check:
        seen = ", ".join(
            f"{p.get('identity')}({p.get('kind')}{'/' + p['agent_name'] if p.get('agent_name') else ''})"
            for p in check.get("participants") or []
        )
        line = f"{elapsed} look: participants {seen or 'none'}"
        if check.get("next") == "verified":  # the agent is in: its job's state is beside the point
            return _with_outcome(
                f"{line}\n{elapsed} agent joined: {check.get('agent_identity')}", state, elapsed
            )
        line = f"{line}; {job_state(state)}"
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
        if not bundle:
            failure = state.get("escalation_error") or {}
            return f"{elapsed} escalation NOT built: {failure.get('Error')} (the outcome is still recorded)"
        return _with_outcome(
            f"{elapsed} escalated: cause {bundle.get('cause')} (evidence gathered)", state, elapsed
        )
    if name == "Page on-call":
        failed = state.get("page_error")
        if failed:
            return f"{elapsed} on-call NOT paged: {failed.get('Error')} (the outcome is still recorded)"
        return f"{elapsed} on-call paged (SNS)"
    if name in ("Announce outcome", "Announce agent verified"):
        failed = state.get("announce_error")
        detail_type = (state.get("announcement") or {}).get("detail_type")
        if name == "Announce agent verified":  # its output is the outcome alone (OutputPath)
            detail_type = detail_type or "AgentDispatchVerified"
        if failed:
            return f"{elapsed} {detail_type} NOT announced: {failed.get('Error')} (the outcome stands)"
        return f"{elapsed} {detail_type} announced on the event bus" if detail_type else None
    if name == "Record outcome":
        return _describe_outcome(state, elapsed)
    return None


def _with_outcome(line: str, state: dict[str, Any], elapsed: str) -> str:
    """A deciding step's line, then the outcome it recorded (if it did)."""
    outcome = _describe_outcome(state, elapsed)
    return f"{line}\n{outcome}" if outcome else line


def _describe_outcome(state: dict[str, Any], elapsed: str) -> str | None:
    outcome = state.get("outcome") or {}
    if not outcome:
        return None
    sip = outcome.get("sip") or {}
    latency = f"{outcome.get('join_latency_s')} s after the first dispatch"
    if outcome.get("status") == "verified" and sip.get("answered"):
        return (
            f"{elapsed} VERIFIED, CALL CONNECTED: {outcome.get('agent_identity')} joined {latency}, then "
            f"{sip.get('participant_identity')} ({sip.get('call_to')}) was dialled in"
        )
    if outcome.get("status") == "verified":
        placed = " (call placed, answer not awaited)" if sip else ""
        return (
            f"{elapsed} VERIFIED: {outcome.get('agent_identity')} joined {latency}, "
            f"{outcome.get('attempts')} attempt(s){placed}"
        )
    hint = hint_for(outcome, state.get("escalation") or {})
    if outcome.get("cause") == "dial_failed":
        status = " ".join(str(v) for v in (sip.get("sip_status_code"), sip.get("sip_status")) if v)
        line = f"{elapsed} CALL NOT CONNECTED: {sip.get('reason')} ({status or 'no SIP status'})"
    else:
        line = f"{elapsed} NOT VERIFIED after {outcome.get('attempts')} attempt(s): {outcome.get('cause')}"
    return f"{line}\n{elapsed}   → {hint}" if hint else line


def hint_for(outcome: dict[str, Any], bundle: dict[str, Any]) -> str | None:
    """What a person can do about an escalation: the bundle's own sentence, else the CLI's hint."""
    if bundle.get("explanation"):
        return str(bundle["explanation"])
    if outcome.get("cause") == "dial_failed":
        return DIAL_HINTS.get(str((outcome.get("sip") or {}).get("reason") or "other"))
    return HINTS.get(str(outcome.get("cause")))


def printer(
    stream: TextIO, clock_now: Callable[[], float], *, webhooks: bool = True
) -> Callable[[dict[str, Any]], None]:
    """An ``on_event`` callback for LocalEngine.wait that prints progress lines to ``stream``."""
    started = clock_now()
    step: list[str] = []  # the state the next TaskFailed belongs to

    def on_event(event: dict[str, Any]) -> None:
        entered = event.get("stateEnteredEventDetails") or {}
        if event.get("type", "").endswith("StateEntered") and entered.get("name"):
            step[:] = [str(entered["name"])]
        line = describe(event, started, clock_now(), webhooks=webhooks, step=step[0] if step else None)
        if line:
            print(line, file=stream, flush=True)

    return on_event
