"""The API's contract: the bodies it accepts and answers (documented in docs/openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from dispatch_verify.models import (
    MAX_METADATA_BYTES,
    NAME_PATTERN,
    NAME_RULE,
    DispatchRequest,
    Options,
    Outcome,
    ParticipantSeen,
    Phase,
    SipRequest,
)
from dispatch_verify.ports.ledger import LedgerItem, Status

# Each model builds its validator at first use (defer_build, as dispatch_verify.models): the API's
# validation builds those its routes declare; the client (dispatch_verify.client) reads a few.
_DEFERRED = ConfigDict(defer_build=True)


class DispatchCreate(BaseModel):
    """Dispatch ``agent_name`` into ``room`` and verify that it joined."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    room: str = Field(
        min_length=1, max_length=256, json_schema_extra={"pattern": NAME_PATTERN}, description=NAME_RULE
    )
    agent_name: str = Field(
        min_length=1, max_length=256, json_schema_extra={"pattern": NAME_PATTERN}, description=NAME_RULE
    )
    metadata: dict[str, Any] | str | None = Field(
        None, description=f"JSON object (or string) for the agent's job, at most {MAX_METADATA_BYTES} bytes"
    )
    options: Options | None = None
    sip: SipRequest | None = Field(
        None, description="Dial this callee into the room over SIP once the agent is verified (never before)"
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        json_schema_extra={"pattern": NAME_PATTERN},
        description="The same key with the same body returns the first request; with another body, 409; "
        + NAME_RULE,
    )

    @field_validator("room", "agent_name", "idempotency_key")
    @classmethod
    def _name(cls, value: str | None, info: ValidationInfo) -> str | None:
        return DispatchRequest._name(value, info)

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: Any) -> Any:
        if isinstance(value, str):
            _utf8(value)
        DispatchRequest._metadata_as_string(value)
        return value

    def sent(self) -> dict[str, Any]:
        """The fields the caller gave (validated; defaults and the idempotency key left out)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"idempotency_key"})

    def workflow_input(self) -> DispatchRequest:
        return DispatchRequest(
            room=self.room,
            agent_name=self.agent_name,
            metadata=self.metadata,
            options=self.options or Options(),
            sip=self.sip,
        )


class DispatchAccepted(BaseModel):
    model_config = _DEFERRED

    request_id: str
    status: Status
    status_url: str


class DispatchView(Outcome):
    """A request as the ledger knows it: while running, ``status`` running and its ``phase``; once
    ended, the outcome (the same fields, names and types as the CLI's ``--json`` and the EventBridge
    outcome events' detail), and the room's participants at the last check."""

    status: Status  # type: ignore[assignment]  # the outcome's statuses, and running
    phase: Phase | None = Field(
        None, description="While running: dispatching, waiting_for_agent, redispatching, dialling, ..."
    )
    participants: list[ParticipantSeen] = Field(description="The room's participants at the last check")
    accepted_at: str | None = None
    finished_at: str | None = None  # type: ignore[assignment]  # None while running

    @classmethod
    def of(cls, item: LedgerItem) -> DispatchView:
        first = item.attempts[0] if item.attempts else None
        return cls(
            status=item.status,
            phase=item.phase if item.status == "running" else None,
            request_id=item.request_id,
            room=item.room,
            agent_name=item.agent_name,
            kind="heartbeat" if item.kind == "heartbeat" else "request",
            cause=item.cause,
            last_error=item.last_error,
            agent_identity=item.agent_identity,
            dispatch_id=item.dispatch_id,
            dispatch_ids=[a.dispatch_id for a in item.attempts],
            attempts=len(item.attempts),
            dispatches=list(item.attempts),
            join_latency_s=item.join_latency_s,
            started_at=item.accepted_at or "",
            first_dispatch_at=first.created_at if first else None,
            agent_joined_at=item.agent_joined_at,
            finished_at=item.finished_at,
            sip=item.sip,
            participants=item.participants,
            accepted_at=item.accepted_at,
        )


class DispatchList(BaseModel):
    model_config = _DEFERRED

    dispatches: list[DispatchView] = Field(description="Newest first")
    next_token: str | None = Field(
        None, description="Give it as next_token (with the same filters) for the next page; absent: the last"
    )


class FieldProblem(BaseModel):
    model_config = _DEFERRED

    field: str
    type: str
    message: str


class Problem(BaseModel):  # the body of every 4xx and 5xx the API answers
    model_config = _DEFERRED

    message: str
    errors: list[FieldProblem] = Field(default_factory=list)


def _utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None
