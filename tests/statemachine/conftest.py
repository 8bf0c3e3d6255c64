"""The state machine definition and the SAM template, loaded as they ship, plus small views over them.

The template is read with a YAML loader that knows CloudFormation's short tags (``!Ref``, ``!GetAtt``,
``!Sub``...) and turns them into their long form, so tests can follow references without AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import stack_view

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
STATE_MACHINE_ID = "DispatchVerifyStateMachine"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
# The one callback task, the wait, resumed by a webhook or its timeout: a DynamoDB write, no Lambda.
AWAIT_RESOURCE = "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken"
AWAIT_STATE = "Await agent"
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template with CloudFormation's short tags in their long form (bench.stack_view's loader,
    the one the benchmarks read the template with)."""
    return stack_view.load_template(path)


def iter_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches and Map processors."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from iter_states(state[key]["States"])


def transitions(state: dict[str, Any]) -> list[str]:
    """The names a state can go to next: Next, Choice rules and Default, Catch targets."""
    targets = [state["Next"]] if "Next" in state else []
    targets += [rule["Next"] for rule in state.get("Choices", [])]
    targets += [state["Default"]] if "Default" in state else []
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def state_machine(template: dict[str, Any]) -> dict[str, Any]:
    """The properties of the AWS::Serverless::StateMachine that runs the workflow."""
    resource = template["Resources"][STATE_MACHINE_ID]
    assert resource["Type"] == "AWS::Serverless::StateMachine"
    properties = resource["Properties"]
    assert isinstance(properties, dict)
    return properties


@pytest.fixture(scope="session")
def asl_path(state_machine: dict[str, Any]) -> Path:
    return ROOT / str(state_machine["DefinitionUri"])


@pytest.fixture(scope="session")
def asl_text(asl_path: Path) -> str:
    return asl_path.read_text()


@pytest.fixture(scope="session")
def asl(asl_text: str) -> dict[str, Any]:
    definition = json.loads(asl_text)
    assert isinstance(definition, dict)
    return definition


@pytest.fixture(scope="session")
def states(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(iter_states(asl["States"]))


@pytest.fixture(scope="session")
def lambda_tasks(states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in states.items()
        if state["Type"] == "Task" and state["Resource"].startswith(LAMBDA_INVOKE)
    }
