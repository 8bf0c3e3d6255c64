"""The template is read as SAM/CloudFormation means it, and its resources are built from it in moto."""

from __future__ import annotations

import boto3
import pytest

from sandbox.runner import LocalEngine
from sandbox.template import Stack, Template, substitute
from tests.engine.conftest import FIXTURE_TEMPLATE


def test_short_form_intrinsics_load_as_their_long_form() -> None:
    # Given a template written with !Ref, !GetAtt and !Sub
    # When it is loaded
    template = Template.load(FIXTURE_TEMPLATE)

    # Then the tags are CloudFormation's long forms
    env = template.functions()["EscalateFunction"].environment
    assert env["TOPIC_ARN"] == {"Ref": "EscalationTopic"}
    assert env["TABLE_ARN"] == {"Fn::GetAtt": ["Ledger", "Arn"]}
    assert env["GREETING"] == {"Fn::Sub": "hello from ${AWS::Region} (${Stage})"}


def test_functions_merge_globals_with_their_own_properties() -> None:
    # Given Globals.Function (10 s, 256 MB, CodeUri src/, two variables) and a function overriding memory
    # When the functions are listed
    functions = Template.load(FIXTURE_TEMPLATE).functions()

    # Then each has the handler, the merged environment and the right sizes, CodeUri beside the template
    escalate = functions["EscalateFunction"]
    assert escalate.handler == "engine_fixture.handlers.escalate"
    assert escalate.code_uri == FIXTURE_TEMPLATE.parent / "src"
    assert (escalate.timeout_s, escalate.memory_mb) == (10, 512)
    assert functions["FlakyFunction"].memory_mb == 256
    assert {"POWERTOOLS_SERVICE_NAME", "STAGE", "TOPIC_ARN"} <= set(escalate.environment)
    assert set(functions) == {"FlakyFunction", "PermanentFunction", "ParkFunction", "EscalateFunction"}


def test_intrinsics_resolve_to_local_values() -> None:
    # Given a stack with a function, a topic, a bus and a parameter
    stack = Stack(region="eu-west-1", parameters={"Stage": "dev"})
    stack.refs.update(Bus="bus-dev", Topic="arn:aws:sns:eu-west-1:123456789012:Topic")
    stack.attributes[("Fn", "Arn")] = "arn:aws:lambda:eu-west-1:123456789012:function:Fn"

    # When intrinsics are resolved
    # Then they are the local names and ARNs
    assert stack.resolve({"Ref": "Bus"}) == "bus-dev"
    assert stack.resolve({"Fn::GetAtt": ["Fn", "Arn"]}).endswith(":function:Fn")
    assert stack.resolve({"Fn::Sub": "${Stage}-${AWS::Region}-${Fn.Arn}"}).startswith("dev-eu-west-1-arn:")
    assert stack.resolve({"Fn::Sub": ["${X}/${Stage}", {"X": {"Ref": "Bus"}}]}) == "bus-dev/dev"
    assert stack.resolve({"Fn::Join": ["-", [{"Ref": "Stage"}, "x"]]}) == "dev-x"
    with pytest.raises(KeyError, match="Nope"):
        stack.resolve({"Ref": "Nope"})


def test_definition_with_an_unfilled_variable_is_refused() -> None:
    # Given an ASL naming ${A} and ${B} and substitutions for A only
    # When it is substituted
    # Then the missing variable is named
    with pytest.raises(ValueError, match="no DefinitionSubstitutions for B"):
        substitute('{"a": "${A}", "b": "${B}"}', {"A": "x"})


def test_state_machine_is_created_with_every_variable_substituted(engine: LocalEngine) -> None:
    # Given the engine started from the fixture template
    # When its state machine is read back from moto
    definition = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=engine.state_machine_arn
    )["definition"]

    # Then every ${Var} is the local function ARN
    assert "${" not in definition
    assert "arn:aws:lambda:us-east-1:123456789012:function:FlakyFunction" in definition
    assert '"Resource": "arn:aws:lambda:us-east-1:123456789012:function:PermanentFunction"' in definition


def test_table_is_built_from_the_templates_own_definition(engine: LocalEngine) -> None:
    # Given the fixture's Ledger table (pk/sk, GSI by-room, TTL on expires_at, on demand)
    dynamodb = boto3.client("dynamodb")

    # When it is described in moto
    table = dynamodb.describe_table(TableName="Ledger")["Table"]
    ttl = dynamodb.describe_time_to_live(TableName="Ledger")["TimeToLiveDescription"]

    # Then it is the template's table
    keys = [(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]]
    assert keys == [("pk", "HASH"), ("sk", "RANGE")]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-room"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expires_at", "ENABLED")


def test_named_resources_take_their_names_from_resolved_properties(engine: LocalEngine) -> None:
    # Given a bus named !Sub "engine-fixture-${Stage}" with Stage defaulting to "test"
    # Then the bus exists under that name, and the Ref that the functions see is it
    assert engine.stack is not None
    assert engine.stack.buses == {"EscalationBus": "engine-fixture-test"}
    boto3.client("events").describe_event_bus(Name="engine-fixture-test")
