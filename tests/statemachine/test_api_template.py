"""The API, its function and the ledger table in the template: routes, least privilege, auth switch."""

from __future__ import annotations

import json
from typing import Any

from .conftest import ROOT

LEDGER = {"Ref": "DispatchLedgerTable"}
WRITE_LEDGER = {"DynamoDBWritePolicy": {"TableName": LEDGER}}


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties = template["Resources"][logical_id]["Properties"]
    assert isinstance(properties, dict)
    return properties


def test_the_api_routes_are_the_documented_operations(template: dict[str, Any]) -> None:
    # Given the API function's events and the committed OpenAPI document
    events = resource(template, "DispatchApiFunction")["Events"].values()
    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]

    # When both are listed as (method, path)
    routes = {(e["Properties"]["Method"].lower(), e["Properties"]["Path"]) for e in events}
    operations = {(method, path) for path, item in documented.items() for method in item}

    # Then they are the same, all on this template's API
    assert (
        routes
        == operations
        == {
            ("post", "/dispatches"),
            ("get", "/dispatches/{request_id}"),
            ("post", "/livekit/webhook"),
        }
    )
    assert all(e["Type"] == "Api" and e["Properties"]["RestApiId"] == {"Ref": "DispatchApi"} for e in events)


def test_only_the_webhook_route_skips_aws_auth_and_it_can_resume_waits(template: dict[str, Any]) -> None:
    # Given the API function's routes and policies
    function = resource(template, "DispatchApiFunction")
    events = function["Events"].values()

    # When their auth settings are read
    open_routes = {e["Properties"]["Path"] for e in events if "Auth" in e["Properties"]}

    # Then only the LiveKit webhook opts out of IAM / API keys (LiveKit cannot sign AWS requests; its
    # JWT is checked in the handler), and the function may find and resume the awaited executions
    assert open_routes == {"/livekit/webhook"}
    webhook = next(e for e in events if e["Properties"]["Path"] == "/livekit/webhook")
    assert webhook["Properties"]["Auth"] == {"Authorizer": "NONE", "ApiKeyRequired": False}
    policies = function["Policies"]
    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "WaitTokenTable"}}} in policies
    assert {
        "StepFunctionsCallbackPolicy": {
            "StateMachineName": {"Fn::GetAtt": ["DispatchVerifyStateMachine", "Name"]}
        }
    } in policies


def test_the_await_step_may_resume_only_its_own_state_machine(template: dict[str, Any]) -> None:
    # Given the state machine's name and the Await agent function's callback policy
    name = resource(template, "DispatchVerifyStateMachine")["Name"]
    policies = resource(template, "AwaitAgentFunction")["Policies"]

    # When the policy's state machine is read
    (callback,) = [p["StepFunctionsCallbackPolicy"] for p in policies if "StepFunctionsCallbackPolicy" in p]

    # Then it names that very state machine (a !GetAtt would be a circular dependency)
    assert callback["StateMachineName"] == name == {"Fn::Sub": "${AWS::StackName}-dispatch-verify"}


def test_wait_tokens_expire_and_are_keyed_by_room_then_request(template: dict[str, Any]) -> None:
    table = resource(template, "WaitTokenTable")
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    assert keys == {"room": "HASH", "request_id": "RANGE"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_api_function_may_start_and_describe_executions_and_use_the_ledger(
    template: dict[str, Any],
) -> None:
    # Given the API function
    function = resource(template, "DispatchApiFunction")

    # When its environment and policies are read
    policies = function["Policies"]

    # Then it starts this state machine, reads and writes the ledger, describes only its executions
    assert function["Handler"] == "dispatch_verify.handlers.api.lambda_handler"
    assert function["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": "DispatchVerifyStateMachine"}
    assert {
        "StepFunctionsExecutionPolicy": {
            "StateMachineName": {"Fn::GetAtt": ["DispatchVerifyStateMachine", "Name"]}
        }
    } in policies
    assert {"DynamoDBCrudPolicy": {"TableName": LEDGER}} in policies
    (statement,) = [p["Statement"][0] for p in policies if "Statement" in p]
    assert statement["Action"] == "states:DescribeExecution"
    assert ":execution:${DispatchVerifyStateMachine.Name}:*" in statement["Resource"]["Fn::Sub"]


def test_only_the_steps_that_record_progress_may_write_the_ledger(template: dict[str, Any]) -> None:
    # Given every function's policies
    functions = {
        lid: res["Properties"]
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }

    # When the ledger writers among the steps are listed
    writers = {lid for lid, props in functions.items() if WRITE_LEDGER in props.get("Policies", [])}

    # Then they are the steps that call ledger.record_progress / record_outcome, and all are told the table
    assert writers == {
        "DispatchAgentFunction",
        "CheckParticipantsFunction",
        "RedispatchAgentFunction",
        "RecordOutcomeFunction",
    }
    assert template["Globals"]["Function"]["Environment"]["Variables"]["LEDGER_TABLE_NAME"] == LEDGER


def test_the_ledger_is_keyed_by_request_id_expires_and_outlives_the_stack(template: dict[str, Any]) -> None:
    # Given the ledger table
    table = template["Resources"]["DispatchLedgerTable"]
    properties = table["Properties"]

    # When its key, TTL and policies are read
    # Then the request id is the key, expires_at the TTL, and the table is retained
    assert properties["KeySchema"] == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_api_uses_iam_auth_unless_the_stack_asks_for_api_keys(template: dict[str, Any]) -> None:
    # Given the ApiAuth parameter and the API's Auth
    parameter = template["Parameters"]["ApiAuth"]
    auth = resource(template, "DispatchApi")["Auth"]

    # When they are read
    # Then AWS_IAM is the default; API_KEY requires a key and creates a usage plan
    assert (parameter["Default"], parameter["AllowedValues"]) == ("AWS_IAM", ["AWS_IAM", "API_KEY"])
    assert template["Conditions"]["UseApiKeys"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "API_KEY"]}
    assert auth["DefaultAuthorizer"] == {"Fn::If": ["UseApiKeys", {"Ref": "AWS::NoValue"}, "AWS_IAM"]}
    assert auth["ApiKeyRequired"] == {"Fn::If": ["UseApiKeys", True, False]}
    assert auth["UsagePlan"]["CreateUsagePlan"] == {"Fn::If": ["UseApiKeys", "PER_API", "NONE"]}
    # And SAM sees plain values: the language extensions resolve the conditions first
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
