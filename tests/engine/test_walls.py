"""AWS's walls: the local engine refuses what AWS refuses, each with the error AWS gives.

Each spec drives the fixture's state machine (tests/engine/fixtures/) into one wall, one byte (or
one event, one second) short of it and one past it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from clocks import VirtualClock
from local_engine import LocalEngine
from local_engine.moto_bridge import state_data_size
from tests.engine.conftest import FIXTURE_TEMPLATE, LIVEKIT

KB_256 = 262_144
TOO_BIG = "exceeding the maximum number of bytes service limit."
DAY_S = 86_400


def sized(result_bytes: int, echo: str = "", scenario: str = "sized") -> dict[str, Any]:
    """Input of the fixture's "Sized step": its function returns ``result_bytes`` bytes of JSON."""
    return {"scenario": scenario, "result_bytes": result_bytes, "echo": echo}


# -- 256 KB of state data -------------------------------------------------------------------------
def test_a_task_result_over_256_kb_fails_the_execution_past_retry_and_catch_on_states_all(
    engine: LocalEngine,
) -> None:
    # Given a Lambda step with Retry and Catch on States.ALL, whose function returns 256 KB + 1 byte
    # When the workflow runs
    result = engine.run(sized(KB_256 + 1))

    # Then the execution fails with States.DataLimitExceeded, naming the function: not retried, not caught
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"
    assert (
        result.cause
        == f"The state/task '{engine.function('SizedFunction').arn}' returned a result with a size {TOO_BIG}"
    )
    assert result.lambda_invocations() == 1
    assert result.states_entered() == ["Which scenario?", "Sized step"]


def test_a_result_within_256_kb_that_makes_the_state_output_larger_fails_at_that_state(
    engine: LocalEngine,
) -> None:
    # Given a result of exactly 256 KB, which ResultPath adds to the state's input
    # When the workflow runs
    result = engine.run(sized(KB_256))

    # Then the result itself passed, and the state's output (input + result) is the one refused
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"
    assert result.cause == f"The state/task 'Sized step' returned a result with a size {TOO_BIG}"
    assert result.lambda_invocations() == 1


def test_parameters_over_256_kb_fail_the_state_before_its_function_is_called(engine: LocalEngine) -> None:
    # Given an input of 140 KB that the step's Parameters send twice
    # When the workflow runs
    result = engine.run(sized(100, echo="x" * 140_000))

    # Then the state's input after Parameters is refused, and the function never ran
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"
    assert result.cause == f"The state/task 'Sized step' provided parameters with a size {TOO_BIG}"
    assert result.lambda_invocations() == 0


def test_state_data_of_exactly_256_kb_passes_and_one_byte_more_fails(engine: LocalEngine) -> None:
    # Given a Pass state whose output is {"a": blob, "b": blob, "c": c}, compact JSON in UTF-8
    blob = "x" * 131_061

    # When its output is exactly 262,144 bytes, Then it passes
    fits = engine.run({"scenario": "fan out", "blob": blob, "c": ""})
    assert fits.status == "SUCCEEDED", fits.cause
    assert state_data_size(fits.output) == KB_256

    # When it is one byte more, Then the execution fails with States.DataLimitExceeded
    over = engine.run({"scenario": "fan out", "blob": blob, "c": "x"})
    assert (over.status, over.error) == ("FAILED", "States.DataLimitExceeded")
    assert over.states_entered() == ["Which scenario?", "Fan out"]


def test_a_catcher_that_names_states_data_limit_exceeded_catches_it(engine: LocalEngine) -> None:
    # Given a step whose Catch names States.DataLimitExceeded
    # When its function returns more than 256 KB
    result = engine.run(sized(KB_256 + 1, scenario="sized, caught by name"))

    # Then the error is caught as any other
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["failure"]["Error"] == "States.DataLimitExceeded"
    assert result.states_entered()[-2:] == ["Caught", "Done"]


# -- 25,000 history events ------------------------------------------------------------------------
def test_an_execution_fails_with_states_runtime_as_its_25000th_history_event(engine: LocalEngine) -> None:
    # Given a Pass state that loops on itself forever
    arn = engine.start({"scenario": "spin"})

    # When it runs (looking only at the status and the last events: 25,000 are slow to fetch)
    deadline = time.monotonic() + 60
    while (described := engine.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the history limit never stopped the loop"
        time.sleep(0.05)

    # Then AWS's history quota ends it: States.Runtime, its ExecutionFailed event number 25,000
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert described["cause"] == "The execution reached the maximum number of history events (25000)."
    page = engine.sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=2)
    assert [(event["id"], event["type"]) for event in page["events"]] == [
        (25_000, "ExecutionFailed"),
        (24_999, "PassStateExited"),
    ]
    assert page["nextToken"]


def test_a_history_that_ends_exactly_at_the_limit_succeeds_and_one_more_loop_fails(
    clock: VirtualClock,
) -> None:
    # Given an engine whose history limit is lowered to 50 events, and a loop of 4 events a turn
    # (6 more: start, the scenario's choice, Done, the end)
    with LocalEngine(clock, LIVEKIT, template_path=FIXTURE_TEMPLATE, history_event_limit=50) as engine:
        # When 11 turns make 50 events, Then the execution succeeds with its 50th event
        fits = engine.run({"scenario": "count", "n": 0, "stop": 11})
        assert fits.status == "SUCCEEDED", fits.cause
        assert (len(fits.history), fits.history[-1]["type"]) == (50, "ExecutionSucceeded")

        # When 12 turns would make 54, Then it fails as its 50th event
        over = engine.run({"scenario": "count", "n": 0, "stop": 12})
        assert (over.status, over.error) == ("FAILED", "States.Runtime")
        assert over.cause == "The execution reached the maximum number of history events (50)."
        assert (len(over.history), over.history[-1]["type"]) == (50, "ExecutionFailed")


# -- execution names, 90 days ---------------------------------------------------------------------
def test_an_execution_name_is_taken_for_90_days_after_its_execution_closed(
    engine: LocalEngine, clock: VirtualClock
) -> None:
    from engine_fixture.handlers import HOLD

    HOLD.clear()
    held = {"scenario": "hold", "hold_s": 5}
    try:
        # Given an execution named order-1 that is running (its function waits for HOLD)
        arn = engine.start(held, name="order-1")

        # When the same name is started again with the same input, Then it is the same execution
        assert engine.start(held, name="order-1") == arn
        # When with another input, Then AWS refuses it
        with pytest.raises(ClientError) as other_input:
            engine.start({**held, "hold_s": 4}, name="order-1")
        assert other_input.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
        assert other_input.value.response["Error"]["Message"] == f"Execution Already Exists: '{arn}'"
    finally:
        HOLD.set()
    assert engine.wait(arn).status == "SUCCEEDED"

    # When it has closed, Then the name stays taken, even with the same input, for 90 days
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        engine.start(held, name="order-1")
    clock.advance(90 * DAY_S - 1)
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        engine.start(held, name="order-1")

    # When 90 days have passed since it closed, Then the name is free: a new execution runs
    clock.advance(2)
    assert engine.start(held, name="order-1") == arn
    again = engine.wait(arn)
    assert again.status == "SUCCEEDED", again.cause
    listed = engine.sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    assert [execution["name"] for execution in listed].count("order-1") == 1


# -- Lambda's 6 MB --------------------------------------------------------------------------------
def test_a_lambda_response_over_6_mb_is_the_function_error_lambda_gives(engine: LocalEngine) -> None:
    # Given a function that returns 6,291,556 bytes + 1 (the number Lambda's own error names)
    # When the workflow runs
    result = engine.run(sized(6_291_557))

    # Then Lambda answers with a function error, which the step retries and catches as any other
    assert result.status == "SUCCEEDED", result.cause
    failure = result.output["failure"]
    assert failure["Error"] == "Function.ResponseSizeTooLarge"
    assert json.loads(failure["Cause"]) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    assert result.lambda_invocations() == 3

    # And a response of exactly 6,291,556 bytes reaches Step Functions, which refuses it as > 256 KB
    at_limit = engine.run(sized(6_291_556))
    assert (at_limit.status, at_limit.error) == ("FAILED", "States.DataLimitExceeded")
    assert engine.function("SizedFunction").arn in (at_limit.cause or "")


def test_a_lambda_request_over_6_mb_is_refused_with_request_entity_too_large(engine: LocalEngine) -> None:
    # Given an invoke whose payload is {"result_bytes": 4, "pad": "x..."} of an exact size
    client = engine.session.client("lambda")
    arn = engine.function("SizedFunction").arn

    def payload(size: int) -> bytes:
        pad = size - len(json.dumps({"result_bytes": 4, "pad": ""}))
        return json.dumps({"result_bytes": 4, "pad": "x" * pad}).encode()

    # When it is 6,291,456 bytes, Then the function runs
    answer = client.invoke(FunctionName=arn, Payload=payload(6_291_456))
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == "xx"

    # When it is one byte more, Then Lambda refuses it, 413
    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName=arn, Payload=payload(6_291_457))
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert refused.value.response["Error"]["Message"] == (
        "6291457 byte payload is too large for the RequestResponse invocation type (limit 6291456 bytes)"
    )


# -- SNS, EventBridge, DynamoDB, as a handler calls them -------------------------------------------
def sent(engine: LocalEngine, service: str, size: int, **extra: str) -> dict[str, Any]:
    """What the service answered the fixture's OversizeFunction, which sent it ``size`` bytes."""
    result = engine.run({"scenario": "oversize", "service": service, "bytes": size, **extra})
    assert result.status == "SUCCEEDED", result.cause
    assert isinstance(result.output, dict)
    return result.output


def test_an_sns_message_over_256_kb_is_refused_as_too_long(engine: LocalEngine) -> None:
    too_long = {"code": "InvalidParameter", "message": "Invalid parameter: Message too long", "status": 400}
    # Given a handler publishing to the topic as its role
    # When the message is 262,144 bytes, Then it is published
    assert sent(engine, "sns", KB_256) == {"accepted": True}
    # When one byte more, Then SNS refuses it
    assert sent(engine, "sns", KB_256 + 1) == too_long
    # When 131,073 characters of two bytes each, Then too (bytes count, not characters)
    assert sent(engine, "sns", KB_256 + 2, char="é") == too_long
    assert len(engine.notifications()) == 1


def test_putevents_entries_over_256_kb_refuse_the_whole_call(engine: LocalEngine) -> None:
    # Given a handler putting one event on the bus, its entry counted as EventBridge counts it
    # When the entry is 262,144 bytes, Then it is put
    assert sent(engine, "events", KB_256) == {"accepted": True}
    # When one byte more, Then PutEvents is refused as a whole
    assert sent(engine, "events", KB_256 + 1) == {
        "code": "ValidationException",
        "message": "Total size of the entries in the request is over the limit.",
        "status": 400,
    }
    assert len(engine.bus_events()) == 1


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("dynamodb-put", "Item size has exceeded the maximum allowed size"),
        ("dynamodb-update", "Item size to update has exceeded the maximum allowed size"),
    ],
)
def test_a_dynamodb_item_over_400_kb_is_refused(engine: LocalEngine, service: str, message: str) -> None:
    # Given a handler writing an item (attribute names and values) with PutItem, or growing one with
    # UpdateItem
    # When the item is 409,600 bytes, Then it is written
    assert sent(engine, service, 409_600) == {"accepted": True}
    # When one byte more, Then DynamoDB refuses it
    assert sent(engine, service, 409_601) == {
        "code": "ValidationException",
        "message": message,
        "status": 400,
    }
