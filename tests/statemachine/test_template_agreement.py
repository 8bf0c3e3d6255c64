"""Template, definition and handlers agree: every ${Var} is filled, every task's function exists, imports."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from .conftest import ROOT, load_template

VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
FUNCTION_ARN = re.compile(r"^\$\{([A-Za-z0-9]+Function)Arn\}$")

EXPECTED_FUNCTIONS = {
    "DispatchAgentFunction": "dispatch_agent",
    "CheckParticipantsFunction": "check_participants",
    "RedispatchAgentFunction": "redispatch_agent",
    "EscalateFunction": "escalate",
    "RecordOutcomeFunction": "record_outcome",
    "DialCalleeFunction": "dial_callee",
    "CloseRoomFunction": "close_room",
}
# Functions no state invokes: the API and the LiveKit webhook, behind API Gateway.
NOT_STEPS = {"DispatchApiFunction": "api", "LiveKitWebhookFunction": "livekit_webhook"}


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def task_function(task: dict[str, Any]) -> str:
    """The logical id of the function a Lambda task invokes, from its ``${XxxFunctionArn}``."""
    match = FUNCTION_ARN.match(task["Parameters"]["FunctionName"])
    assert match, f"FunctionName {task['Parameters']['FunctionName']!r} is not a ${{XxxFunctionArn}}"
    return match.group(1)


def test_the_definition_file_exists_beside_the_template(state_machine: dict[str, Any]) -> None:
    # Given the state machine resource
    # When its DefinitionUri is followed
    # Then it names the ASL file in statemachine/
    assert state_machine["DefinitionUri"] == "statemachine/dispatch_verify.asl.json"
    assert (ROOT / state_machine["DefinitionUri"]).is_file()
    assert state_machine["Type"] == "STANDARD"


def test_every_variable_is_substituted_and_every_substitution_is_used(
    asl_text: str, state_machine: dict[str, Any]
) -> None:
    # Given the ${Var}s of the definition and the DefinitionSubstitutions of the template
    used = set(VARIABLE.findall(asl_text))
    substituted = set(state_machine["DefinitionSubstitutions"])

    # When they are compared
    # Then they are the same names
    assert used - substituted == set(), "variables without a substitution"
    assert substituted - used == set(), "substitutions nothing uses"


def test_the_definition_hard_codes_no_arn(lambda_tasks: dict[str, dict[str, Any]], asl_text: str) -> None:
    # Given the definition
    # When the ARNs in it are listed
    arns = re.findall(r'"(arn:[^"]*)"', asl_text)

    # Then the only literal ARNs are the service integrations (Lambda; DynamoDB for the wait, SNS for
    # the page, EventBridge for the announcement); functions, tables, the topic and the bus come from
    # ${Var}s
    assert set(arns) == {
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken",
        "arn:aws:states:::sns:publish",
        "arn:aws:states:::events:putEvents",
    }
    assert all(FUNCTION_ARN.match(task["Parameters"]["FunctionName"]) for task in lambda_tasks.values())


def test_every_lambda_task_invokes_a_function_of_the_template(
    lambda_tasks: dict[str, dict[str, Any]], template: dict[str, Any], state_machine: dict[str, Any]
) -> None:
    # Given the functions of the template
    functions = functions_of(template)

    # When each Lambda task's ${XxxFunctionArn} is followed through DefinitionSubstitutions
    for name, task in lambda_tasks.items():
        logical_id = task_function(task)
        substitution = state_machine["DefinitionSubstitutions"][f"{logical_id}Arn"]

        # Then it is the ARN of that function, which the template declares
        assert substitution == {"Fn::GetAtt": [logical_id, "Arn"]}, name
        assert logical_id in functions, name

    # And every function of the template is used by exactly one task
    assert sorted(task_function(task) for task in lambda_tasks.values()) == sorted(
        set(functions) - set(NOT_STEPS)
    )
    assert set(functions) == set(EXPECTED_FUNCTIONS) | set(NOT_STEPS)


def test_the_state_machine_may_invoke_each_function_it_uses_and_no_other(
    lambda_tasks: dict[str, dict[str, Any]], state_machine: dict[str, Any]
) -> None:
    # Given the state machine's policies
    invokable = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in state_machine["Policies"]
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    }

    # When they are compared with the functions the tasks invoke
    # Then they match (least privilege, nothing missing)
    assert invokable == {task_function(task) for task in lambda_tasks.values()}


@pytest.mark.parametrize(("logical_id", "module"), sorted({**EXPECTED_FUNCTIONS, **NOT_STEPS}.items()))
def test_every_handler_string_imports(logical_id: str, module: str) -> None:
    # Given a function of the template (CodeUri functions/, which pytest puts on sys.path)
    properties = functions_of(load_template())[logical_id]
    handler = properties["Handler"]
    assert handler == f"dispatch_verify.handlers.{module}.lambda_handler"

    # When its Handler string is imported the way the Lambda runtime does
    module_name, _, attribute = handler.rpartition(".")
    entry_point = getattr(importlib.import_module(module_name), attribute, None)

    # Then it names a callable
    assert callable(entry_point), handler


def test_functions_ship_the_functions_package(template: dict[str, Any]) -> None:
    # Given the template's Globals
    defaults = template["Globals"]["Function"]

    # When the code location and runtime are read
    # Then every function ships functions/ (with its requirements.txt) on Python 3.13, arm64
    assert defaults["CodeUri"] == "functions/"
    assert (ROOT / "functions" / "requirements.txt").is_file()
    assert (defaults["Runtime"], defaults["Architectures"]) == ("python3.13", ["arm64"])
    assert all("CodeUri" not in props for props in functions_of(template).values())


def test_functions_and_the_state_machine_are_told_where_the_secret_topic_and_bus_are(
    template: dict[str, Any],
) -> None:
    # Given the environment every function gets, and the state machine's substitutions
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    machine = template["Resources"]["DispatchVerifyStateMachine"]["Properties"]["DefinitionSubstitutions"]

    # When the variables configuration reads are looked up
    # Then they point at the secret parameter and the bus (the API announces a cancel); the state
    # machine, which pages and announces every other outcome, at the topic and the bus
    assert variables["LIVEKIT_SECRET_ARN"] == {"Ref": "LiveKitSecretArn"}
    assert "ESCALATION_TOPIC_ARN" not in variables  # no function publishes to the topic
    assert variables["EVENT_BUS_NAME"] == {"Ref": "EscalationBus"}
    assert machine["EscalationTopicArn"] == {"Ref": "EscalationTopic"}
    assert machine["EventBusName"] == {"Ref": "EscalationBus"}
    assert template["Resources"]["EscalationTopic"]["Type"] == "AWS::SNS::Topic"
    assert template["Resources"]["EscalationBus"]["Type"] == "AWS::Events::EventBus"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "dispatch-verify"


def test_only_the_functions_that_talk_to_livekit_may_read_its_secret(template: dict[str, Any]) -> None:
    # Given the functions' policies
    readers = {
        logical_id
        for logical_id, props in functions_of(template).items()
        for policy in props.get("Policies", [])
        if isinstance(policy, dict)
        and policy.get("AWSSecretsManagerGetSecretValuePolicy") == {"SecretArn": {"Ref": "LiveKitSecretArn"}}
    }

    # When they are compared with the steps that call LiveKit
    # Then exactly those may read the secret
    assert readers == {
        "LiveKitWebhookFunction",  # verifies LiveKit's webhook signatures with the API secret
        "DispatchAgentFunction",
        "CheckParticipantsFunction",
        "RedispatchAgentFunction",
        "CloseRoomFunction",
        "DialCalleeFunction",
        "DispatchApiFunction",  # a cancel deletes the request's dispatches (and room) in LiveKit
    }


def test_only_the_state_machine_pages_and_only_it_and_the_api_announce(template: dict[str, Any]) -> None:
    # Given the functions' policies and the state machine's
    policies = {logical_id: props.get("Policies", []) for logical_id, props in functions_of(template).items()}
    machine = template["Resources"]["DispatchVerifyStateMachine"]["Properties"]["Policies"]

    # When the publishing policies are looked up
    publishers = {
        logical_id
        for logical_id, items in policies.items()
        for policy in items
        if isinstance(policy, dict)
        and set(policy) & {"SNSPublishMessagePolicy", "EventBridgePutEventsPolicy"}
    }

    # Then no function pages (the state machine's "Page on-call" does), only the API announces (a
    # cancel), and the state machine publishes to this template's topic and bus
    assert publishers == {"DispatchApiFunction"}
    bus = {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EscalationBus"}}}
    assert bus in policies["DispatchApiFunction"]
    topic = {"TopicName": {"Fn::GetAtt": ["EscalationTopic", "TopicName"]}}
    assert {"SNSPublishMessagePolicy": topic} in machine
    assert bus in machine


def test_escalations_are_encrypted_with_the_stacks_rotating_key_which_the_pager_may_use(
    template: dict[str, Any],
) -> None:
    # Given the topic, the key and the state machine (its "Page on-call" publishes)
    resources = template["Resources"]
    topic, key = resources["EscalationTopic"]["Properties"], resources["DispatchVerifyKey"]
    machine = resources["DispatchVerifyStateMachine"]["Properties"]

    # When the key's policy and the state machine's KMS statements are read
    policy = {statement["Sid"]: statement for statement in key["Properties"]["KeyPolicy"]["Statement"]}
    kms = [
        s
        for p in machine["Policies"]
        if "Statement" in p
        for s in p["Statement"]
        if any(str(a).startswith("kms:") for a in s["Action"])
    ]

    # Then the topic is encrypted with a customer managed key that rotates, which the account
    # administers, which CloudWatch alarms, EventBridge and SNS may use to publish, and with which
    # the state machine (the one publisher) may generate data keys and decrypt
    assert key["Type"] == "AWS::KMS::Key"
    assert topic["KmsMasterKeyId"] == {"Ref": "DispatchVerifyKey"}
    assert key["Properties"]["EnableKeyRotation"] is True
    root = policy["AccountAdministers"]
    assert (root["Principal"], root["Action"]) == (
        {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
        "kms:*",
    )
    publishers = policy["ServicesPublishToTheTopic"]
    assert set(publishers["Principal"]["Service"]) == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "sns.amazonaws.com",
    }
    assert set(publishers["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert kms == [
        {
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": {"Fn::GetAtt": ["DispatchVerifyKey", "Arn"]},
        }
    ]


def test_the_stacks_log_groups_expire_and_are_encrypted_with_its_key(template: dict[str, Any]) -> None:
    # Given the template's log groups
    resources = template["Resources"]
    groups = {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}

    # When their retention and key are read
    # Then both (the state machine's and the API's access log) expire and use the stack's key, which
    # lets CloudWatch Logs use it for this account's log groups only
    assert set(groups) == {"DispatchVerifyLogGroup", "ApiAccessLogGroup"}
    for properties in groups.values():
        assert properties["RetentionInDays"] == 30
        assert properties["KmsKeyId"] == {"Fn::GetAtt": ["DispatchVerifyKey", "Arn"]}
    key = template["Resources"]["DispatchVerifyKey"]["Properties"]["KeyPolicy"]
    (logs,) = [s for s in key["Statement"] if s["Sid"] == "LogsEncryptThisStacksLogGroups"]
    assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
    }


def test_the_stack_outputs_what_a_caller_and_an_operator_need(template: dict[str, Any]) -> None:
    # Given the template's outputs
    outputs = {name: output["Value"] for name, output in template["Outputs"].items()}

    # When they are read
    # Then they name the state machine to start, the URLs to call and to give LiveKit for its
    # webhooks, the topic and bus escalations arrive on, and where undelivered events are kept
    assert outputs == {
        "DispatchApiUrl": {
            "Fn::Sub": "https://${DispatchApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/dispatches"
        },
        "LiveKitWebhookUrl": {
            "Fn::Sub": "https://${DispatchApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/livekit/webhook"
        },
        "DispatchLedgerTableName": {"Ref": "DispatchLedgerTable"},
        "DashboardUrl": {
            "Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
            "?region=${AWS::Region}#dashboards:name=${DispatchVerifyDashboard}"
        },
        "DispatchVerifyStateMachineArn": {"Ref": "DispatchVerifyStateMachine"},
        "EscalationTopicArn": {"Ref": "EscalationTopic"},
        "EscalationBusName": {"Ref": "EscalationBus"},
        "OutcomeDeliveryDeadLetterQueueUrl": {"Ref": "OutcomeDeliveryDeadLetters"},
        "LiveKitWebhookDeadLetterQueueUrl": {"Ref": "LiveKitWebhookDeadLetters"},
    }
