"""Step Functions executions as the API uses them (``ports.executions.Executions``): start one by name,
describe one, stop one."""

from __future__ import annotations

import json
from typing import Any

from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.ports.executions import ExecutionExists, StartRefused

# Step Functions' answers that mean "not now" (after botocore's own retries): the API answers 429 or
# 503 with Retry-After instead of a bare 500.
_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
_UNAVAILABLE = frozenset(
    {"ServiceUnavailable", "InternalFailure", "InternalServerError", "SdkClientException"}
)
RETRY_AFTER_S = 1


class StepFunctionsExecutions:
    def __init__(self, state_machine_arn: str, client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client or aws.client("stepfunctions")

    def start(self, name: str, payload: dict[str, Any]) -> str:
        from botocore.exceptions import ClientError

        try:
            started = self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            # The name ran (or runs) already: whose request it was is the caller's to judge.
            arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
            raise ExecutionExists(arn, str(self.describe(arn).get("input") or "")) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _THROTTLED:
                raise StartRefused(code, throttled=True, retry_after_s=RETRY_AFTER_S) from exc
            if status >= 500 or code in _UNAVAILABLE:
                raise StartRefused(code, throttled=False, retry_after_s=RETRY_AFTER_S) from exc
            raise
        return str(started["executionArn"])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = self._client.describe_execution(executionArn=execution_arn)
        return described

    def stop(self, execution_arn: str, cause: str) -> None:
        # Stopping an execution that has ended succeeds and changes nothing (Step Functions' own rule).
        self._client.stop_execution(executionArn=execution_arn, error="Cancelled", cause=cause)
