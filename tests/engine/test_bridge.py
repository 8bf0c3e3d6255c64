"""Lambda tasks reach the real handlers; their exceptions are ASL errors by name; waits use the clock."""

from __future__ import annotations

import json
import time

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from clocks import VirtualClock
from local_engine import LocalEngine
from local_engine.moto_bridge import MotoBridge, error_payload, function_name_of


def test_transient_error_is_retried_by_name_with_backoff_on_the_shared_clock(
    engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given a step that raises FlakyError twice, retried every 10 s with back-off rate 2
    started = clock.now()

    # When the workflow runs
    result = engine.run({"scenario": "flaky", "failures": 2})

    # Then the third attempt succeeds after 10 + 20 s of virtual back-off
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"attempts": 3}
    assert result.lambda_invocations() == 3
    assert clock.now() - started == 30


def test_transient_error_that_outlasts_the_retries_fails_the_execution_with_its_name(
    engine: LocalEngine,
) -> None:
    # Given a step that fails more often than its three retries allow
    # When the workflow runs
    result = engine.run({"scenario": "flaky", "failures": 9})

    # Then the execution fails with the exception's class name and the Lambda error payload as cause
    assert result.status == "FAILED"
    assert result.error == "FlakyError"
    cause = json.loads(result.cause or "")
    assert cause["errorType"] == "FlakyError"
    assert cause["errorMessage"] == "attempt 4 failed"
    assert result.lambda_invocations() == 4


def test_permanent_error_is_caught_by_name_and_its_cause_reaches_the_fail_state(
    engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given a step that raises PermanentError, caught into $.failure, then a Fail with CausePath
    started = clock.now()

    # When the workflow runs
    result = engine.run({"scenario": "permanent"})

    # Then it is not retried, and the Fail state's error and cause are the execution's
    assert result.status == "FAILED"
    assert result.error == "StepFailed"
    cause = json.loads(result.cause or "")
    assert cause["errorType"] == "PermanentError"
    assert cause["errorMessage"] == "credentials rejected: unauthenticated"
    assert any("handlers.py" in frame for frame in cause["stackTrace"])
    assert not any("moto_bridge" in frame for frame in cause["stackTrace"])
    assert result.lambda_invocations() == 1
    assert result.states_entered() == ["Which scenario?", "Permanent step", "Report failure"]
    assert clock.now() == started


def test_two_minute_wait_state_takes_well_under_a_second_on_virtual_time(
    engine: LocalEngine, clock: VirtualClock
) -> None:
    # Given a workflow that waits 120 s
    started, wall_started = clock.now(), time.monotonic()

    # When it runs on the virtual clock
    result = engine.run({"scenario": "wait"})

    # Then 120 s pass on the clock and almost none on the wall
    assert result.status == "SUCCEEDED"
    assert clock.now() - started == 120
    assert time.monotonic() - wall_started < 1.0


def test_handler_sees_a_lambda_context_for_its_function(engine: LocalEngine) -> None:
    # Given the escalate function, 512 MB and 10 s in the template
    # When it runs as a plain-ARN Task
    result = engine.run({"scenario": "escalate", "room": "room-ctx"})

    # Then its context describes that function
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["function_name"] == "EscalateFunction"
    assert result.output["memory"] == 512
    assert 0 < result.output["remaining_ms"] <= 10_000


def test_bridge_restores_moto_when_uninstalled_and_can_be_installed_again() -> None:
    # Given moto's own invoke, wait and retry sleep
    originals = (LambdaSimpleBackend.invoke, WaitFunction._wait_interval, retrier_decl.time)

    # When a bridge is installed and uninstalled twice
    for _ in range(2):
        with MotoBridge(VirtualClock(), lambda _name: None):
            assert LambdaSimpleBackend.invoke is not originals[0]
            assert retrier_decl.time is not originals[2]

    # Then moto is exactly as it was
    assert (LambdaSimpleBackend.invoke, WaitFunction._wait_interval, retrier_decl.time) == originals


def test_handler_exception_becomes_a_lambda_error_payload_named_after_its_class() -> None:
    # Given an exception of a custom class
    class TransientLiveKitError(Exception):
        pass

    try:
        raise TransientLiveKitError("503 from LiveKit")
    except TransientLiveKitError as exc:
        # When it is reported
        payload = error_payload(exc)

    # Then errorType is the class name, as ASL Retry/Catch match it
    assert payload["errorType"] == "TransientLiveKitError"
    assert payload["errorMessage"] == "503 from LiveKit"
    assert isinstance(payload["stackTrace"], list)


def test_function_is_found_by_name_qualified_name_or_arn() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:CheckParticipants"
    assert function_name_of(arn) == "CheckParticipants"
    assert function_name_of(arn + ":$LATEST") == "CheckParticipants"
    assert function_name_of("CheckParticipants:live") == "CheckParticipants"
    assert function_name_of("CheckParticipants") == "CheckParticipants"


def test_task_token_wait_resumes_when_the_token_is_sent_back(engine: LocalEngine) -> None:
    # Given a step that parks its task token (.waitForTaskToken) and returns
    from engine_fixture.handlers import TOKENS

    arn = engine.start({"scenario": "callback"}, name="callback-1")
    deadline = time.monotonic() + 5
    while "callback-1" not in TOKENS and time.monotonic() < deadline:
        time.sleep(0.01)

    # When someone sends the token back with a result
    engine.sfn.send_task_success(taskToken=TOKENS["callback-1"], output=json.dumps({"joined": True}))

    # Then the execution resumes with that result
    result = engine.wait(arn, timeout_s=5)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["callback"] == {"joined": True}
