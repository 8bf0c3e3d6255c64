"""The rules of record_outcome and cancelled_outcome, one a spec, on states built by hand: which request
counts as verified, which dispatch proved it, the join latency's rounding, and what a cancelled
request's outcome takes from its ledger item."""

from __future__ import annotations

from dispatch_verify import clock
from dispatch_verify.logic.escalation import escalate
from dispatch_verify.logic.outcome import cancelled_outcome, record_outcome
from dispatch_verify.models import (
    Attempt,
    Check,
    DispatchRecord,
    JobSeen,
    Outcome,
    StepError,
    WorkflowState,
)
from dispatch_verify.ports.ledger import LedgerItem

from .conftest import a_state
from .fakes import FakeTime

AGENT_IDENTITY = "agent-AJ_1"


def an_attempt(
    dispatch_id: str, created_at: float, *, deleted: bool = False, jobs: tuple[JobSeen, ...] = ()
) -> Attempt:
    return Attempt(
        dispatch_id=dispatch_id,
        created_at=clock.iso_utc(created_at),
        created_at_epoch=created_at,
        deadline_epoch=created_at + 20,
        deleted=deleted,
        deleted_at=clock.iso_utc(created_at + 20) if deleted else None,
        job_states=list(jobs),
    )


def a_job(job_id: str, status: str, identity: str = "", seen_at: float = 0.0) -> JobSeen:
    return JobSeen(
        job_id=job_id, status=status, participant_identity=identity, seen_at=clock.iso_utc(seen_at)
    )


def verified_state(
    attempts: list[Attempt], joined_at: float, identity: str = AGENT_IDENTITY
) -> WorkflowState:
    check = Check(
        next="verified",
        checked_at=clock.iso_utc(joined_at + 1),
        agent_identity=identity,
        agent_joined_at=clock.iso_utc(joined_at),
        agent_joined_at_epoch=joined_at,
    )
    return a_state().model_copy(update={"attempts": attempts, "check": check})


def outcome_of(state: WorkflowState) -> Outcome:
    outcome = record_outcome(state).outcome
    assert outcome is not None
    return outcome


# -- verified or not -------------------------------------------------------------------------------


def test_a_verified_outcome_names_the_agent_its_dispatch_and_when_it_joined(now: FakeTime) -> None:
    # Given an agent verified 4 s after the only dispatch
    t0 = now()
    state = verified_state([an_attempt("AD_1", t0)], joined_at=t0 + 4)

    # When the outcome is recorded
    outcome = outcome_of(state)

    # Then it is verified with the agent, the dispatch and the check's join time
    assert outcome.status == "verified" and outcome.cause is None
    assert (outcome.agent_identity, outcome.dispatch_id) == (AGENT_IDENTITY, "AD_1")
    assert outcome.agent_joined_at == clock.iso_utc(t0 + 4)
    assert outcome.join_latency_s == 4.0


def test_an_agent_verified_before_the_call_failed_is_escalated_and_names_no_agent_or_join(
    now: FakeTime,
) -> None:
    # Given an agent that was verified, then a dial that failed and was escalated
    t0 = now()
    state = verified_state(
        [an_attempt("AD_1", t0, jobs=(a_job("AJ_1", "JS_RUNNING", AGENT_IDENTITY),))], t0 + 4
    )
    failure = StepError(Error="DialFailedError", Cause='{"errorMessage": "busy"}')
    state = escalate(state.model_copy(update={"error": failure}))

    # When the outcome is recorded
    outcome = outcome_of(state)

    # Then it is escalated, and the fields that only a verified outcome carries are empty
    assert outcome.status == "escalated" and outcome.cause is not None
    assert outcome.agent_identity is None and outcome.dispatch_id is None
    assert outcome.agent_joined_at is None and outcome.join_latency_s is None
    # And the dispatch is still listed as evidence
    assert outcome.dispatch_ids == ["AD_1"] and outcome.attempts == 1


def test_a_verified_check_with_a_caught_error_and_no_escalation_is_escalated(now: FakeTime) -> None:
    # Given a verified check, then an error caught whose escalation itself failed (no bundle)
    t0 = now()
    state = verified_state([an_attempt("AD_1", t0)], joined_at=t0 + 4)
    state = state.model_copy(
        update={
            "error": StepError(Error="LiveKitTransientError", Cause="unavailable"),
            "escalation_error": StepError(Error="States.TaskFailed", Cause="SNS throttled"),
        }
    )

    # When the outcome is recorded
    result = record_outcome(state)

    # Then it is escalated, with a bundle made here for the summary
    assert result.outcome is not None and result.outcome.status == "escalated"
    assert result.outcome.cause is not None and result.outcome.agent_identity is None
    assert result.summary is not None and '"explanation"' in result.summary


def test_the_join_latency_is_rounded_to_the_millisecond(now: FakeTime) -> None:
    # Given an agent that joined 1.23456 s after the first dispatch
    t0 = now()
    state = verified_state([an_attempt("AD_1", t0)], joined_at=t0 + 1.23456)

    # When the outcome is recorded
    outcome = outcome_of(state)

    # Then the latency keeps three decimals
    assert outcome.join_latency_s == round(1.23456, 3) == 1.235


def test_the_join_latency_counts_from_the_first_dispatch_not_the_proving_one(now: FakeTime) -> None:
    # Given two dispatches 21 s apart, the agent of the second joining 3 s after it
    t0 = now()
    attempts = [
        an_attempt("AD_1", t0, deleted=True),
        an_attempt("AD_2", t0 + 21, jobs=(a_job("AJ_2", "JS_RUNNING", AGENT_IDENTITY),)),
    ]
    state = verified_state(attempts, joined_at=t0 + 24)

    # When the outcome is recorded
    outcome = outcome_of(state)

    # Then the latency is from the first dispatch, and the first dispatch's time is the first one's
    assert outcome.join_latency_s == 24.0
    assert outcome.first_dispatch_at == clock.iso_utc(t0)
    assert outcome.dispatch_id == "AD_2"


# -- the proving dispatch --------------------------------------------------------------------------


def test_the_proving_dispatch_is_the_one_whose_job_names_the_agent_even_when_a_later_one_is_live(
    now: FakeTime,
) -> None:
    # Given a first dispatch (deleted as stale) whose job named the agent, and a live second one whose
    # job names another participant
    t0 = now()
    attempts = [
        an_attempt("AD_1", t0, deleted=True, jobs=(a_job("AJ_1", "JS_RUNNING", AGENT_IDENTITY),)),
        an_attempt("AD_2", t0 + 21, jobs=(a_job("AJ_2", "JS_RUNNING", "agent-AJ_2"),)),
    ]

    # When the first one's agent is verified (it joined late)
    outcome = outcome_of(verified_state(attempts, joined_at=t0 + 25))

    # Then the dispatch that proved it is the first
    assert outcome.dispatch_id == "AD_1"


def test_a_dispatch_whose_failed_job_was_followed_by_the_agent_s_job_proves_it(now: FakeTime) -> None:
    # Given a first dispatch with a failed job, then a running job naming the agent; a live second one
    t0 = now()
    jobs = (a_job("AJ_1", "JS_FAILED"), a_job("AJ_1b", "JS_RUNNING", AGENT_IDENTITY))
    attempts = [an_attempt("AD_1", t0, deleted=True, jobs=jobs), an_attempt("AD_2", t0 + 21)]

    # When the agent is verified
    outcome = outcome_of(verified_state(attempts, joined_at=t0 + 25))

    # Then one job naming the agent is enough: the first dispatch proved it
    assert outcome.dispatch_id == "AD_1"


def test_with_no_job_naming_the_agent_the_live_dispatch_proves_it_not_the_latest(now: FakeTime) -> None:
    # Given a live first dispatch and a later one deleted, neither with a job naming the agent
    t0 = now()
    attempts = [an_attempt("AD_1", t0), an_attempt("AD_2", t0 + 5, deleted=True)]

    # When the agent is verified
    outcome = outcome_of(verified_state(attempts, joined_at=t0 + 6))

    # Then the live one is named
    assert outcome.dispatch_id == "AD_1"


def test_with_every_dispatch_deleted_and_no_job_naming_the_agent_the_latest_proves_it(
    now: FakeTime,
) -> None:
    # Given two dispatches, both deleted, neither with a job naming the agent
    t0 = now()
    attempts = [an_attempt("AD_1", t0, deleted=True), an_attempt("AD_2", t0 + 21, deleted=True)]

    # When the agent is verified
    outcome = outcome_of(verified_state(attempts, joined_at=t0 + 25))

    # Then the latest one is named
    assert outcome.dispatch_id == "AD_2"


# -- a cancelled request ---------------------------------------------------------------------------


def a_ledger_item(**fields: object) -> LedgerItem:
    first = DispatchRecord(dispatch_id="AD_1", created_at="2027-01-15T08:00:01.000Z", deleted=True)
    second = DispatchRecord(dispatch_id="AD_2", created_at="2027-01-15T08:00:22.000Z")
    values: dict[str, object] = {
        "request_id": "req-1",
        "room": "support-call-4711",
        "agent_name": "inbound-agent",
        "accepted_at": "2027-01-15T08:00:00.500Z",
        "attempts": [first, second],
        **fields,
    }
    return LedgerItem.model_validate(values)


def test_a_cancelled_request_started_when_accepted_and_first_dispatched_at_its_first_attempt() -> None:
    # Given a request accepted at 08:00:00.5 with two dispatches
    item = a_ledger_item()

    # When its cancelled outcome is made at 08:00:30
    outcome = cancelled_outcome(item, "2027-01-15T08:00:30.000Z")

    # Then it started when accepted, its first dispatch is the first attempt's, and both are listed
    assert outcome.status == "cancelled" and outcome.cause is None
    assert outcome.started_at == "2027-01-15T08:00:00.500Z"
    assert outcome.first_dispatch_at == "2027-01-15T08:00:01.000Z"
    assert outcome.finished_at == "2027-01-15T08:00:30.000Z"
    assert (outcome.dispatch_ids, outcome.attempts) == (["AD_1", "AD_2"], 2)


def test_a_cancelled_request_without_an_acceptance_time_started_at_the_cancel() -> None:
    # Given an item with no acceptance time and no dispatch
    item = a_ledger_item(accepted_at=None, attempts=[])

    # When its cancelled outcome is made
    outcome = cancelled_outcome(item, "2027-01-15T08:00:30.000Z")

    # Then it starts and ends at the cancel, with no first dispatch
    assert outcome.started_at == outcome.finished_at == "2027-01-15T08:00:30.000Z"
    assert outcome.first_dispatch_at is None and outcome.attempts == 0


def test_a_cancelled_heartbeat_stays_a_heartbeat_and_any_other_kind_is_a_request() -> None:
    cancelled_at = "2027-01-15T08:00:30.000Z"
    assert cancelled_outcome(a_ledger_item(kind="heartbeat"), cancelled_at).kind == "heartbeat"
    assert cancelled_outcome(a_ledger_item(kind="request"), cancelled_at).kind == "request"
    assert cancelled_outcome(a_ledger_item(kind="something-else"), cancelled_at).kind == "request"
