"""What an escalation's bundle says when little is known: no check yet, an error recorded earlier but
none caught now, a job cancelled rather than failed; and how each SIP answer is named."""

from __future__ import annotations

import json

import pytest
from dispatch_verify.errors import ErrorDetail, LiveKitPermanentError
from dispatch_verify.logic.dial import dial_reason
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.escalation import escalation_bundle, explain
from dispatch_verify.models import Check, StepError

from .conftest import a_state
from .fakes import FakeLiveKit
from .test_explanation import a_bundle, job


def test_an_escalation_before_any_check_reports_no_participants_and_a_total_of_zero(
    livekit: FakeLiveKit,
) -> None:
    # Given a dispatched request that no check has looked at yet, escalated (a caught error)
    state = dispatch_agent(a_state(), livekit)
    state.last_error = ErrorDetail(cause="livekit_unavailable", message="no answer")

    # When its bundle is made
    bundle = escalation_bundle(state)

    # Then it reports no participants, by name or by count
    assert (bundle.participants, bundle.participants_total, bundle.participants_by_kind) == ([], 0, {})


def test_an_error_recorded_earlier_does_not_override_the_cause_the_last_check_gave(
    livekit: FakeLiveKit,
) -> None:
    # Given a request whose last check gave up with not_joined, and an earlier error still recorded,
    # but no error caught now
    state = dispatch_agent(a_state(), livekit)
    state.check = Check(next="escalate", cause="not_joined", checked_at="2026-12-02T17:00:00Z")
    state.last_error = ErrorDetail(cause="livekit_unavailable", message="a retried 503")

    # When its bundle is made
    bundle = escalation_bundle(state)

    # Then the cause is the check's
    assert bundle.cause == "not_joined"


def test_a_job_cancelled_before_its_agent_joined_is_explained_by_its_error() -> None:
    bundle = a_bundle("job_failed", job_states=[job("AJ_1", "JS_CANCELLED", "room closed")])
    assert explain(bundle).endswith(": room closed.")


@pytest.mark.parametrize(
    ("code", "reason"),
    [(486, "busy"), (600, "busy"), (480, "no_answer"), (408, "no_answer"), (603, "declined"), (404, "other")],
)
def test_each_sip_answer_of_a_failed_call_is_named(code: int, reason: str) -> None:
    failure = ErrorDetail(cause="dial_failed", message="call failed", sip_status_code=code)
    assert dial_reason(failure) == reason


def test_an_agent_that_left_is_explained_by_the_job_that_ended_last_even_if_it_succeeded() -> None:
    # Given a first job that failed with an error and a later one that ended as a success, no error
    jobs = [job("AJ_1", "JS_FAILED", "worker crashed"), job("AJ_2", "JS_SUCCESS")]

    # Then the sentence is about the later job: no error of the earlier one is quoted
    assert "worker crashed" not in explain(a_bundle("joined_then_left", job_states=jobs))


def test_an_error_caught_now_gives_the_cause_over_the_one_the_last_check_gave(livekit: FakeLiveKit) -> None:
    # Given a request whose last check asked for a re-dispatch (never_assigned), and the re-dispatch
    # step then failed with LiveKit refusing the credentials, caught by the state machine
    state = dispatch_agent(a_state(), livekit)
    state.check = Check(next="redispatch", cause="never_assigned", checked_at="2026-12-02T17:00:00Z")
    error = LiveKitPermanentError.of("auth", "invalid API key", code="unauthenticated", status=401)
    payload = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
    state.error = StepError(Error=type(error).__name__, Cause=json.dumps(payload))

    # When its bundle is made
    bundle = escalation_bundle(state)

    # Then the cause is the caught error's, not the check's
    assert bundle.cause == "auth"


def test_an_agent_that_left_is_explained_by_a_job_cancelled_last_with_its_error() -> None:
    # Given a first job that failed, and a later one LiveKit cancelled with an error of its own
    jobs = [job("AJ_1", "JS_FAILED", "worker crashed"), job("AJ_2", "JS_CANCELLED", "room closed by the API")]

    # Then the sentence quotes the cancelled job's error, not the earlier one's
    sentence = explain(a_bundle("joined_then_left", job_states=jobs))
    assert "room closed by the API" in sentence and "worker crashed" not in sentence
