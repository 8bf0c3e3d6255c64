"""Check participants: is the agent in the room, and if not, is the dispatch still worth waiting for?"""

from __future__ import annotations

from dispatch_verify import clock
from dispatch_verify.errors import Cause, DispatchVerifyError
from dispatch_verify.logic.dispatch import jobs_over, unclaimed_dispatches
from dispatch_verify.logic.participants import find_agent, is_named_agent, seen, verified_check
from dispatch_verify.logic.wait_time import plan_wait
from dispatch_verify.models import Attempt, Check, JobSeen, Next, WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import Dispatch, LiveKitPort


def check_participants(state: WorkflowState, port: LiveKitPort, *, webhooks: bool = True) -> WorkflowState:
    """Look; decide ``check.next``; when it is "wait", also how long (``webhooks``: a join webhook
    is expected, so the wait is the backstop rather than the poll interval)."""
    state = state.model_copy(deep=True)
    request = state.request
    attempt = state.live_attempt
    if attempt is None:
        raise DispatchVerifyError.of("internal", "no live dispatch to check: Dispatch agent has not run")
    looked_at = clock.now()  # before the look: a join marked after it refuses the next wait's recording
    participants = port.list_participants(request.room)
    now = clock.now()
    attempt.checks += 1
    agent = find_agent(participants, request.agent_name)
    dispatches = port.list_dispatches(request.room)
    _delete_strays(state, attempt, dispatches, port, keep_identity=agent.identity if agent else None)
    if agent is not None:
        state.check = verified_check(participants, agent, now)
        state.wait_s = state.wait_item = None
        return state
    # Job states only explain why the agent is absent; they never prove it present.
    dispatch = next((d for d in dispatches if d.dispatch_id == attempt.dispatch_id), None)
    if dispatch is not None:
        _record_jobs(attempt, dispatch, now)
        state.room_sid = state.room_sid or next((j.room_sid for j in dispatch.jobs if j.room_sid), None)
    agent_seen = any(is_named_agent(p, request.agent_name) for p in participants)
    cause = stale_cause(attempt, dispatch, now, agent_seen=agent_seen)
    state.check = Check(
        next="wait" if cause is None else _next_after_stale(state),
        cause=cause,
        checked_at=clock.iso_utc(now),
        **seen(participants),
    )
    if cause is None:
        plan_wait(state, looked_at, now, webhooks=webhooks)
    else:
        state.wait_s = state.wait_item = None
    return state


def stale_cause(attempt: Attempt, dispatch: Dispatch | None, now: float, *, agent_seen: bool) -> Cause | None:
    """Why this attempt is no longer worth waiting for, or None while it still is.

    ``agent_seen``: the agent is in the room but not (or no longer) present, e.g. DISCONNECTED.
    """
    had_agent = agent_seen or any(job.participant_identity for job in attempt.job_states)
    if dispatch is None or dispatch.deleted or jobs_over(dispatch):
        return "joined_then_left" if had_agent else "job_failed"
    if now >= attempt.deadline_epoch:
        return "not_joined" if attempt.job_states else "never_assigned"
    return None


def _delete_strays(
    state: WorkflowState,
    attempt: Attempt,
    dispatches: list[Dispatch],
    port: LiveKitPort,
    *,
    keep_identity: str | None,
) -> None:
    """Delete this request's dispatches that landed after the live one: a CreateDispatch whose reply
    was lost or timed out can take effect after the retried step looked (and created its own), and
    its agent would be a second one in the room. Same rule as adoption: a live dispatch of this agent
    with this metadata that the state does not know is a previous try's; created after the live
    attempt's, it can only be a late one. One whose job hosts ``keep_identity`` (the agent just
    verified) stays: the agent that proved the dispatch is never sent away."""
    for stray in unclaimed_dispatches(state, dispatches):
        if stray.created_at <= attempt.created_at_epoch or (
            keep_identity and any(job.participant_identity == keep_identity for job in stray.jobs)
        ):
            continue
        found = port.delete_dispatch(state.request.room, stray.dispatch_id)
        logger.warning(
            "stray dispatch deleted",
            extra={
                "stray_dispatch_id": stray.dispatch_id,
                "dispatch_id": attempt.dispatch_id,
                "found": found,
            },
        )


def _next_after_stale(state: WorkflowState) -> Next:
    return "redispatch" if len(state.attempts) < state.request.options.max_attempts else "escalate"


def _record_jobs(attempt: Attempt, dispatch: Dispatch, now: float) -> None:
    known = {(job.job_id, job.status) for job in attempt.job_states}
    for job in dispatch.jobs:
        if (job.job_id, job.status) not in known:
            attempt.job_states.append(
                JobSeen(
                    job_id=job.job_id,
                    status=job.status,
                    error=job.error,
                    participant_identity=job.participant_identity,
                    seen_at=clock.iso_utc(now),
                )
            )
