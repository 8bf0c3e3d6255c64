"""Step Functions executions as the API uses them (``ports.executions.Executions``): start one by name,
describe one, stop one."""

from __future__ import annotations

import json
from typing import Any

from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.ports.executions import ExecutionExists


class StepFunctionsExecutions:
    def __init__(self, state_machine_arn: str, client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client or aws.client("stepfunctions")

    def start(self, name: str, payload: dict[str, Any]) -> str:
        try:
            started = self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            # The name ran (or runs) already: whose request it was is the caller's to judge.
            arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
            raise ExecutionExists(arn, str(self.describe(arn).get("input") or "")) from None
        return str(started["executionArn"])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = self._client.describe_execution(executionArn=execution_arn)
        return described

    def stop(self, execution_arn: str, cause: str) -> None:
        # Stopping an execution that has ended succeeds and changes nothing (Step Functions' own rule).
        self._client.stop_execution(executionArn=execution_arn, error="Cancelled", cause=cause)
