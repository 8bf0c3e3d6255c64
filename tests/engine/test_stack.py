"""The local stack is what SAM deploys: SAM's own translation of the template, created in moto, with
each function's role enforced by moto's IAM."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from clocks import VirtualClock
from local_engine import ExecutionResult, LocalEngine, acting_as
from local_engine.stack import Stack, TemplateRefused, Translated, creation_order, substitute, translate
from tests.engine.conftest import FIXTURE_TEMPLATE, LIVEKIT


def fixture_copy(tmp_path: Path, edit: tuple[str, str]) -> Path:
    """The fixture template beside its code in ``tmp_path``, with one text replaced."""
    shutil.copytree(FIXTURE_TEMPLATE.parent, tmp_path, dirs_exist_ok=True)
    template = tmp_path / "template.yaml"
    text = template.read_text()
    assert edit[0] in text
    template.write_text(text.replace(*edit))
    return template


def test_functions_are_sams_translation_each_with_a_role_of_its_own() -> None:
    # Given the fixture template (AWS::Serverless::Function with Globals and policy templates)
    # When SAM translates it
    translated = translate(FIXTURE_TEMPLATE)

    # Then each function is a plain AWS::Lambda::Function with Globals merged, a role SAM made, and
    # code packaged from its CodeUri beside the template
    functions = translated.resources("AWS::Lambda::Function")
    assert set(functions) == {
        "FlakyFunction",
        "PermanentFunction",
        "ParkFunction",
        "EscalateFunction",
        "SizedFunction",
        "HoldFunction",
        "OversizeFunction",
    }
    escalate = functions["EscalateFunction"]["Properties"]
    assert escalate["Handler"] == "engine_fixture.handlers.escalate"
    assert (
        escalate["Timeout"],
        escalate["MemorySize"],
        functions["FlakyFunction"]["Properties"]["MemorySize"],
    ) == (
        10,
        512,
        256,
    )
    assert escalate["Role"] == {"Fn::GetAtt": ["EscalateFunctionRole", "Arn"]}
    assert translated.resources("AWS::IAM::Role")["EscalateFunctionRole"]["Properties"]["Policies"]
    location = f"s3://{escalate['Code']['S3Bucket']}/{escalate['Code']['S3Key']}"
    assert Path(translated.artifacts[location]) == FIXTURE_TEMPLATE.parent / "src"


def test_a_template_sams_transform_refuses_is_refused_with_sams_message(tmp_path: Path) -> None:
    # Given an API event that opts out of an authorizer the API does not have (issue 11's defect)
    template = fixture_copy(
        tmp_path,
        (
            "      Handler: engine_fixture.handlers.park\n",
            "      Handler: engine_fixture.handlers.park\n      Events:\n        Hook:\n          Type: Api\n"
            "          Properties: {Path: /hook, Method: post, Auth: {Authorizer: NONE}}\n",
        ),
    )

    # When it is translated, Then SAM's refusal is the engine's
    with pytest.raises(TemplateRefused, match="'NONE' is only a valid value when a DefaultAuthorizer"):
        translate(template)


def test_parameters_are_checked_as_cloudformation_checks_them(tmp_path: Path) -> None:
    # Given a parameter with allowed values
    template = fixture_copy(
        tmp_path, ("    Default: test\n", "    Default: test\n    AllowedValues: [test, prod]\n")
    )

    # When a value outside them is given, or a parameter the template lacks
    # Then CloudFormation's refusal names it
    with pytest.raises(TemplateRefused, match="'Stage' must be one of AllowedValues"):
        translate(template, {"Stage": "staging"})
    with pytest.raises(TemplateRefused, match="Nope"):
        translate(template, {"Nope": "x"})
    assert translate(template, {"Stage": "prod"}).parameters["Stage"] == "prod"


def test_intrinsics_resolve_to_the_stacks_values() -> None:
    # Given a stack with a bus, a function ARN, a parameter and a condition on it
    translated = Translated(
        template={"Resources": {}, "Conditions": {"IsDev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]}}},
        artifacts={},
        parameters={"Stage": "dev"},
        pseudo={"AWS::Region": "eu-west-1"},
    )
    stack = Stack(translated=translated, region="eu-west-1")
    stack.refs.update(Bus="bus-dev")
    stack.attributes[("Fn", "Arn")] = "arn:aws:lambda:eu-west-1:123456789012:function:Fn"

    # When intrinsics are resolved, Then they are the local names and ARNs
    assert stack.resolve({"Ref": "Bus"}) == "bus-dev"
    assert stack.resolve({"Fn::GetAtt": ["Fn", "Arn"]}).endswith(":function:Fn")
    assert stack.resolve({"Fn::Sub": "${Stage}-${AWS::Region}-${Fn.Arn}"}).startswith("dev-eu-west-1-arn:")
    assert stack.resolve({"Fn::Sub": ["${X}/${Stage}", {"X": {"Ref": "Bus"}}]}) == "bus-dev/dev"
    assert stack.resolve({"Fn::Sub": "${!Literal}"}) == "${Literal}"
    assert stack.resolve({"Fn::If": ["IsDev", "a", "b"]}) == "a"
    assert stack.resolve({"k": {"Fn::If": ["IsDev", {"Ref": "AWS::NoValue"}, 1]}}) == {}
    with pytest.raises(TemplateRefused, match="Nope"):
        stack.resolve({"Ref": "Nope"})


def test_resources_are_created_after_what_they_reference_and_a_cycle_is_refused() -> None:
    # Given B references A by GetAtt and C depends on B
    resources = {
        "C": {"Type": "T", "DependsOn": "B"},
        "B": {"Type": "T", "Properties": {"X": {"Fn::Sub": "${A.Arn}"}}},
        "A": {"Type": "T"},
    }
    # Then the order follows the references, and a cycle is refused
    assert creation_order(resources) == ["A", "B", "C"]
    resources["A"]["Properties"] = {"Y": {"Ref": "C"}}
    with pytest.raises(TemplateRefused, match="Circular dependency"):
        creation_order(resources)


def test_definition_with_an_unfilled_variable_is_refused() -> None:
    with pytest.raises(TemplateRefused, match="no DefinitionSubstitutions for B"):
        substitute('{"a": "${A}", "b": "${B}"}', {"A": "x"})


def test_state_machine_is_created_with_every_variable_substituted(engine: LocalEngine) -> None:
    # Given the engine started from the fixture template
    # When its state machine is read back from moto
    described = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=engine.state_machine_arn)

    # Then every ${Var} is the function's ARN, and it runs as the role SAM made for it
    definition = described["definition"]
    assert "${" not in definition
    assert '"Resource": "arn:aws:lambda:us-east-1:123456789012:function:PermanentFunction"' in definition
    assert ":role/local-FlowRole-" in described["roleArn"]


def test_table_is_built_from_the_templates_own_definition(engine: LocalEngine) -> None:
    # Given the fixture's Ledger table (pk/sk, GSI by-room, TTL on expires_at, on demand)
    dynamodb = boto3.client("dynamodb")
    assert engine.stack is not None
    name = engine.stack.tables["Ledger"]

    # When it is described in moto
    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    # Then it is the template's table
    keys = [(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]]
    assert keys == [("pk", "HASH"), ("sk", "RANGE")]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-room"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expires_at", "ENABLED")


def test_named_resources_take_their_names_from_resolved_properties(engine: LocalEngine) -> None:
    # Given a bus named !Sub "engine-fixture-${Stage}" with Stage defaulting to "test"
    # Then the bus exists under that name
    assert engine.stack is not None
    assert engine.stack.buses == {"EscalationBus": "engine-fixture-test"}
    boto3.client("events").describe_event_bus(Name="engine-fixture-test")


def test_a_handler_may_do_what_its_role_allows_and_nothing_else(engine: LocalEngine) -> None:
    # Given the escalate function's role (SNSPublishMessagePolicy on the topic) and the park
    # function's (no policy of its own)
    assert engine.stack is not None
    topic = engine.stack.topics["EscalationTopic"]
    escalate, park = engine.function("EscalateFunction"), engine.function("ParkFunction")

    # When each publishes to the topic with its own credentials
    with acting_as(escalate.credentials):
        boto3.client("sns").publish(TopicArn=topic, Message="allowed")
    with acting_as(park.credentials), pytest.raises(ClientError) as refused:
        boto3.client("sns").publish(TopicArn=topic, Message="refused")

    # Then only the one whose role allows sns:Publish on that topic gets through
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AuthorizationError")
    with acting_as(escalate.credentials), pytest.raises(ClientError):
        boto3.client("sns").publish(TopicArn=topic.replace("Escalation", "Other"), Message="other topic")


def escalation_without(tmp_path: Path, policy_line: str) -> ExecutionResult:
    """The fixture's escalate scenario, run on a stack whose template lacks ``policy_line``."""
    template = fixture_copy(tmp_path, (policy_line, ""))
    with LocalEngine(VirtualClock(), LIVEKIT, template_path=template) as engine:
        return engine.run({"scenario": "escalate", "room": "room-denied"})


def test_a_step_whose_policy_lacks_an_action_it_calls_fails_the_execution(tmp_path: Path) -> None:
    # Given the escalate function without the EventBridge permission its code needs
    # When it escalates
    result = escalation_without(
        tmp_path, "        - EventBridgePutEventsPolicy: { EventBusName: !Ref EscalationBus }\n"
    )

    # Then PutEvents is refused and the step fails with that error, as on AWS
    assert result.status == "FAILED"
    assert "not authorized to perform: events:PutEvents" in (result.cause or "")


def test_the_state_machine_invokes_only_functions_its_role_allows(tmp_path: Path) -> None:
    # Given a state machine role without lambda:InvokeFunction on the escalate function
    # When the flow reaches it
    result = escalation_without(
        tmp_path, "        - LambdaInvokePolicy: { FunctionName: !Ref EscalateFunction }\n"
    )

    # Then Lambda refuses Step Functions (403 AccessDeniedException) as it would on AWS
    assert result.status == "FAILED"
    assert "is not authorized to perform: lambda:InvokeFunction" in (result.cause or "")
    assert ":function:EscalateFunction" in (result.cause or "")
