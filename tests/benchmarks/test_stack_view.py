"""What the start-up benchmark reads from the template and the ASL: the chain to CreateDispatch and
each function's deployed environment."""

from __future__ import annotations

from typing import Any

import pytest

from bench import stack_view
from bench.stack_view import DISPATCH_STATE


def a_template(*functions: str, **environment: Any) -> dict[str, Any]:
    """A template with the API function and one function per handler module name."""
    resources: dict[str, Any] = {
        "DispatchApiFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"Handler": "dispatch_verify.handlers.api.lambda_handler"},
        }
    }
    substitutions = {}
    for module in functions:
        logical_id = "".join(part.title() for part in module.split("_")) + "Function"
        resources[logical_id] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {"Handler": f"dispatch_verify.handlers.{module}.lambda_handler"},
        }
        substitutions[f"{logical_id}Arn"] = {"Fn::GetAtt": [logical_id, "Arn"]}
    resources["DispatchVerifyStateMachine"] = {
        "Type": "AWS::Serverless::StateMachine",
        "Properties": {"DefinitionSubstitutions": substitutions},
    }
    return {
        "Parameters": {"Tracing": {"Type": "String", "Default": "Off"}},
        "Conditions": {"TraceOn": {"Fn::Equals": [{"Ref": "Tracing"}, "On"]}},
        "Globals": {"Function": {"Environment": {"Variables": environment}}},
        "Resources": resources,
    }


def a_lambda_state(function_logical_id: str, next_state: str | None, suffix: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{function_logical_id}Arn}}{suffix}", "Payload": {"state.$": "$"}},
        "OutputPath": "$.Payload",
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def chain_of(asl: dict[str, Any], template: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(step.state, step.function.short) for step in stack_view.chain_to_dispatch(asl, template)]


def test_three_steps_before_dispatch_make_a_chain_of_four_functions() -> None:
    # Given the state machine before issue 14: prepare, ensure the room, dispatch, then wait
    template = a_template("prepare_request", "ensure_room", "dispatch_agent", "await_agent")
    asl = {
        "StartAt": "Prepare request",
        "States": {
            "Prepare request": a_lambda_state("PrepareRequestFunction", "Ensure room"),
            "Ensure room": a_lambda_state("EnsureRoomFunction", DISPATCH_STATE),
            DISPATCH_STATE: a_lambda_state("DispatchAgentFunction", "Await agent"),
            "Await agent": a_lambda_state("AwaitAgentFunction", None),
        },
    }

    # When the chain is derived, Then it is the API and the three states, and stops at the dispatch
    assert chain_of(asl, template) == [
        (None, "api"),
        ("Prepare request", "prepare_request"),
        ("Ensure room", "ensure_room"),
        (DISPATCH_STATE, "dispatch_agent"),
    ]


def test_a_machine_that_starts_at_the_dispatch_makes_a_chain_of_two() -> None:
    # Given the merged state machine: "Dispatch agent" is the first state
    template = a_template("dispatch_agent", "await_agent")
    asl = {
        "StartAt": DISPATCH_STATE,
        "States": {
            DISPATCH_STATE: a_lambda_state("DispatchAgentFunction", "Await agent"),
            "Await agent": a_lambda_state("AwaitAgentFunction", None),
        },
    }

    # When / Then
    assert chain_of(asl, template) == [(None, "api"), (DISPATCH_STATE, "dispatch_agent")]


def test_a_pass_state_on_the_way_is_crossed_and_a_qualified_function_name_is_followed() -> None:
    # Given a Pass state before the dispatch, whose FunctionName carries a version suffix
    template = a_template("dispatch_agent")
    asl = {
        "StartAt": "Defaults",
        "States": {
            "Defaults": {"Type": "Pass", "Next": DISPATCH_STATE},
            DISPATCH_STATE: a_lambda_state("DispatchAgentFunction", None, suffix=":$LATEST"),
        },
    }

    # When / Then: the Pass state costs no function
    assert chain_of(asl, template) == [(None, "api"), (DISPATCH_STATE, "dispatch_agent")]


@pytest.mark.parametrize(
    ("states", "message"),
    [
        ({"Room?": {"Type": "Choice", "Choices": [], "Default": DISPATCH_STATE}}, "Choice"),
        ({"Room?": {"Type": "Pass", "End": True}}, "ends the path"),
    ],
)
def test_a_path_the_derivation_cannot_follow_is_an_error(states: dict[str, Any], message: str) -> None:
    # Given a Choice, or an end, before the dispatch
    template = a_template("dispatch_agent")
    asl = {
        "StartAt": "Room?",
        "States": {**states, DISPATCH_STATE: a_lambda_state("DispatchAgentFunction", None)},
    }

    # When / Then
    with pytest.raises(ValueError, match=message):
        stack_view.chain_to_dispatch(asl, template)


def test_the_shipped_chain_starts_at_the_api_and_ends_at_the_dispatch() -> None:
    # Given the state machine and template as they ship (before or after the steps are merged)
    chain = stack_view.chain_to_dispatch(stack_view.load_asl(), stack_view.load_template())

    # Then the API comes first and "Dispatch agent" last, its function the dispatch_agent handler
    assert chain[0].state is None and chain[0].function.logical_id == "DispatchApiFunction"
    assert chain[-1].state == DISPATCH_STATE
    assert all(step.state for step in chain[1:])


def test_a_function_environment_follows_the_template_under_its_defaults() -> None:
    # Given Globals with a literal, a parameter's Ref, an If on a condition and a resource's Ref
    template = a_template(
        "dispatch_agent",
        LOG_LEVEL="INFO",
        TRACING={"Ref": "Tracing"},
        POWERTOOLS_TRACE_DISABLED={"Fn::If": ["TraceOn", "false", "true"]},
        LEDGER_TABLE_NAME={"Ref": "DispatchLedgerTable"},
    )

    # When the dispatch function's environment is built
    env = stack_view.function_environment(template, "DispatchAgentFunction")

    # Then each value is what a stack with the defaults would get, and the runtime's are there
    assert env["LOG_LEVEL"] == "INFO"
    assert env["TRACING"] == "Off"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["LEDGER_TABLE_NAME"] == stack_view.STAND_INS["LEDGER_TABLE_NAME"]
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["AWS_LAMBDA_FUNCTION_NAME"].endswith("DispatchAgentFunction")
