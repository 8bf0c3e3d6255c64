"""Ensure room, Dispatch agent, Re-dispatch agent: every one safe to run twice.

A step may be run again by the state machine after it created something but before it returned
(a Lambda timeout, a lost response). So each looks before it creates: a live dispatch of this agent
with this metadata that the state does not know yet is a previous try's, and is adopted.
"""

from __future__ import annotations

from dispatch_verify import clock
from dispatch_verify.logic.participants import find_agent, seen, verified_check
from dispatch_verify.logic.wait_time import plan_wait
from dispatch_verify.models import Attempt, Check, WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import Dispatch, LiveKitPort


def ensure_room(state: WorkflowState, port: LiveKitPort) -> WorkflowState:
    """Create the room first (idempotent in LiveKit): a dispatch to a missing room fails or hangs."""
    options = state.request.options
    if options.create_room:
        state.room_sid = port.create_room(state.request.room, options.room_empty_timeout_s) or state.room_sid
    return state


def dispatch_agent(
    state: WorkflowState, port: LiveKitPort, *, webhooks: bool = True, looked_at: float | None = None
) -> WorkflowState:
    """Dispatch, and set how long "Await agent" waits (``webhooks``: a join webhook is expected).

    ``looked_at``: the time from which a join is the wait's business (before the wait's item was
    prepared, ``adapters.aws.waits.WaitTokens.expect``; default now, before CreateDispatch).
    """
    state = state.model_copy(deep=True)
    looked_at = clock.now() if looked_at is None else looked_at
    state.attempts.append(_new_attempt(state, port))
    soon = webhooks and _over_or_present(state, port)
    plan_wait(state, looked_at, clock.now(), webhooks=webhooks, soon=soon)
    return state


def redispatch_agent(
    state: WorkflowState, port: LiveKitPort, *, webhooks: bool = True, looked_at: float | None = None
) -> WorkflowState:
    """Cancel the stale dispatch, then dispatch again; never two live dispatches of this request.

    The agent may have arrived since the check: look once more, and keep it if it is there.
    ``webhooks``: a join webhook is expected (sets how long the next wait lasts); ``looked_at`` as for
    ``dispatch_agent`` (default: now, before this look).
    """
    state = state.model_copy(deep=True)
    request = state.request
    looked_at = clock.now() if looked_at is None else looked_at
    participants = port.list_participants(request.room)
    now = clock.now()
    agent = find_agent(participants, request.agent_name)
    if agent is not None:
        logger.info("agent arrived before the re-dispatch", extra={"identity": agent.identity})
        state.check = verified_check(participants, agent, now)
        state.wait_s = state.wait_item = None
        return state
    stale = state.live_attempt
    if stale is not None:
        found = port.delete_dispatch(request.room, stale.dispatch_id)
        stale.deleted = True
        stale.deleted_at = clock.iso_utc(clock.now())
        logger.info("stale dispatch deleted", extra={"stale_dispatch_id": stale.dispatch_id, "found": found})
    state.attempts.append(_new_attempt(state, port))
    cause = state.check.cause if state.check else None
    state.check = Check(next="wait", cause=cause, checked_at=clock.iso_utc(now), **seen(participants))
    soon = webhooks and _over_or_present(state, port)
    plan_wait(state, looked_at, clock.now(), webhooks=webhooks, soon=soon)
    return state


def _over_or_present(state: WorkflowState, port: LiveKitPort) -> bool:
    """Right after a dispatch: is the agent already in the room, or the dispatch already over (its
    job refused at once, JS_FAILED: no webhook will say so)? Then the wait lasts a second and the
    check decides (verified, or re-dispatch) seconds after the dispatch, not at the backstop."""
    request, live = state.request, state.live_attempt
    if find_agent(port.list_participants(request.room), request.agent_name) is not None:
        return True
    dispatch = next(
        (d for d in port.list_dispatches(request.room) if live and d.dispatch_id == live.dispatch_id), None
    )
    if dispatch is None:
        return False  # not listed (yet): the check decides at the wait's end
    return dispatch.deleted or jobs_over(dispatch)


def jobs_over(dispatch: Dispatch) -> bool:
    """Every job ended (failed, or finished without the agent being there) and none replaces it."""
    return bool(dispatch.jobs) and all(job.ended for job in dispatch.jobs)


def _new_attempt(state: WorkflowState, port: LiveKitPort) -> Attempt:
    request = state.request
    dispatch = _adoptable(state, port.list_dispatches(request.room))
    if dispatch is not None:
        logger.info(
            "adopted a dispatch created by an earlier try", extra={"dispatch_id": dispatch.dispatch_id}
        )
    else:
        dispatch = port.create_dispatch(request.room, request.agent_name, request.metadata)
        logger.info("dispatch created", extra={"dispatch_id": dispatch.dispatch_id})
    now = clock.now()
    created_at = dispatch.created_at or now  # LiveKit always sets it; never divide by a missing one
    return Attempt(
        dispatch_id=dispatch.dispatch_id,
        created_at=clock.iso_utc(created_at),
        created_at_epoch=created_at,
        deadline_epoch=now + request.options.join_timeout_s,
    )


def _adoptable(state: WorkflowState, dispatches: list[Dispatch]) -> Dispatch | None:
    return max(unclaimed_dispatches(state, dispatches), key=lambda d: d.created_at, default=None)


def unclaimed_dispatches(state: WorkflowState, dispatches: list[Dispatch]) -> list[Dispatch]:
    """Live dispatches of this request's agent and metadata that the state does not know: a
    previous try's (adopted before creating; deleted by "Check participants" when they land late)."""
    known = {attempt.dispatch_id for attempt in state.attempts}
    return [
        d
        for d in dispatches
        if not d.deleted
        and d.dispatch_id not in known
        and d.agent_name == state.request.agent_name
        and d.metadata == state.request.metadata
    ]
