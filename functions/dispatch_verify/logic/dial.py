"""Dial callee: the telephony gate. The callee is dialled only once the agent is verified in the room.

Dialling earlier means the callee answers to silence; dialling when the agent never came wastes the
call. The step may be run again after a dial that connected but whose reply was lost, so it looks
before it dials: the callee's SIP participant already in the room is adopted, not called twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from dispatch_verify import clock
from dispatch_verify.errors import DispatchVerifyError, ErrorDetail
from dispatch_verify.models import Dialled, SipDetail, WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.livekit import PRESENT_STATES, LiveKitPort, SipCall

KEEP_DIGITS = 4
DialReason = Literal["busy", "no_answer", "declined", "other"]
_REASONS: dict[int, DialReason] = {
    486: "busy",
    600: "busy",
    480: "no_answer",
    408: "no_answer",
    603: "declined",
}


def dial_callee(
    state: WorkflowState, port: LiveKitPort, *, allowed: Callable[[], bool] = lambda: True
) -> WorkflowState:
    """``allowed``: asked once, just before a call would be placed; False (the request was cancelled)
    and nothing is dialled."""
    state = state.model_copy(deep=True)
    request, sip = state.request, state.request.sip
    if sip is None:
        raise DispatchVerifyError.of("internal", "Dial callee ran for a request without a call (request.sip)")
    if state.check is None or state.check.next != "verified":
        raise DispatchVerifyError.of("internal", "Dial callee ran before the agent was verified: not dialled")
    now = clock.now()
    already = next(
        (
            p
            for p in port.list_participants(request.room)
            if p.kind == "SIP" and p.identity == sip.participant_identity and p.state in PRESENT_STATES
        ),
        None,
    )
    if already is not None:
        logger.info(
            "callee already in the room: adopted, not dialled again", extra={"identity": already.identity}
        )
        state.dialled = Dialled(
            participant_identity=already.identity, answered=True, dialled_at=clock.iso_utc(now)
        )
        return state
    if not allowed():
        logger.warning("the request was cancelled: not dialled")
        raise DispatchVerifyError.of("internal", "the request was cancelled before the dial: not dialled")
    participant = port.create_sip_participant(
        SipCall(
            trunk_id=sip.trunk_id,
            call_to=sip.call_to,
            room=request.room,
            participant_identity=sip.participant_identity,
            participant_name=sip.participant_name,
            wait_until_answered=sip.wait_until_answered,
            ringing_timeout_s=sip.ringing_timeout_s,
        )
    )
    state.dialled = Dialled(
        participant_identity=participant.participant_identity,
        participant_id=participant.participant_id,
        sip_call_id=participant.sip_call_id,
        answered=sip.wait_until_answered,
        dialled_at=clock.iso_utc(clock.now()),
    )
    return state


def sip_detail(state: WorkflowState) -> SipDetail | None:
    """The call as an outcome or an escalation shows it (number masked); None when none was requested."""
    sip = getattr(state.request, "sip", None)  # a request rebuilt after a failed Prepare may lack it
    if sip is None:
        return None
    failure = state.last_error if state.last_error and state.last_error.cause == "dial_failed" else None
    dialled = state.dialled
    return SipDetail(
        trunk_id=sip.trunk_id,
        call_to=mask_number(sip.call_to),
        participant_identity=dialled.participant_identity if dialled else sip.participant_identity,
        answered=dialled.answered if dialled else (False if failure else None),
        sip_call_id=(dialled.sip_call_id or None) if dialled else None,
        sip_status_code=failure.sip_status_code if failure else None,
        sip_status=failure.sip_status if failure else None,
        reason=dial_reason(failure) if failure else None,
    )


def dial_reason(failure: ErrorDetail) -> DialReason:
    """busy (486, 600), no_answer (480, 408), declined (603); else other (unknown trunk, other SIP codes)."""
    return _REASONS.get(failure.sip_status_code or 0, "other")


def mask_number(number: str) -> str:
    """Personal data: each letter and digit but the last four digits becomes ``*``.

    ``+15550100123`` -> ``+*******0123``.
    """
    kept, out = 0, []
    for char in reversed(number):
        if char.isdigit() and kept < KEEP_DIGITS:
            kept += 1
            out.append(char)
        else:
            out.append("*" if char.isalnum() else char)
    return "".join(reversed(out))
