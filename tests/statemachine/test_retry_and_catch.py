"""Failure policy: transient faults are retried, everything else escalates, and nothing ends unrecorded."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from dispatch_verify import errors
from dispatch_verify.models import WorkflowState

from .conftest import AWAIT_STATE, LAMBDA_SERVICE_ERRORS

Tasks = dict[str, dict[str, Any]]
FINAL_STEPS = {"Escalate", "Record outcome", "Close heartbeat room"}  # after the outcome is known
PERMANENT_ERRORS = {"LiveKitPermanentError", "InvalidRequestError", "ConfigurationError"}


def error_names(task: dict[str, Any], field: str) -> set[str]:
    return {name for rule in task.get(field, []) for name in rule["ErrorEquals"]}


def retrier(task: dict[str, Any], error: str) -> dict[str, Any]:
    """The retrier that handles ``error`` (the first whose ErrorEquals names it, as Step Functions picks)."""
    return next(rule for rule in task["Retry"] if error in rule["ErrorEquals"])


def worst_case_backoff_s(rule: dict[str, Any]) -> float:
    interval, rate = rule.get("IntervalSeconds", 1), rule.get("BackoffRate", 2.0)
    cap = rule.get("MaxDelaySeconds", float("inf"))
    return float(sum(min(interval * rate**attempt, cap) for attempt in range(rule.get("MaxAttempts", 3))))


def step_tasks(lambda_tasks: Tasks) -> Tasks:
    """The steps before the outcome is known: they call LiveKit (or validate input) and may escalate.
    Not the wait ("Await agent"): its failures fall back to polling, see below."""
    return {name: task for name, task in lambda_tasks.items() if name not in FINAL_STEPS | {AWAIT_STATE}}


def test_every_named_error_is_an_exception_of_the_lambda_steps(lambda_tasks: Tasks) -> None:
    # Given the error names the definition retries or catches
    named = {
        name
        for task in lambda_tasks.values()
        for name in error_names(task, "Retry") | error_names(task, "Catch")
    }
    ours = {name for name in named if not name.startswith(("States.", "Lambda."))}

    # When they are looked up in dispatch_verify.errors
    classes = {name: getattr(errors, name, None) for name in ours}

    # Then each is an exception class there (ASL matches a Lambda error by the class name)
    assert ours, "the definition names none of the steps' errors"
    not_exceptions = {
        name for name, cls in classes.items() if not (inspect.isclass(cls) and issubclass(cls, Exception))
    }
    assert not_exceptions == set()


def test_every_lambda_task_retries_lambda_service_errors_as_aws_recommends(lambda_tasks: Tasks) -> None:
    # Given every Lambda task
    for name, task in lambda_tasks.items():
        # When its retrier for Lambda service errors is read
        rule = retrier(task, "Lambda.ServiceException")

        # Then it covers the four service errors with a short, jittered back-off, before any other retrier
        assert set(rule["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS, name
        assert task["Retry"][0] is rule, name
        assert (rule["IntervalSeconds"], rule["MaxAttempts"], rule["BackoffRate"]) == (1, 3, 2.0), name
        assert rule["JitterStrategy"] == "FULL", name


@pytest.mark.parametrize("burst", [3, 4])
def test_a_short_livekit_outage_is_retried_with_bounded_backoff(lambda_tasks: Tasks, burst: int) -> None:
    # Given a burst of `burst` LiveKitTransientError (e.g. 503s) in a step that calls LiveKit
    for name, task in step_tasks(lambda_tasks).items():
        # When the retrier for it is read
        rule = retrier(task, "LiveKitTransientError")

        # Then the step is retried past the burst, with full jitter, capped delays, within a minute in all
        assert rule["MaxAttempts"] >= burst, name
        assert rule["JitterStrategy"] == "FULL", name
        assert 0 < rule["MaxDelaySeconds"] <= 30, name
        assert worst_case_backoff_s(rule) <= 60, name


def test_permanent_errors_are_never_retried(lambda_tasks: Tasks) -> None:
    # Given the steps before the outcome is known
    for name, task in step_tasks(lambda_tasks).items():
        # When their retriers are read
        retried = error_names(task, "Retry")

        # Then no permanent error is retried, and no catch-all retrier retries them by accident
        assert retried & PERMANENT_ERRORS == set(), name
        assert retried & {"States.ALL", "States.TaskFailed"} == set(), name


def test_every_step_failure_escalates_with_the_error_recorded(
    lambda_tasks: Tasks, states: dict[str, dict[str, Any]]
) -> None:
    # Given the steps before the outcome is known
    for name, task in step_tasks(lambda_tasks).items():
        # When their catchers are read
        catchers = task["Catch"]

        # Then every error (retries exhausted or not retryable) goes to "Escalate" with the error at $.error
        # ("Dispatch agent" on any JSON: through "Keep the input", which puts the error there)
        assert catchers[-1]["ErrorEquals"] == ["States.ALL"], name
        if name == "Dispatch agent":
            assert {(c["Next"], c["ResultPath"]) for c in catchers} == {("Keep the input", "$")}
            keep = states["Keep the input"]
            assert (keep["Parameters"]["error.$"], keep["Next"]) == ("$", "Escalate")
        else:
            assert {c["Next"] for c in catchers} == {"Escalate"}, name
            assert {c["ResultPath"] for c in catchers} == {"$.error"}, name
        # And the permanent errors are named, documenting that they skip retries and escalate at once
        assert error_names(task, "Catch") >= PERMANENT_ERRORS, name


def test_caught_errors_land_where_the_state_document_expects_them(
    lambda_tasks: Tasks, states: dict[str, dict[str, Any]]
) -> None:
    # Given the state document's fields
    # When the ResultPath of every catcher up to the recorded outcome is read ("Dispatch agent"'s
    # error is moved there by "Keep the input")
    paths = {
        catcher["ResultPath"]
        for name, task in lambda_tasks.items()
        if name not in ("Close heartbeat room", "Escalate", "Dispatch agent", AWAIT_STATE)
        for catcher in task["Catch"]
    }

    # Then it is $.error, the field "Escalate" and "Record outcome" read the caught error from
    assert paths == {"$.error"}
    assert set(states["Keep the input"]["Parameters"]) == {"request.$", "error.$"}
    assert "error" in WorkflowState.model_fields


def test_a_failed_escalation_is_still_recorded(lambda_tasks: Tasks) -> None:
    # Given "Escalate"
    escalate = lambda_tasks["Escalate"]

    # When its retriers and catchers are read
    own_retry = [rule for rule in escalate["Retry"] if not set(rule["ErrorEquals"]) & LAMBDA_SERVICE_ERRORS]

    # Then it makes no outward effect to repeat (only Lambda's own errors are retried), and any
    # failure still reaches "Record outcome"
    assert own_retry == []
    assert [(c["ErrorEquals"], c["Next"]) for c in escalate["Catch"]] == [(["States.ALL"], "Record outcome")]
    # beside the error that led here, never over it: the recorded cause stays the one found
    assert escalate["Catch"][0]["ResultPath"] == "$.escalation_error"
    assert "escalation_error" in WorkflowState.model_fields
    assert escalate["Next"] == "Page on-call"


def test_each_outward_effect_is_a_service_integration_retried_on_its_own(
    states: dict[str, dict[str, Any]],
) -> None:
    # Given the states that publish: the page (SNS) and the announcements (EventBridge)
    page, announce = states["Page on-call"], states["Announce outcome"]
    verified = states["Announce agent verified"]

    # Then each is its service's optimized integration, keeps the state ($ untouched), retries only
    # its own service's transient errors (a bounded 4 times), and a failure for good goes on, recorded
    assert page["Resource"] == "arn:aws:states:::sns:publish"
    assert announce["Resource"] == "arn:aws:states:::events:putEvents"
    for state, service, error in (
        (page, "SNS.", "$.page_error"),
        (announce, "EventBridge.", "$.announce_error"),
        (verified, "EventBridge.", "$.announce_error"),
    ):
        assert state["ResultPath"] is None
        (retry,) = state["Retry"]
        assert all(e.startswith(service) or e == "States.Timeout" for e in retry["ErrorEquals"])
        assert retry["MaxAttempts"] == 4 and worst_case_backoff_s(retry) <= 60
        assert [(c["ErrorEquals"], c["ResultPath"]) for c in state["Catch"]] == [(["States.ALL"], error)]
    assert "EventBridge.FailedEntry" in announce["Retry"][0]["ErrorEquals"]  # PutEvents' HTTP 200 failure
    # the page goes to the announcement (Escalate recorded the outcome), the announcement to the end,
    # whatever happened; the verified one puts the same entry and ends, or succeeds after a failure
    assert page["Next"] == page["Catch"][0]["Next"] == "Announce outcome"
    assert announce["Next"] == announce["Catch"][0]["Next"] == "Outcome?"
    assert verified["Parameters"] == announce["Parameters"] and verified["Retry"] == announce["Retry"]
    assert verified["End"] is True and verified["Catch"][0]["Next"] == "Agent verified"
    assert {"page_error", "announce_error", "page", "announcement"} <= set(WorkflowState.model_fields)


def test_a_failed_record_ends_in_a_fail_state_of_its_own(
    lambda_tasks: Tasks, states: dict[str, dict[str, Any]]
) -> None:
    # Given "Record outcome"
    record = lambda_tasks["Record outcome"]

    # When its catchers are read
    (catcher,) = record["Catch"]

    # Then any failure (after a heartbeat's room is closed, see test_definition) finds no outcome
    # and ends in a Fail state that says the outcome was not recorded
    assert catcher["ErrorEquals"] == ["States.ALL"]
    assert catcher["ResultPath"] == "$.error"
    assert catcher["Next"] == "Outcome?"
    no_outcome = {"Variable": "$.outcome.status", "IsPresent": False, "Next": "Outcome not recorded"}
    assert no_outcome in states["Outcome?"]["Choices"]
    fail = states[no_outcome["Next"]]
    assert fail["Type"] == "Fail"
    assert fail["Error"] == "OutcomeNotRecorded"
    assert fail["Error"] != states["Agent not verified"]["Error"]


def test_a_failed_heartbeat_room_clean_up_never_changes_the_outcome(lambda_tasks: Tasks) -> None:
    # Given "Close heartbeat room", which runs after the outcome is recorded
    close = lambda_tasks["Close heartbeat room"]

    # When its retriers and catchers are read
    rule = retrier(close, "LiveKitTransientError")
    (catcher,) = close["Catch"]

    # Then a short LiveKit outage is retried, permanent errors are not, and any failure is kept
    # beside the state (not in $.error, not instead of it) on the way to the recorded outcome's end
    assert rule["JitterStrategy"] == "FULL" and worst_case_backoff_s(rule) <= 60
    assert error_names(close, "Retry") & (PERMANENT_ERRORS | {"States.ALL", "States.TaskFailed"}) == set()
    assert catcher["ErrorEquals"] == ["States.ALL"]
    assert catcher["ResultPath"] == "$.room_cleanup_error"
    assert catcher["Next"] == close["Next"] == "Outcome?"


def test_a_call_that_did_not_connect_is_never_redialled_and_escalates_at_once(lambda_tasks: Tasks) -> None:
    # Given "Dial callee", whose failed call (busy, no answer, declined) raises DialFailedError
    dial = lambda_tasks["Dial callee"]
    assert issubclass(errors.DialFailedError, errors.DispatchVerifyError)

    # When its retriers and catchers are read
    retried = error_names(dial, "Retry")
    first_catch = dial["Catch"][0]

    # Then a dial failure is never retried (that would ring the callee again) and escalates by name,
    # while transient LiveKit faults are retried like in every other step
    assert retried & {"DialFailedError", "States.ALL", "States.TaskFailed"} == set()
    assert "LiveKitTransientError" in retried
    assert "DialFailedError" in first_catch["ErrorEquals"] and first_catch["Next"] == "Escalate"


def test_a_dial_that_waits_for_the_answer_fits_inside_its_lambda_and_task_timeouts(
    lambda_tasks: Tasks, template: dict[str, Any]
) -> None:
    # Given the look before dialling, the longest ringing a request may ask for, and the client's margin
    from dispatch_verify.adapters.livekit import CLIENT_TIMEOUT_S, DIAL_MARGIN_S
    from dispatch_verify.models import MAX_RINGING_TIMEOUT_S

    longest_call_s = CLIENT_TIMEOUT_S + MAX_RINGING_TIMEOUT_S + DIAL_MARGIN_S + 1

    # When the Lambda timeout of DialCalleeFunction and the task timeout of "Dial callee" are read
    lambda_timeout = template["Resources"]["DialCalleeFunction"]["Properties"]["Timeout"]
    task_timeout = lambda_tasks["Dial callee"]["TimeoutSeconds"]

    # Then LiveKit answers (or the client gives up) before the Lambda is cut off, and that before the task
    assert longest_call_s < lambda_timeout < task_timeout


def test_a_wait_that_times_out_or_cannot_be_awaited_still_ends_in_a_check(
    lambda_tasks: Tasks, states: dict[str, dict[str, Any]]
) -> None:
    # Given "Await agent", the wait that a LiveKit webhook resumes
    wait = states[AWAIT_STATE]

    # When its timeout and catchers are read
    timeout, joined, fallback = wait["Catch"]

    # Then its computed seconds passing (no webhook came) leads to the participant check, as a webhook
    # does, and so does a join marked before the token could be recorded (the write's condition); any
    # other failure to set up the wait (the token store) falls back to a plain Wait of the same
    # seconds, then the check: a lost webhook or a broken store costs latency, never an outcome.
    # Nothing escalates from here, and the state document keeps how the wait ended.
    assert wait["TimeoutSecondsPath"] == "$.wait_s"
    assert "wait_s" in WorkflowState.model_fields
    assert (timeout["ErrorEquals"], timeout["Next"]) == (["States.Timeout"], "Check participants")
    assert (joined["ErrorEquals"], joined["Next"]) == (
        ["DynamoDb.ConditionalCheckFailedException"],
        "Check participants",
    )
    assert (fallback["ErrorEquals"], fallback["Next"]) == (["States.ALL"], "Wait for agent")
    assert states["Wait for agent"]["Type"] == "Wait"
    assert states["Wait for agent"]["SecondsPath"] == wait["TimeoutSecondsPath"]
    assert states["Wait for agent"]["Next"] == wait["Next"] == "Check participants"
    assert {timeout["ResultPath"], joined["ResultPath"], fallback["ResultPath"], wait["ResultPath"]} == {
        "$.wake"
    }
    assert "wake" in WorkflowState.model_fields
    # And only DynamoDB's transient errors are retried (the condition is not one)
    (retry,) = wait["Retry"]
    assert all(e.startswith("DynamoDb.") for e in retry["ErrorEquals"])
    assert "DynamoDb.ConditionalCheckFailedException" not in retry["ErrorEquals"]
