"""Escalate: gather the evidence a LiveKit support ticket needs, and the page that carries it (the state
machine's "Page on-call" publishes it; logic/announce.py)."""

from __future__ import annotations

from dispatch_verify import clock
from dispatch_verify.errors import Cause, detail_from_step_functions_error
from dispatch_verify.logic.announce import page
from dispatch_verify.logic.dial import sip_detail
from dispatch_verify.models import DispatchRecord, EscalationBundle, JobSeen, WorkflowState


def escalate(state: WorkflowState) -> WorkflowState:
    """The state with its evidence bundle and its page; nothing is published here."""
    state = state.model_copy(deep=True)
    bundle = escalation_bundle(state)
    state.page = page(bundle)
    bundle.event_id = state.page.event_id
    state.escalation = bundle
    return state


def escalation_bundle(state: WorkflowState) -> EscalationBundle:
    """The bundle; also records the caught error (if any) as ``state.last_error``.

    Only identifiers, times, states and LiveKit's own error text: never metadata or credentials.
    """
    if state.error is not None:
        state.last_error = detail_from_step_functions_error(state.error.Error, state.error.Cause)
    request = state.request
    bundle = EscalationBundle(
        request_id=request.request_id or "",
        room=request.room,
        agent_name=request.agent_name,
        kind=request.kind,
        cause=escalation_cause(state),
        attempts=len(state.attempts),
        dispatches=[DispatchRecord.of(a) for a in state.attempts],
        livekit_host=state.livekit_host,
        room_sid=state.room_sid,
        job_states=[job for attempt in state.attempts for job in attempt.job_states],
        participants=state.check.participants if state.check else [],
        participants_total=state.check.participants_total if state.check else 0,
        participants_by_kind=state.check.participants_by_kind if state.check else {},
        last_error=state.last_error,
        started_at=state.started_at,
        escalated_at=clock.iso_utc(clock.now()),
        sip=sip_detail(state),
    )
    return bundle.model_copy(update={"explanation": explain(bundle)})


def escalation_cause(state: WorkflowState) -> Cause:
    """A caught error explains itself; otherwise the last check said why it gave up."""
    if state.error is not None and state.last_error is not None:
        return state.last_error.cause
    if state.check is not None and state.check.cause is not None:
        return state.check.cause
    return state.last_error.cause if state.last_error is not None else "internal"


# -- the cause in a sentence -------------------------------------------------------------------------

MAX_QUOTED = 300  # characters of LiveKit's own error text quoted in a sentence


def explain(bundle: EscalationBundle) -> str:
    """The bundle's cause in one plain sentence that says where to look (for the page, the CLI and
    a support ticket). Built only from what the bundle holds: no metadata, no credentials."""
    name = bundle.agent_name
    error = bundle.last_error
    said = f" (LiveKit: {_quoted(error.message)})" if error is not None and error.message else ""
    match bundle.cause:
        case "never_assigned":
            return (
                f"No worker took agent {name!r}: LiveKit made no job for "
                f"{_dispatches(bundle.attempts)}. Check that a worker is running and registered "
                f"under exactly that agent name."
            )
        case "not_joined":
            return _not_joined(bundle)
        case "job_failed":
            failed = _last_with_status(bundle.job_states, ("JS_FAILED", "JS_CANCELLED"))
            why = _quoted(failed.error) if failed is not None and failed.error else "LiveKit gave no error"
            return f"The job of agent {name!r} failed before its agent joined the room: {why}."
        case "joined_then_left":
            ended = _last_with_status(bundle.job_states, ("JS_FAILED", "JS_SUCCESS", "JS_CANCELLED"))
            why = f" (job error: {_quoted(ended.error)})" if ended is not None and ended.error else ""
            return (
                f"A worker took the job of agent {name!r} but the job ended before the agent was "
                f"seen in the room{why}: the agent joined and left again, or its entrypoint failed "
                f"right after taking the job. Check the agent's logs for that job."
            )
        case "room_missing":
            return (
                f"Room {bundle.room!r} does not exist or closed during the wait{said}: create it "
                f"first (options.create_room) or check the room name and its empty timeout."
            )
        case "auth":
            return (
                f"LiveKit refused the credentials{said}: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
                f"(the secret the functions read) and that the key's grants include roomAdmin."
            )
        case "quota":
            return (
                f"LiveKit kept answering that a quota is used up{said}: wait for sessions to end or "
                f"raise the project's concurrency limits."
            )
        case "livekit_unavailable":
            return (
                f"LiveKit kept failing or did not answer in time{said}: check LIVEKIT_URL and the "
                f"server's health."
            )
        case "invalid_request":
            return f"The request was refused as malformed{said}: correct it and send it again."
        case "dial_failed":
            return _dial_failed(bundle)
        case _:
            return (
                f"An internal error stopped the workflow{said}: a bug or an AWS fault, not an answer "
                f"of LiveKit's; the execution's history has the step that failed."
            )


def _not_joined(bundle: EscalationBundle) -> str:
    name = bundle.agent_name
    running = _last_with_status(bundle.job_states, ("JS_RUNNING",), latest_only=True)
    if running is not None:
        return (
            f"A worker took the job of agent {name!r} (job {running.job_id} is JS_RUNNING) but the "
            f"agent never connected to the room: its entrypoint hangs or fails before it joins. "
            f"Check the agent's logs for that job."
        )
    return (
        f"The job of agent {name!r} stayed JS_PENDING: no worker took it in time. The workers may be "
        f"asleep (a cold start), at capacity, or none is running under that name."
    )


def _dial_failed(bundle: EscalationBundle) -> str:
    sip = bundle.sip
    if sip is not None and sip.sip_status_code is not None:
        status = f"SIP {sip.sip_status_code} {sip.sip_status or ''}".rstrip()
        reason = f", {sip.reason.replace('_', ' ')}" if sip.reason and sip.reason != "other" else ""
        return f"The agent was verified but the call to {sip.call_to} did not connect: {status}{reason}."
    error = bundle.last_error
    said = f": {_quoted(error.message)}" if error is not None and error.message else ""
    trunk = f" over trunk {sip.trunk_id!r}" if sip is not None else ""
    return f"The agent was verified but the call{trunk} could not be placed{said}."


def _last_with_status(
    jobs: list[JobSeen], statuses: tuple[str, ...], *, latest_only: bool = False
) -> JobSeen | None:
    """The last job seen in one of ``statuses``; ``latest_only``: only if that is the job's latest
    status seen (a job seen JS_RUNNING and then JS_FAILED is not running)."""
    latest: dict[str, JobSeen] = {}
    for job in jobs:
        latest[job.job_id] = job
    candidates = latest.values() if latest_only else jobs
    return next((job for job in reversed(list(candidates)) if job.status in statuses), None)


def _dispatches(count: int) -> str:
    return "its dispatch" if count == 1 else f"any of its {count} dispatches"


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 1] + "…"
