"""The escalation's cause in a plain sentence (logic/escalation.explain), one for every cause, and the
bundle carrying it: a job a worker took whose agent never connected points at the agent's entrypoint,
a job no worker took at the workers."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from dispatch_verify.errors import Cause, ErrorDetail
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.escalation import MAX_QUOTED, escalation_bundle, explain
from dispatch_verify.models import EscalationBundle, JobSeen, SipDetail
from dispatch_verify.ports.livekit import Job

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime

SEEN_AT = "2026-12-02T17:00:00Z"


def a_bundle(cause: Cause, **fields: Any) -> EscalationBundle:
    values: dict[str, Any] = {
        "request_id": "req-1",
        "room": ROOM,
        "agent_name": AGENT,
        "cause": cause,
        "attempts": 1,
        "dispatches": [],
        "job_states": [],
        "participants": [],
        "started_at": SEEN_AT,
        "escalated_at": SEEN_AT,
    }
    return EscalationBundle(**(values | fields))


def job(job_id: str, status: str, error: str = "") -> JobSeen:
    return JobSeen(
        job_id=job_id, status=status, error=error, participant_identity=f"agent-{job_id}", seen_at=SEEN_AT
    )


def escalated_after_jobs(livekit: FakeLiveKit, now: FakeTime, *jobs: Job) -> EscalationBundle:
    """One attempt whose dispatch shows ``jobs`` at every look until the join timeout passes."""
    state = dispatch_agent(a_state(join_timeout_s=10, max_attempts=1), livekit)
    livekit.set_jobs(state.attempts[0].dispatch_id, *jobs)
    for _ in range(3):
        now.advance(5)
        state = check_participants(state, livekit)
    assert state.check is not None and state.check.next == "escalate"
    return escalation_bundle(state)


def test_a_job_a_worker_took_whose_agent_never_connected_points_at_the_agent_s_entrypoint(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a job that was JS_RUNNING at every look, and no agent in the room
    bundle = escalated_after_jobs(
        livekit, now, Job("AJ_hung", "JS_RUNNING", participant_identity="agent-AJ_hung")
    )

    # Then the cause stays not_joined, and the sentence names the worker's job and the entrypoint
    assert bundle.cause == "not_joined"
    assert "entrypoint" in bundle.explanation and "AJ_hung" in bundle.explanation
    assert "JS_PENDING" not in bundle.explanation


def test_a_job_no_worker_took_points_at_the_workers_not_the_entrypoint(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a job that stayed JS_PENDING
    bundle = escalated_after_jobs(livekit, now, Job("AJ_waiting", "JS_PENDING"))

    # Then the cause is not_joined too, but the sentence says no worker took the job
    assert bundle.cause == "not_joined"
    assert "JS_PENDING" in bundle.explanation and "no worker took it" in bundle.explanation
    assert "asleep" in bundle.explanation and "entrypoint" not in bundle.explanation


def test_a_job_seen_running_and_then_pending_again_is_explained_by_its_latest_status() -> None:
    # Given a job seen running, and a later one (the same dispatch offered again) still pending
    bundle = a_bundle(
        "not_joined",
        job_states=[job("AJ_1", "JS_RUNNING"), job("AJ_1", "JS_FAILED"), job("AJ_2", "JS_PENDING")],
    )

    # Then no job is running now: the workers are to blame, not an entrypoint
    assert "JS_PENDING" in explain(bundle) and "entrypoint" not in explain(bundle)


def test_every_cause_has_a_sentence_of_its_own() -> None:
    # Given a bundle of each cause
    sentences = {cause: explain(a_bundle(cause)) for cause in get_args(Cause)}

    # Then each is a sentence, and no two causes share one
    assert all(s and s.endswith(".") for s in sentences.values())
    assert len(set(sentences.values())) == len(sentences)


def test_never_assigned_names_the_agent_and_asks_for_a_worker_registered_under_it() -> None:
    sentence = explain(a_bundle("never_assigned", attempts=3))
    assert repr(AGENT) in sentence and "registered under exactly that agent name" in sentence
    assert "3 dispatches" in sentence
    assert "its dispatch" in explain(a_bundle("never_assigned", attempts=1))


def test_a_failed_job_is_explained_by_its_own_error() -> None:
    bundle = a_bundle(
        "job_failed", job_states=[job("AJ_1", "JS_PENDING"), job("AJ_1", "JS_FAILED", "no capacity")]
    )
    assert explain(bundle).endswith(": no capacity.")
    assert "LiveKit gave no error" in explain(a_bundle("job_failed", job_states=[job("AJ_1", "JS_FAILED")]))


def test_an_agent_that_joined_and_left_quotes_the_job_s_error() -> None:
    bundle = a_bundle("joined_then_left", job_states=[job("AJ_1", "JS_FAILED", "agent worker left the room")])
    assert "(job error: agent worker left the room)" in explain(bundle)
    assert "job error" not in explain(a_bundle("joined_then_left", job_states=[job("AJ_1", "JS_SUCCESS")]))


def test_refused_credentials_point_at_the_api_key_and_secret() -> None:
    error = ErrorDetail(cause="auth", code="unauthenticated", message="invalid API key", status=401)
    sentence = explain(a_bundle("auth", last_error=error))
    assert "LIVEKIT_API_KEY" in sentence and "LIVEKIT_API_SECRET" in sentence
    assert "(LiveKit: invalid API key)" in sentence


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("room_missing", "does not exist"),
        ("quota", "quota"),
        ("livekit_unavailable", "LIVEKIT_URL"),
        ("invalid_request", "malformed"),
        ("internal", "internal error"),
    ],
)
def test_a_cause_from_a_caught_error_quotes_livekit_s_message(cause: Cause, words: str) -> None:
    error = ErrorDetail(cause=cause, message="what the server said")
    sentence = explain(a_bundle(cause, last_error=error))
    assert words in sentence and "(LiveKit: what the server said)" in sentence


def test_a_long_error_is_quoted_cut_to_its_first_characters_on_one_line() -> None:
    error = ErrorDetail(cause="internal", message="line one\nline two " + "x" * 1000)
    sentence = explain(a_bundle("internal", last_error=error))
    assert "line one line two" in sentence and "\n" not in sentence
    assert "x" * (MAX_QUOTED - 20) in sentence and "x" * (MAX_QUOTED + 1) not in sentence


def test_a_failed_call_gives_its_sip_status_and_reason() -> None:
    sip = SipDetail(
        trunk_id="ST_1",
        call_to="********0123",
        participant_identity="callee",
        sip_status_code=486,
        sip_status="Busy Here",
        reason="busy",
    )
    sentence = explain(a_bundle("dial_failed", sip=sip))
    assert (
        sentence
        == "The agent was verified but the call to ********0123 did not connect: SIP 486 Busy Here, busy."
    )


def test_a_call_that_could_not_be_placed_names_the_trunk_and_livekit_s_message() -> None:
    sip = SipDetail(trunk_id="ST_gone", call_to="********0123", participant_identity="callee")
    error = ErrorDetail(cause="dial_failed", code="not_found", message="trunk not found", status=404)
    sentence = explain(a_bundle("dial_failed", sip=sip, last_error=error))
    assert "trunk 'ST_gone'" in sentence and sentence.endswith(": trunk not found.")


def test_an_error_of_300_characters_is_quoted_whole_and_one_longer_is_cut_to_300() -> None:
    # Given LiveKit's text of exactly 300 characters, and of 301
    whole = explain(a_bundle("internal", last_error=ErrorDetail(cause="internal", message="w" * 300)))
    cut = explain(a_bundle("internal", last_error=ErrorDetail(cause="internal", message="c" * 301)))

    # Then the first is quoted as it is; the second is cut to 299 characters and an ellipsis
    assert "(LiveKit: " + "w" * 300 + ")" in whole
    assert "(LiveKit: " + "c" * 299 + "…)" in cut


def test_of_two_failed_jobs_the_one_that_failed_last_is_quoted() -> None:
    # Given a job seen pending, another that failed, and then the first failing too
    jobs = [
        job("AJ_1", "JS_PENDING"),
        job("AJ_2", "JS_FAILED", "first failure"),
        job("AJ_1", "JS_FAILED", "last failure"),
    ]

    # Then the last failure seen is the one quoted
    assert explain(a_bundle("job_failed", job_states=jobs)).endswith(": last failure.")


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (None, "busy", "SIP 486, busy."),  # LiveKit gave no reason phrase
        ("Not Found", "other", "SIP 486 Not Found."),  # no reason of ours to add
        ("Temporarily Unavailable", None, "SIP 486 Temporarily Unavailable."),
    ],
)
def test_a_failed_call_s_sentence_leaves_out_what_livekit_or_the_reason_did_not_give(
    status: str | None, reason: str | None, expected: str
) -> None:
    sip = SipDetail.model_validate(
        {
            "trunk_id": "ST_1",
            "call_to": "********0123",
            "participant_identity": "callee",
            "sip_status_code": 486,
            "sip_status": status,
            "reason": reason,
        }
    )
    assert explain(a_bundle("dial_failed", sip=sip)).endswith(f"did not connect: {expected}")


def test_a_call_that_could_not_be_placed_without_livekit_s_text_says_only_that() -> None:
    sip = SipDetail(trunk_id="ST_gone", call_to="********0123", participant_identity="callee")
    assert explain(a_bundle("dial_failed", sip=sip)) == (
        "The agent was verified but the call over trunk 'ST_gone' could not be placed."
    )
