"""Accept a dispatch request (idempotently) and report on one: the API's decisions, without HTTP.

The request id is the execution name. With an idempotency key it is derived from the key, so a
repeat finds the ledger item of the first request (and Step Functions itself refuses a second
execution of that name); the item keeps a hash of the canonical body, and a repeat with another
body is a conflict.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from dispatch_verify import config
from dispatch_verify.logic.history import over_budget
from dispatch_verify.models import FROM_STATE, DispatchRequest, EscalationBundle, Outcome
from dispatch_verify.observability import logger
from dispatch_verify.ports.executions import ExecutionExists, Executions
from dispatch_verify.ports.ledger import LedgerConflict, LedgerItem, LedgerPort, Status, outcome_values


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body."""


class OverHistoryBudget(Exception):
    """The options allow more history than an execution may have (the message names them)."""


@dataclass(frozen=True)
class Accepted:
    item: LedgerItem
    repeated: bool  # True: an earlier request with this key and body; nothing new was started


def request_id_for(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"req-{uuid.uuid4().hex}"
    return f"req-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}"


def body_hash(sent: dict[str, Any], idempotency_key: str | None) -> str:
    """SHA-256 of the canonical JSON of what the caller sent (``sent``: the fields given, validated,
    the key left out), keys sorted at every level. Defaults are not in it: a deploy that adds an option
    or changes a default leaves the hash of an identical body as it was, so a retry across it is no 409.
    """
    canonical = {"request": sent, "key": idempotency_key}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def legacy_body_hash(request: DispatchRequest, idempotency_key: str | None) -> str:
    """The hash items accepted before 2026-12 keep: the workflow input with defaults filled in. A retry
    of such a request still matches it (while its item lives, 30 days), as long as the defaults are
    those it was accepted under."""
    return body_hash(request.model_dump(mode="json", exclude={"request_id"}), idempotency_key)


def accept_dispatch(
    request: DispatchRequest,
    idempotency_key: str | None,
    ledger: LedgerPort,
    executions: Executions,
    *,
    sent: dict[str, Any],
) -> Accepted:
    """Accept ``request`` (the workflow input made of ``sent``, the caller's given fields)."""
    refusal = over_budget(request.options, config.livekit_webhooks_if_known())
    if refusal is not None:
        raise OverHistoryBudget(refusal)
    request_id = request_id_for(idempotency_key)
    request = request.model_copy(update={"request_id": request_id})
    digest = body_hash(sent, idempotency_key)
    item = LedgerItem(
        request_id=request_id,
        room=request.room,
        agent_name=request.agent_name,
        kind=request.kind,
        body_sha256=digest,
    )
    try:
        item = ledger.accept(item)
        repeated = False
    except LedgerConflict as conflict:
        if conflict.existing.body_sha256 not in (digest, legacy_body_hash(request, idempotency_key)):
            raise IdempotencyConflict(request_id) from conflict
        item, repeated = conflict.existing, True
        if item.execution_arn:
            return Accepted(item=item, repeated=True)
        # The first request was accepted but its start was lost: start it now (same name, same input).
    try:
        arn = executions.start(request_id, request.model_dump(mode="json"))
    except ExecutionExists as exists:
        # The ledger item expired (30 days) while Step Functions still keeps the name (90): the
        # execution is this request's only if it was started with this request's input.
        if not same_request(exists.existing_input, request):
            if not repeated:
                ledger.forget(request_id)
            raise IdempotencyConflict(request_id) from exists
        arn = exists.execution_arn
    except Exception:
        if not repeated:
            ledger.forget(request_id)
        raise
    ledger.started(request_id, arn)
    return Accepted(item=item.model_copy(update={"execution_arn": arn}), repeated=repeated)


def same_request(existing_input: str, request: DispatchRequest) -> bool:
    """Whether an execution's input is ``request`` (read as this version reads a stored input)."""
    try:
        return DispatchRequest.from_state(json.loads(existing_input)) == request
    except ValueError:
        return False


def dispatch_status(request_id: str, ledger: LedgerPort, executions: Executions) -> LedgerItem | None:
    """The ledger item; one still ``running`` is checked against its execution and repaired."""
    item = ledger.get(request_id)
    if item is None or item.status != "running" or not item.execution_arn:
        return item
    described = executions.describe(item.execution_arn)
    if described.get("status") == "RUNNING":
        return item
    values = outcome_of_execution(described)
    logger.warning(
        "ledger repaired from the execution",
        extra={"ledger_request_id": request_id, "status": values["status"]},
    )
    ledger.finish_from_execution(request_id, values)
    # Validated, not copied: the values are JSON (e.g. sip as a dict), the item's fields are models.
    return LedgerItem.model_validate({**item.model_dump(mode="json"), **values})


def outcome_of_execution(described: dict[str, Any]) -> dict[str, Any]:
    """Status, cause and join latency of a finished execution (output: Outcome; Fail cause: bundle)."""
    status: Status = "escalated"
    values: dict[str, Any] = {"cause": "internal"}
    if described.get("status") == "SUCCEEDED":
        try:
            outcome = Outcome.model_validate_json(described.get("output") or "", context=FROM_STATE)
            values = outcome_values(outcome)
            status = values.pop("status")
        except ValueError:
            pass
    elif described.get("error") in ("AgentNotVerified", "DialFailed"):
        try:
            bundle = EscalationBundle.model_validate_json(described.get("cause") or "", context=FROM_STATE)
            values = {"cause": bundle.cause, "finished_at": bundle.escalated_at}
            if bundle.sip is not None:
                values["sip"] = bundle.sip.model_dump(mode="json")
        except ValueError:
            pass
    return {**values, "status": status}
