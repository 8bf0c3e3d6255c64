"""The request ledger as the API's logic sees it (``LedgerPort``), and the values it keeps: one item per
request id (``LedgerItem``), what an outcome becomes in it. Kept in DynamoDB by ``adapters.aws.ledger``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from dispatch_verify.errors import Cause, ErrorDetail
from dispatch_verify.models import DispatchRecord, Outcome, ParticipantSeen, Phase, SipDetail

Status = Literal["running", "verified", "escalated", "cancelled"]
AttemptRecord = DispatchRecord  # the ledger's name for one dispatch of the request
MAX_PAGE = 100


@dataclass(frozen=True)
class ListQuery:
    """``GET /dispatches``: the newest first, accepted at or after ``since`` (UTC ISO-8601)."""

    since: str
    room: str | None = None
    status: Status | None = None
    limit: int = 20
    next_token: str | None = None  # opaque: the page before's


class BadPageToken(ValueError):
    """The next_token was not one this ledger gave (or is for another query)."""


class LedgerItem(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # schema at first use, not at import
    request_id: str
    status: Status = "running"
    room: str = ""
    agent_name: str = ""
    kind: str = "request"
    phase: Phase | None = None  # while running: what the workflow is doing
    body_sha256: str | None = None  # the canonical body the API accepted (409 on a different one)
    execution_arn: str | None = None
    accepted_at: str | None = None
    updated_at: str | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    participants: list[ParticipantSeen] = Field(default_factory=list)  # at the last check
    agent_identity: str | None = None
    dispatch_id: str | None = None
    join_latency_s: float | None = None
    cause: Cause | None = None
    last_error: ErrorDetail | None = None
    sip: SipDetail | None = None  # the call's end, when one was requested (number masked)
    agent_joined_at: str | None = None
    finished_at: str | None = None
    expires_at: int | None = None


class LedgerConflict(Exception):
    """The conditional put found an item: the request id is already taken."""

    def __init__(self, existing: LedgerItem) -> None:
        super().__init__(existing.request_id)
        self.existing = existing


class LedgerPort(Protocol):
    """What accepting and following a request needs of the ledger."""

    def accept(self, item: LedgerItem) -> LedgerItem:
        """Put the item unless its request id is taken (then ``LedgerConflict`` with the existing one)."""
        ...

    def started(self, request_id: str, execution_arn: str) -> None: ...

    def forget(self, request_id: str) -> None: ...

    def get(self, request_id: str) -> LedgerItem | None: ...

    def finish_from_execution(self, request_id: str, outcome: dict[str, Any]) -> None: ...

    def cancel(self, request_id: str, outcome: dict[str, Any]) -> bool:
        """Mark a running request cancelled (``outcome``: see ``final_values``); False if it had ended."""
        ...

    def list(self, query: ListQuery) -> tuple[list[LedgerItem], str | None]:
        """A page of requests, newest first, and the token of the next page (None: the last page).
        Raises ``BadPageToken`` for a token it did not give."""
        ...


def outcome_values(outcome: Outcome) -> dict[str, Any]:
    return final_values(outcome, None)


def ledger_status(outcome: Outcome) -> Status:
    return outcome.status


def final_values(outcome: Outcome, attempts: list[dict[str, Any]] | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": ledger_status(outcome),
        "phase": None,
        "cause": outcome.cause,
        "last_error": outcome.last_error.model_dump(mode="json") if outcome.last_error else None,
        "agent_joined_at": outcome.agent_joined_at,
        "agent_identity": outcome.agent_identity,
        "dispatch_id": outcome.dispatch_id,
        "join_latency_s": outcome.join_latency_s,
        "sip": outcome.sip.model_dump(mode="json") if outcome.sip else None,
        "finished_at": outcome.finished_at,
    }
    if attempts is not None:
        values["attempts"] = attempts
    return values


def attempt_record(attempt: Any) -> dict[str, Any]:
    return AttemptRecord.model_validate(attempt.model_dump(mode="json")).model_dump(mode="json")
