""" "Await agent"'s DynamoDB write, done as the state machine does it: its Parameters from the real
definition, with the JSONPaths read from a state document and ``$$.Task.Token``, sent to a table
(moto). Specs use it where a wait has to be recorded; the engine's specs run the state itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dispatch_verify.models import WorkflowState

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "dispatch_verify.asl.json"


def _read(path: str, document: dict[str, Any], context: dict[str, Any]) -> Any:
    root, *parts = path.split(".")
    value: Any = context if root == "$$" else document
    for part in parts:
        value = value[part]
    return value


def _render(template: Any, document: dict[str, Any], context: dict[str, Any], table: str) -> Any:
    if isinstance(template, dict):
        rendered: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                rendered[key[:-2]] = str(_read(value, document, context))
            else:
                rendered[key] = _render(value, document, context, table)
        return rendered
    if isinstance(template, str):
        return template.replace("${WaitTokenTableName}", table)
    return template


def await_parameters(state: WorkflowState, token: str, table: str) -> dict[str, Any]:
    """The UpdateItem "Await agent" sends for ``state`` (as the state machine hands it over)."""
    parameters = json.loads(ASL.read_text())["States"]["Await agent"]["Parameters"]
    document = json.loads(state.model_dump_json())
    rendered = _render(parameters, document, {"Task": {"Token": token}}, table)
    assert isinstance(rendered, dict)
    return rendered


def record_wait(client: Any, state: WorkflowState, token: str, table: str) -> None:
    """Send "Await agent"'s write with a low-level DynamoDB client; raises its ClientError (a join
    marked since the last look: ConditionalCheckFailedException)."""
    client.update_item(**await_parameters(state, token, table))
