"""Step Functions executions as the API's logic sees them (``adapters.aws.executions`` over boto3)."""

from __future__ import annotations

from typing import Any, Protocol


class ExecutionExists(Exception):
    """An execution of that name exists already (Step Functions keeps names 90 days): its ARN and the
    input it was started with, for the caller to tell a repeat of its own request from another's."""

    def __init__(self, execution_arn: str, existing_input: str) -> None:
        super().__init__(execution_arn)
        self.execution_arn = execution_arn
        self.existing_input = existing_input


class StartRefused(Exception):
    """Step Functions refused StartExecution for now: throttled (``ThrottlingException``) or
    unavailable (a 5xx), after the SDK's own retries. Nothing was started; try again later."""

    def __init__(self, code: str, *, throttled: bool, retry_after_s: int) -> None:
        super().__init__(code)
        self.code = code
        self.throttled = throttled
        self.retry_after_s = retry_after_s


class Executions(Protocol):
    """The part of Step Functions the API uses."""

    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start an execution named ``name``; return its ARN. A running execution of that name with the
        same input is returned as Step Functions returns it; any other raises ``ExecutionExists``."""
        ...

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution's answer (``status``, ``output``, ``error``, ``cause``, ``input``)."""
        ...

    def stop(self, execution_arn: str, cause: str) -> None:
        """StopExecution (error ``Cancelled``); an execution that has already ended is left as it is."""
        ...
