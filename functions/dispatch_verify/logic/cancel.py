"""Cancel a request (``DELETE /dispatches/{id}``): the caller hung up while the agent was still coming.

The ledger's conditional write from running to cancelled comes first: it is what "Dial callee" checks
(also conditionally) before dialling, so a cancelled request never dials, whichever runs first. Then
the execution is stopped, the request's live dispatches deleted (and its room when asked and the
workflow was let create it), and one ``AgentDispatchCancelled`` event published. A repeat answers
the same and does nothing again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from dispatch_verify import clock
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.logic.intake import dispatch_status
from dispatch_verify.logic.outcome import cancelled_outcome
from dispatch_verify.models import FROM_STATE, DispatchRequest, Outcome
from dispatch_verify.observability import logger
from dispatch_verify.ports.executions import Executions
from dispatch_verify.ports.ledger import LedgerItem, LedgerPort, final_values
from dispatch_verify.ports.livekit import LiveKitPort


class AlreadyFinished(Exception):
    """The request ended (verified or escalated) before it could be cancelled."""

    def __init__(self, item: LedgerItem) -> None:
        super().__init__(item.status)
        self.item = item


@dataclass
class Cancelled:
    item: LedgerItem  # as the ledger now keeps it (status cancelled)
    repeated: bool  # an earlier cancel did it: nothing was done again
    outcome: Outcome | None = None
    dispatches_deleted: list[str] = field(default_factory=list)
    room_deleted: bool = False


def cancel_dispatch(
    request_id: str,
    ledger: LedgerPort,
    executions: Executions,
    livekit: Callable[[], AbstractContextManager[LiveKitPort]],
    publish: Callable[[Outcome], None],
    *,
    delete_room: bool = False,
) -> Cancelled | None:
    """None: no such request. ``AlreadyFinished``: it ended first."""
    item = dispatch_status(request_id, ledger, executions)
    if item is None:
        return None
    if item.status == "cancelled":
        return Cancelled(item=item, repeated=True)
    if item.status != "running":
        raise AlreadyFinished(item)
    outcome = cancelled_outcome(item, clock.iso_utc(clock.now()))
    if not ledger.cancel(request_id, final_values(outcome, None)):
        now = ledger.get(request_id) or item
        if now.status == "cancelled":
            return Cancelled(item=now, repeated=True)
        raise AlreadyFinished(now)
    request = None
    if item.execution_arn:
        described = executions.describe(item.execution_arn)
        request = _request_of(described.get("input"))
        if described.get("status") == "RUNNING":
            executions.stop(item.execution_arn, f"cancelled through the API: {request_id}")
    cancelled = Cancelled(
        item=ledger.get(request_id) or item.model_copy(update={"status": "cancelled"}),
        repeated=False,
        outcome=outcome,
    )
    try:
        with livekit() as port:
            cancelled.dispatches_deleted = _delete_dispatches(item, request, port)
            if delete_room and (request is None or request.options.create_room):
                cancelled.room_deleted = port.delete_room(item.room)
    except DispatchVerifyError as exc:  # the cancel stands; what is left in LiveKit is logged
        logger.error("cancelled, but LiveKit's clean-up failed", extra={"error": str(exc)})
    publish(outcome)
    logger.info(
        "request cancelled",
        extra={"dispatches_deleted": cancelled.dispatches_deleted, "room_deleted": cancelled.room_deleted},
    )
    return cancelled


def _delete_dispatches(item: LedgerItem, request: DispatchRequest | None, port: LiveKitPort) -> list[str]:
    """This request's live dispatches: those the ledger knows, and any of its agent and metadata that a
    step created before the execution stopped (not yet in the ledger)."""
    known = {attempt.dispatch_id for attempt in item.attempts}
    deleted = []
    for dispatch in port.list_dispatches(item.room):
        ours = dispatch.dispatch_id in known or (
            request is not None
            and dispatch.agent_name == request.agent_name
            and dispatch.metadata == request.metadata
        )
        if ours and not dispatch.deleted and port.delete_dispatch(item.room, dispatch.dispatch_id):
            deleted.append(dispatch.dispatch_id)
    return deleted


def _request_of(execution_input: Any) -> DispatchRequest | None:
    try:
        return DispatchRequest.model_validate(json.loads(str(execution_input or "")), context=FROM_STATE)
    except ValueError:
        return None
