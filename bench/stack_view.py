"""What the start-up benchmark reads from template.yaml and the ASL: each function's handler and the
environment a deployed function has, and the chain of functions a request crosses before CreateDispatch.

Read as they ship, so the benchmark follows the state machine when it changes: the chain is
``DispatchApiFunction`` (the API starts the execution) and then every Lambda state from the ASL's
``StartAt``, following ``Next``, up to and including ``DISPATCH_STATE``, each mapped to its function
through ``DefinitionSubstitutions`` and to its handler through the function's ``Handler``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dispatch_verify import names

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"
ASL_PATH = ROOT / "statemachine" / "dispatch_verify.asl.json"
DISPATCH_STATE = "Dispatch agent"  # the state whose function sends CreateDispatch
LAMBDA_RESOURCES = ("arn:aws:states:::lambda:invoke", "arn:aws:states:::lambda:invoke.waitForTaskToken")
# What the Lambda runtime adds to a function's environment (no credentials: nothing is called at import
# time; the chain's processes get moto's). LAMBDA_TASK_ROOT is how Powertools knows it runs in Lambda.
RUNTIME_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "LAMBDA_TASK_ROOT": "/var/task",
}
# Stand-ins for values the template takes from resources (ARNs, names): nothing reads them at import.
STAND_INS = {
    names.LIVEKIT_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:dispatch-verify/livekit",
    names.EVENT_BUS_NAME: "dispatch-verify",
    names.LEDGER_TABLE_NAME: "dispatch-verify-ledger",
    names.WAIT_TABLE_NAME: "dispatch-verify-waits",
    names.WEBHOOK_EVENT_TABLE_NAME: "dispatch-verify-webhook-events",
    names.STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:dispatch-verify",
}


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader plus CloudFormation's short tags, turned into their long form (``!Ref x`` ->
    ``{"Ref": "x"}``, ``!If [...]`` -> ``{"Fn::If": [...]}``)."""


def _long_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _long_form)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader
    assert isinstance(document, dict)
    return document


def load_asl(path: Path = ASL_PATH) -> dict[str, Any]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict)
    return document


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str  # "dispatch_verify.handlers.api.lambda_handler"

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def short(self) -> str:
        """The handler's module name within dispatch_verify.handlers ("api")."""
        return self.module.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Step:
    """One function invocation on the way to CreateDispatch: the API's, or a Lambda state's."""

    state: str | None  # None: the API function, which starts the execution
    function: Function


def functions(template: dict[str, Any]) -> list[Function]:
    """Every Python function of the template, in the template's order."""
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            handler = resource.get("Properties", {}).get("Handler")
            if isinstance(handler, str):
                found.append(Function(logical_id, handler))
    return found


def function_environment(template: dict[str, Any], logical_id: str) -> dict[str, str]:
    """The environment the template gives ``logical_id`` (Globals, then its own), plus the runtime's.

    A literal stays as written; a ``Ref`` to a parameter is its default; ``Fn::If`` follows its
    condition under the parameters' defaults; anything else (a resource's ARN or name) is a stand-in.
    """
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    conditions = template.get("Conditions", {})
    variables = {
        **template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **template["Resources"][logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {}),
    }
    env = dict(RUNTIME_ENV)
    env["AWS_LAMBDA_FUNCTION_NAME"] = f"dispatch-verify-{logical_id}"
    for name, value in variables.items():
        resolved = _value(value, parameters, conditions)
        env[name] = resolved if resolved is not None else STAND_INS.get(name, f"stand-in-{name.lower()}")
    return env


def _value(node: Any, parameters: dict[str, str], conditions: dict[str, Any]) -> str | None:
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, dict) and list(node) == ["Ref"] and node["Ref"] in parameters:
        return parameters[node["Ref"]]
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        condition, if_true, if_false = node["Fn::If"]
        chosen = if_true if _holds({"Condition": condition}, parameters, conditions) else if_false
        return _value(chosen, parameters, conditions)
    return None


def _holds(node: Any, parameters: dict[str, str], conditions: dict[str, Any]) -> bool:
    (function, argument), *_ = node.items()
    if function == "Condition":
        return _holds(conditions[argument], parameters, conditions)
    if function == "Fn::Equals":
        left, right = (_value(a, parameters, conditions) for a in argument)
        return left is not None and left == right
    if function == "Fn::Not":
        return not _holds(argument[0], parameters, conditions)
    if function == "Fn::And":
        return all(_holds(a, parameters, conditions) for a in argument)
    if function == "Fn::Or":
        return any(_holds(a, parameters, conditions) for a in argument)
    raise ValueError(f"condition {function} is not followed here")


def chain_to_dispatch(asl: dict[str, Any], template: dict[str, Any]) -> list[Step]:
    """The invocations from a request to CreateDispatch: the API function, then each Lambda state from
    ``StartAt`` along ``Next`` (the success path) up to and including ``DISPATCH_STATE``.

    Only Task and Pass states may come before it: a Choice, a Parallel or an end on the way is an
    error here, not a guess.
    """
    by_id = {f.logical_id: f for f in functions(template)}
    substitutions = template["Resources"][names.STATE_MACHINE]["Properties"].get(
        "DefinitionSubstitutions", {}
    )
    steps = [Step(None, by_id[names.API_FUNCTION])]
    states, name, seen = asl["States"], asl["StartAt"], set()
    while True:
        if name in seen:
            raise ValueError(f"the path from StartAt loops at {name!r} before {DISPATCH_STATE!r}")
        seen.add(name)
        state = states[name]
        if state["Type"] == "Task" and state.get("Resource") in LAMBDA_RESOURCES:
            steps.append(Step(name, by_id[_function_id(state, substitutions)]))
        elif state["Type"] not in ("Task", "Pass"):
            raise ValueError(f"{name!r} is a {state['Type']} state before {DISPATCH_STATE!r}")
        if name == DISPATCH_STATE:
            return steps
        if "Next" not in state:
            raise ValueError(f"{name!r} ends the path before {DISPATCH_STATE!r}")
        name = state["Next"]


def _function_id(state: dict[str, Any], substitutions: dict[str, Any]) -> str:
    """The logical id behind a lambda:invoke state's FunctionName (``${XFunctionArn}``, maybe with a
    ``:$LATEST`` or alias suffix)."""
    arguments = state.get("Parameters") or state.get("Arguments") or {}
    function_name = str(arguments.get("FunctionName", ""))
    found = re.fullmatch(r"\$\{(\w+)\}(:.*)?", function_name)
    if found is None or found.group(1) not in substitutions:
        raise ValueError(f"FunctionName {function_name!r} is not a DefinitionSubstitutions variable")
    target = substitutions[found.group(1)]
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    if isinstance(target, dict) and "Ref" in target:
        return str(target["Ref"])
    raise ValueError(f"{found.group(1)} is not a function's Arn or Ref")
