"""The names the code and the template share (dispatch_verify/names.py) are the template's."""

from __future__ import annotations

from dispatch_verify import names

from local_engine import translate

from .conftest import TEMPLATE_PATH


def test_the_template_sets_exactly_the_environment_the_code_reads() -> None:
    # Given the functions as SAM deploys them
    functions = translate(TEMPLATE_PATH).resources("AWS::Lambda::Function").values()

    # When their environment variables are gathered
    variables = {
        name for function in functions for name in function["Properties"]["Environment"]["Variables"]
    }

    # Then they are the variables names.py declares, no more and no fewer
    assert variables == names.TEMPLATE_ENVIRONMENT


def test_the_logical_ids_the_code_names_are_the_templates() -> None:
    resources = translate(TEMPLATE_PATH).resources()
    named = {
        names.STATE_MACHINE: "AWS::StepFunctions::StateMachine",
        names.LEDGER_TABLE: "AWS::DynamoDB::Table",
        names.WAIT_TABLE: "AWS::DynamoDB::Table",
        names.WEBHOOK_EVENT_TABLE: "AWS::DynamoDB::Table",
        names.ESCALATION_TOPIC: "AWS::SNS::Topic",
        names.ESCALATION_BUS: "AWS::Events::EventBus",
        names.API_FUNCTION: "AWS::Lambda::Function",
        names.WEBHOOK_FUNCTION: "AWS::Lambda::Function",
    }
    assert {lid: resources[lid]["Type"] for lid in named} == named
