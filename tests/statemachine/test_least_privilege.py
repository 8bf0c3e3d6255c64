"""Least privilege, read from the roles SAM's own translator makes of template.yaml: each function may do
what its code calls (tests/statemachine/actions_used.py) and nothing more; the state machine may invoke
its own steps and nothing else. (That each role allows enough is proven by the integration specs,
where moto's IAM refuses what a role does not grant.)"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from local_engine import Translated, translate

from .actions_used import ACTIONS_USED, STATE_MACHINE_ACTIONS
from .conftest import TEMPLATE_PATH

# What SAM attaches to every function (its own logs; X-Ray with Tracing: Active), not the code's doing.
SAM_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
COMBINATIONS = [
    {"ApiAuth": auth, "LiveKitWebhooks": webhooks}
    for auth, webhooks in itertools.product(["AWS_IAM", "API_KEY"], ["Enabled", "Disabled"])
]


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies") or []
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def role_of(translated: Translated, function: str) -> dict[str, Any]:
    role_id = translated.resources("AWS::Lambda::Function")[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return translated.resources("AWS::IAM::Role")[role_id]


@pytest.fixture(scope="module", params=COMBINATIONS, ids=lambda p: f"{p['ApiAuth']}-{p['LiveKitWebhooks']}")
def translated(request: pytest.FixtureRequest) -> Translated:
    return translate(TEMPLATE_PATH, request.param)


def test_every_function_is_held_to_a_list_of_what_its_code_calls(translated: Translated) -> None:
    # Given the deployed functions, Then each has its list (a new function needs one)
    assert set(translated.resources("AWS::Lambda::Function")) == set(ACTIONS_USED)


@pytest.mark.parametrize("function", sorted(ACTIONS_USED))
def test_a_functions_role_grants_exactly_the_actions_its_code_calls(
    translated: Translated, function: str
) -> None:
    # Given the role SAM made for the function
    role = role_of(translated, function)

    # When its inline statements are read
    granted = set().union(*(actions(statement) for statement in statements(role)))

    # Then nothing beyond what the code calls (an unused grant is a risk), and nothing missing
    assert granted - ACTIONS_USED[function] == set(), f"{function} is granted actions its code never calls"
    assert ACTIONS_USED[function] - granted == set(), f"{function} calls actions its role does not grant"
    assert set(role["Properties"].get("ManagedPolicyArns") or []) <= SAM_MANAGED
    assert all(
        statement["Effect"] == "Allow" and statement["Resource"] != "*" for statement in statements(role)
    )


def test_the_state_machine_may_invoke_its_own_steps_and_no_other_function(translated: Translated) -> None:
    # Given the state machine's role and the functions its definition names
    machine = translated.resources("AWS::StepFunctions::StateMachine")["DispatchVerifyStateMachine"]
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    steps = {
        value["Fn::GetAtt"][0]
        for value in machine["Properties"]["DefinitionSubstitutions"].values()
        if "Fn::GetAtt" in value
    }

    # When its lambda:InvokeFunction statements are read
    invoked = {
        resource["Fn::Sub"][1]["functionName"]["Ref"]
        for statement in statements(translated.resources("AWS::IAM::Role")[role_id])
        if "lambda:InvokeFunction" in actions(statement)
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    }
    others = {
        action
        for statement in statements(translated.resources("AWS::IAM::Role")[role_id])
        for action in actions(statement)
    } - {"lambda:InvokeFunction"}

    # Then exactly its steps, and besides invoking, only the vended log delivery its logging needs and
    # the two outward effects its service integration states make
    assert invoked == steps
    assert not {"DispatchApiFunction", "LiveKitWebhookFunction"} & invoked
    assert {a for a in others if not a.startswith("logs:")} == STATE_MACHINE_ACTIONS
