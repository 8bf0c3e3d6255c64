"""Pydantic models for everything that crosses a state boundary.

The workflow carries one JSON document, ``WorkflowState``, from step to step: every Lambda step
receives the whole state and returns the whole (updated) state, and the Choice state routes on
``check.next``. Keeping the decisions in Python (not in ASL expressions) keeps them testable
without AWS and avoids interpreter differences in JSONPath filters.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.config import JsonDict

from dispatch_verify.errors import Cause, ErrorDetail

# LiveKit compares a room name's or an identity's byte length (a Go string) with its limit, 256.
MAX_NAME_BYTES = 256
NAME_RULE = (
    f"at most {MAX_NAME_BYTES} bytes of UTF-8; no control, format (zero-width, bidi, BOM) or separator "
    "characters other than a plain space inside, no noncharacters"
)
# The rule's refusals in the Basic Multilingual Plane, for the OpenAPI document (a pattern cannot count
# bytes, and astral code points are written differently in each regex dialect): name_problem decides.
NAME_PATTERN = (
    r"^[^\x00-\x1f\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ud800-\udfff\ufdd0-\ufdef\ufeff"
    r"\ufff9-\ufffb\ufffe\uffff]+$"
)
_NAME_SCHEMA: JsonDict = {"pattern": NAME_PATTERN}
# A request id is an execution name, which Step Functions refuses unless it is 1 to 80 characters
# without whitespace, brackets < > { } [ ], wildcards ? *, the characters " # % \ ^ | ~ ` $ & , ; : /
# and control characters (U+0000-001F, U+007F-009F). The API, the CLI and "Dispatch agent" judge it so.
MAX_EXECUTION_NAME = 80
EXECUTION_NAME_RULE = (
    f"1 to {MAX_EXECUTION_NAME} characters, as Step Functions names an execution: no whitespace, "
    'brackets <>{}[], wildcards ?*, control characters or any of "#%^|~\\`$&,;:/'
)
_EXECUTION_NAME_REFUSED = set('<>{}[]?*"#%\\^|~`$&,;:/')
EXECUTION_NAME_PATTERN = r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$"
MAX_METADATA_BYTES = 64 * 1024
MAX_RINGING_TIMEOUT_S = 40
MAX_PARTICIPANTS_SEEN = 20  # participants a check keeps by name (the state has 256 KB in all)


# What the Choice state routes on after "Check participants" and "Re-dispatch agent".
Next = Literal["verified", "wait", "redispatch", "escalate"]
# How a request ended, one vocabulary for the CLI's --json, GET /dispatches/{id} and the EventBridge
# events. A call that connected is "verified" with its ``sip`` block (answered); one that did not is
# "escalated" with cause dial_failed. "cancelled": DELETE /dispatches/{id} stopped it.
OutcomeStatus = Literal["verified", "escalated", "cancelled"]
# What a running request is doing (GET's ``phase``), written to the ledger by the steps.
Phase = Literal["dispatching", "waiting_for_agent", "redispatching", "dialling", "escalating", "recording"]


# Validation context for a document another version of this code may have written (the state between
# steps, an execution's output): fields this version does not know are passed over, not refused, so
# an execution started by the next version still finishes after a rollback. Input from outside (the
# workflow input, the API's body) is validated without it: an unknown field there is a mistake.
FROM_STATE = {"from_state": True}


def name_problem(value: str) -> str | None:
    """Why LiveKit would refuse ``value`` as a name (room, agent, identity, ...), or why we do; None if
    it is a good name. LiveKit takes any string of at most 256 bytes; we also refuse the characters that
    cannot be seen or that make two names look alike: control (Cc), format (Cf: zero-width characters,
    bidi overrides, the byte order mark), separators other than the plain space (Zs, Zl, Zp),
    surrogates (Cs) and noncharacters. Plain spaces may be inside a name, not around it. The message
    names a code point, never the value."""
    for index, char in enumerate(value):
        code = ord(char)
        category = unicodedata.category(char)
        refused = category in ("Cc", "Cf", "Cs", "Zl", "Zp") or (category == "Zs" and char != " ")
        if refused or 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
            return (
                f"must not contain control, format or separator characters or noncharacters "
                f"(U+{code:04X} at {index})"
            )
    if value != value.strip(" "):
        return "must not begin or end with a space"
    size = len(value.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"must be at most {MAX_NAME_BYTES} bytes of UTF-8 (it is {size})"
    return None


def execution_name_problem(value: str) -> str | None:
    """Why Step Functions would refuse ``value`` as an execution name (so as a request id), or None.
    The message names the character's code point and place, never the value."""
    if not 1 <= len(value) <= MAX_EXECUTION_NAME:
        return f"must be 1 to {MAX_EXECUTION_NAME} characters (it is {len(value)})"
    for index, char in enumerate(value):
        code = ord(char)
        if char.isspace() or char in _EXECUTION_NAME_REFUSED or code <= 0x1F or 0x7F <= code <= 0x9F:
            return (
                f"must not contain whitespace, brackets, wildcards, control characters or "
                f'"#%^|~\\`$&,;:/ (U+{code:04X} at {index}), as Step Functions names an execution'
            )
    return None


def _checked_name(value: str | None, info: ValidationInfo) -> str | None:
    # A document another version wrote (the state between steps) keeps the names it was started with:
    # they were judged when they came in, perhaps by rules older than these.
    if value is None or (info.context and info.context.get("from_state")):
        return value
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class _Strict(BaseModel):
    # defer_build: each model builds its validator at first use, not at import (a Lambda cold start
    # imports every model and uses a few).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    @model_validator(mode="wrap")
    @classmethod
    def _unknown_fields_of_another_version(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get("from_state"):
            known = set(cls.model_fields)
            data = {key: value for key, value in data.items() if key in known}
        return handler(data)

    @classmethod
    def from_state(cls, data: Any) -> Self:
        """Validate a document another version of this code may have written (see FROM_STATE)."""
        return cls.model_validate(data, context=FROM_STATE)


class Options(_Strict):
    # Strict types: true is not 1, "45" is not 45, "no" is not false (JSON's numbers and booleans are
    # what the state between steps holds, so it still reads back).
    model_config = ConfigDict(strict=True)

    join_timeout_s: int = Field(45, ge=1, le=3600)
    poll_interval_s: int = Field(3, ge=1, le=300)  # Wait.SecondsPath needs an integer
    # With LiveKit webhooks expected (template parameter LiveKitWebhooks), the join webhook ends a
    # wait; this longer interval is the backstop that still looks when a webhook was lost. By default
    # the join timeout's: one wait per attempt (a lost webhook is caught at the deadline's look, which
    # verifies a present agent), so an escalation after 3 attempts enters 19 states, not 28.
    webhook_backstop_s: int = Field(45, ge=1, le=300)
    max_attempts: int = Field(3, ge=1, le=10)
    create_room: bool = True
    room_empty_timeout_s: int | None = Field(None, ge=1, le=86_400)


class SipRequest(_Strict):
    """Dial the callee into the room over SIP once the agent is verified (CreateSIPParticipant)."""

    model_config = ConfigDict(strict=True)  # as Options

    trunk_id: str = Field(min_length=1, max_length=256, json_schema_extra=_NAME_SCHEMA, description=NAME_RULE)
    call_to: str = Field(  # personal data: masked in logs and escalations
        min_length=1, max_length=128, json_schema_extra=_NAME_SCHEMA, description=NAME_RULE
    )
    participant_identity: str = Field(
        min_length=1, max_length=256, json_schema_extra=_NAME_SCHEMA, description=NAME_RULE
    )
    participant_name: str | None = Field(
        None, min_length=1, max_length=256, json_schema_extra=_NAME_SCHEMA, description=NAME_RULE
    )
    wait_until_answered: bool = True
    # The dial step must return inside its Lambda timeout: ringing plus a margin stays under it.
    ringing_timeout_s: int = Field(30, ge=1, le=MAX_RINGING_TIMEOUT_S)

    @field_validator("trunk_id", "call_to", "participant_identity", "participant_name")
    @classmethod
    def _name(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _checked_name(value, info)


class DispatchRequest(_Strict):
    """The workflow input, as a backend or a schedule sends it."""

    room: str = Field(min_length=1, max_length=256)
    agent_name: str = Field(min_length=1, max_length=256)
    metadata: str = ""  # JSON object in the input is serialised to a string
    request_id: str | None = Field(None, min_length=1, max_length=80)
    kind: Literal["request", "heartbeat"] = "request"
    options: Options = Field(default_factory=Options)
    sip: SipRequest | None = None  # dial the callee after verification (the telephony gate)

    @model_validator(mode="before")
    @classmethod
    def _room_unless_heartbeat(cls, data: Any) -> Any:
        # A heartbeat may leave its room out: "Dispatch agent" names it heartbeat-<execution name>.
        if isinstance(data, dict) and data.get("room") is None and data.get("kind") != "heartbeat":
            raise ValueError('room is required (only a heartbeat, kind "heartbeat", may leave it out)')
        return data

    @field_validator("room", "agent_name", "request_id")
    @classmethod
    def _name(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _checked_name(value, info)

    @field_validator("request_id")
    @classmethod
    def _execution_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or (info.context and info.context.get("from_state")):
            return value
        problem = execution_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_as_string(cls, value: Any) -> str:
        if value is None:
            return ""
        try:  # JSON has no NaN or Infinity (an integer too long for the API's parser arrives as one)
            text = (
                value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), allow_nan=False)
            )
        except ValueError:
            raise ValueError("must be JSON: finite numbers of at most 4300 digits") from None
        if len(text.encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes")
        return text


class JobSeen(_Strict):
    """One LiveKit job of a dispatch as a check saw it (diagnosis only, never proof of arrival)."""

    job_id: str
    status: str  # JobStatus name: JS_PENDING, JS_RUNNING, JS_SUCCESS, JS_FAILED, JS_CANCELLED
    error: str = ""
    participant_identity: str = ""
    seen_at: str  # UTC ISO-8601


class Attempt(_Strict):
    """One CreateDispatch of this request."""

    dispatch_id: str
    created_at: str  # UTC ISO-8601, LiveKit's own creation time of the dispatch
    created_at_epoch: float
    deadline_epoch: float  # when this attempt stops waiting (local clock)
    deleted: bool = False
    deleted_at: str | None = None  # UTC ISO-8601, when the workflow deleted it (a stale dispatch)
    checks: int = 0
    job_states: list[JobSeen] = Field(default_factory=list)  # distinct (job, status) pairs seen


class ParticipantSeen(_Strict):
    identity: str
    kind: str  # ParticipantInfo.Kind name: STANDARD, SIP, AGENT, ...
    agent_name: str | None = None  # lk.agent.name or lk.agent_name attribute
    state: str  # ParticipantInfo.State name: JOINING, JOINED, ACTIVE, DISCONNECTED
    joined_at: str | None = None  # UTC ISO-8601


class Check(_Strict):
    """What the last look at the room decided; the Choice state routes on ``next``."""

    next: Next
    cause: Cause | None = None  # set when next == "escalate" (and as the reason for "redispatch")
    checked_at: str
    # At most MAX_PARTICIPANTS_SEEN of them (agents first): a crowded room must not push the state
    # past Step Functions' 256 KB; the totals count them all.
    participants: list[ParticipantSeen] = Field(default_factory=list)
    participants_total: int = 0
    participants_by_kind: dict[str, int] = Field(default_factory=dict)
    agent_identity: str | None = None
    agent_joined_at: str | None = None
    agent_joined_at_epoch: float | None = None


class Dialled(_Strict):
    """The callee's SIP participant that "Dial callee" created (or found from an earlier try)."""

    participant_identity: str
    participant_id: str = ""
    sip_call_id: str = ""
    answered: bool  # False when the request did not wait until answered: the call was only placed
    dialled_at: str  # UTC ISO-8601


class SipDetail(_Strict):
    """The call in an outcome or an escalation: no full phone number, only its last four digits."""

    trunk_id: str
    call_to: str  # masked, e.g. "********0123"
    participant_identity: str
    answered: bool | None = None
    sip_call_id: str | None = None
    sip_status_code: int | None = None  # of a failed dial, e.g. 486
    sip_status: str | None = None  # e.g. "Busy Here"
    reason: Literal["busy", "no_answer", "declined", "other"] | None = None  # of a failed dial


class StepError(BaseModel):
    """What an ASL ``Catch`` records at ``$.error`` (Step Functions' own field names)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)
    Error: str
    Cause: str | None = None


class DispatchRecord(BaseModel):
    """One dispatch of a request as an outcome, the ledger and GET show it: its id, LiveKit's UTC
    creation time, and what the checks saw of its jobs."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    dispatch_id: str
    created_at: str
    deleted: bool = False
    deleted_at: str | None = None
    checks: int = 0
    job_states: list[JobSeen] = Field(default_factory=list)

    @classmethod
    def of(cls, attempt: Attempt) -> DispatchRecord:
        return cls.model_validate(attempt.model_dump(mode="json"))


class Outcome(_Strict):
    """How a request ended: the CLI's ``--json``, ``GET /dispatches/{id}`` once finished, and the detail
    of the EventBridge outcome events, field for field. ``attempts`` counts the dispatches made (an
    integer everywhere, as in the escalation bundle); ``dispatches`` lists them."""

    status: OutcomeStatus
    request_id: str
    room: str
    agent_name: str
    kind: Literal["request", "heartbeat"] = "request"
    cause: Cause | None = None  # why it was escalated (None when verified or cancelled)
    last_error: ErrorDetail | None = None  # the last error a step met (LiveKit's code, message, status)
    agent_identity: str | None = None
    dispatch_id: str | None = None  # the dispatch that succeeded
    dispatch_ids: list[str] = Field(default_factory=list)
    attempts: int = 0
    dispatches: list[DispatchRecord] = Field(default_factory=list)
    join_latency_s: float | None = None  # first dispatch -> agent's joined_at (LiveKit's clocks)
    started_at: str
    first_dispatch_at: str | None = None
    agent_joined_at: str | None = None
    finished_at: str
    sip: SipDetail | None = None  # when a call was requested: answered, or how it failed

    @field_validator("status", mode="before")
    @classmethod
    def _one_verified(cls, value: Any) -> Any:
        # Written by the version before one vocabulary (an execution's output, the state between steps).
        return "verified" if value == "verified_and_dialled" else value


class EscalationBundle(_Strict):
    """Everything a LiveKit support ticket needs, and no secret."""

    request_id: str
    room: str
    agent_name: str
    kind: Literal["request", "heartbeat"] = "request"
    cause: Cause
    # The cause in a plain sentence, with what to look at (logic/escalation.py: explain).
    explanation: str = ""
    attempts: int
    # Each dispatch with the jobs seen on it (job <-> dispatch), when it was deleted if it went stale.
    dispatches: list[DispatchRecord]
    job_states: list[JobSeen]  # every dispatch's jobs in one list, as before
    livekit_host: str | None = None  # the LiveKit project's host (never a key or secret)
    room_sid: str | None = None  # the room's sid (LiveKit support looks rooms up by it)
    participants: list[ParticipantSeen]  # the last participant list seen, capped as in Check
    participants_total: int = 0
    participants_by_kind: dict[str, int] = Field(default_factory=dict)
    last_error: ErrorDetail | None = None
    started_at: str
    escalated_at: str
    sip: SipDetail | None = None  # when a call was requested
    # The outcome's event id (logic/announce.py): the same in the SNS page and the EventBridge event.
    event_id: str | None = None


class OutcomeEvent(Outcome):
    """The detail of an outcome event on the stack's bus: the outcome, its stable ``event_id`` (the same
    on every retry: deduplicate on it) and, when escalated, the evidence bundle."""

    event_id: str
    evidence: EscalationBundle | None = None


class Page(_Strict):
    """The SNS page of an escalation, built by "Escalate" and sent by "Page on-call"."""

    subject: str
    event_id: str
    agent_name: str  # a message attribute: SNS refuses an empty string value


class Announcement(_Strict):
    """The EventBridge entry of an outcome, built by "Record outcome" and put by "Announce outcome"."""

    detail_type: str
    detail: dict[str, Any]


class StepEvent(BaseModel):
    """The Payload of every Lambda task: the state document and ``$$.Execution.Name``.

    ``state`` stays untyped here: it is the raw workflow input for "Dispatch agent" (and for an
    escalation that follows its failure), a ``WorkflowState`` for every other step.
    """

    model_config = ConfigDict(defer_build=True)  # as _Strict: built at first use, not at import

    state: Any
    execution_name: str = Field(min_length=1, max_length=80)


class WaitItem(_Strict):
    """The numbers "Await agent" (a DynamoDB UpdateItem from the state machine) writes with its task
    token, as DynamoDB's ``N`` strings: ``looked_at``, when the step before it last looked at the room
    (epoch seconds, Lambda's clock; a join the webhook marked later refuses the recording, so the
    check runs at once), and ``expires_at``, the item's TTL."""

    looked_at: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=20)
    expires_at: str = Field(pattern=r"^[0-9]+$", max_length=12)


class WorkflowState(_Strict):
    """The document every step receives and returns."""

    request: DispatchRequest  # request_id always set after "Dispatch agent"
    started_at: str
    attempts: list[Attempt] = Field(default_factory=list)
    livekit_host: str | None = None  # set by "Dispatch agent": the host of the LiveKit URL
    room_sid: str | None = None  # from CreateRoom, or from the first job that names its room
    check: Check | None = None
    dialled: Dialled | None = None  # set by "Dial callee"
    last_error: ErrorDetail | None = None
    error: StepError | None = None  # written by ASL Catch, consumed by "Escalate"
    # Escalate's own failure (its Catch): kept beside $.error, so the cause found stays the cause.
    escalation_error: StepError | None = None
    escalation: EscalationBundle | None = None
    page: Page | None = None  # the escalation's SNS page ("Page on-call")
    page_error: StepError | None = None  # "Page on-call"'s failure (its Catch)
    outcome: Outcome | None = None
    announcement: Announcement | None = None  # the outcome's EventBridge entry ("Announce outcome")
    announce_error: StepError | None = None  # "Announce outcome"'s failure (its Catch)
    # JSON of ``outcome`` (verified) or ``escalation`` (escalated), for the Fail state's CausePath.
    summary: str | None = None
    # How the last "Await agent" ended: {"by": "webhook", ...} from SendTaskSuccess, or the
    # {"Error", "Cause"} of its timeout (the interval passed), of a join marked before its token could
    # be recorded (DynamoDb.ConditionalCheckFailedException), or of its fallback to a plain Wait.
    wake: dict[str, Any] | None = None
    # How long the next wait ("Await agent"'s timeout, or the plain "Wait for agent") lasts, in whole
    # seconds: the interval (poll_interval_s, or webhook_backstop_s when webhooks are expected), cut
    # to what is left of the live attempt's join timeout, at least 1. Set by the steps before a wait.
    wait_s: int | None = Field(None, ge=1)
    # What "Await agent" writes beside its task token (DynamoDB numbers, as strings): set with wait_s.
    wait_item: WaitItem | None = None

    @property
    def request_id(self) -> str:
        assert self.request.request_id is not None
        return self.request.request_id

    @property
    def live_attempt(self) -> Attempt | None:
        return next((a for a in reversed(self.attempts) if not a.deleted), None)
