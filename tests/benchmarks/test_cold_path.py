"""Request -> CreateDispatch: how the benchmark passes data between the steps and adds up the chain."""

from __future__ import annotations

from typing import Any

from bench import cold_path
from bench.cold_path import StepTimes
from bench.stack_view import Function, Step

STATE = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {
        "FunctionName": "${DispatchAgentFunctionArn}",
        "Payload": {"state.$": "$", "execution_name.$": "$$.Execution.Name", "fixed": 1},
    },
    "OutputPath": "$.Payload",
}


def test_a_state_sends_its_function_the_payload_over_its_input() -> None:
    # Given a state's input and the execution's name
    state_input: dict[str, Any] = {"request": {"room": "r"}}

    # When the state's event is built
    event = cold_path._event_for(STATE, state_input, {"Execution": {"Name": "req-1"}})

    # Then it is Parameters.Payload with its paths resolved
    assert event == {"state": state_input, "execution_name": "req-1", "fixed": 1}


def test_the_output_path_keeps_the_functions_payload() -> None:
    # When a function returns, Then the state's output is its payload (OutputPath $.Payload)
    assert cold_path._output_of(STATE, {"old": True}, {"new": True}) == {"new": True}


def test_a_result_path_merges_the_result_into_the_input() -> None:
    # Given a state that keeps its input and puts the result under $.dispatch
    state = {**STATE, "ResultPath": "$.dispatch", "OutputPath": "$"}

    # When / Then
    assert cold_path._output_of(state, {"old": True}, {"new": True}) == {
        "old": True,
        "dispatch": {"Payload": {"new": True}, "StatusCode": 200},
    }


def a_step(state: str | None, logical_id: str) -> Step:
    return Step(state, Function(logical_id, f"dispatch_verify.handlers.{logical_id.lower()}.lambda_handler"))


def test_the_cold_chain_charges_each_function_its_import_and_first_call_once() -> None:
    # Given the API, then two states served by one function (it cold-starts once)
    chain = [a_step(None, "Api"), a_step("Prepare", "Steps"), a_step("Dispatch agent", "Steps")]
    times = [
        StepTimes(None, "Api", imports=[0.4, 0.5, 0.6], first_calls=[0.2], warm_calls=[0.05, 0.07, 0.06]),
        StepTimes("Prepare", "Steps", imports=[0.3], first_calls=[0.1], warm_calls=[0.01]),
        StepTimes("Dispatch agent", "Steps", warm_calls=[0.02, 0.04, 0.03]),
    ]

    # When the chain is summed up
    summary = cold_path.summary(chain, times)

    # Then cold = medians of each first start, plus the warm call of the function met again
    assert summary["cold_s"] == round(0.5 + 0.2 + 0.3 + 0.1 + 0.03, 4)
    assert summary["warm_s"] == round(0.06 + 0.01 + 0.03, 4)
    # And two functions cold-started: the target (at most 2) is met
    assert (summary["cold_starts"], summary["cold_starts_target_met"]) == (2, True)
    assert [row["cold_start"] for row in summary["steps"]] == [True, True, False]


def test_three_functions_before_the_dispatch_miss_the_cold_start_target() -> None:
    chain = [a_step(None, "Api"), a_step("Prepare", "Prepare"), a_step("Dispatch agent", "Dispatch")]
    times = [StepTimes(s.state, s.function.logical_id, [0.1], [0.1], [0.01]) for s in chain]

    summary = cold_path.summary(chain, times)

    assert (summary["cold_starts"], summary["cold_starts_target_met"]) == (3, False)


def test_a_request_moto_refuses_is_recorded_against_the_run() -> None:
    # Given moto behind the benchmark's HTTP endpoint, and no table at all
    import contextlib
    import threading

    import boto3
    from moto import mock_aws

    with mock_aws():
        endpoint = cold_path._MotoEndpoint()
        threading.Thread(target=endpoint.serve_forever, daemon=True).start()
        try:
            client = boto3.session.Session(
                region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
            ).client("dynamodb", endpoint_url=endpoint.url)

            # When a function's request names a table that does not exist
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                client.get_item(TableName="missing", Key={"request_id": {"S": "r"}})
            # And one that moto answers
            client.list_tables()
        finally:
            endpoint.shutdown()
            endpoint.server_close()

    # Then the refusal, and only it, is recorded (the run then fails instead of timing less work)
    assert len(endpoint.errors) == 1
    assert endpoint.errors[0].startswith("dynamodb DynamoDB_20120810.GetItem: 400")
