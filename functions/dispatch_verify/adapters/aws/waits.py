"""Task tokens of the workflows waiting for an agent, kept in DynamoDB until a webhook resumes them.

"Await agent" is a ``lambda:invoke.waitForTaskToken`` task: it records its task token under the room
(partition key) and the request id (sort key), with the awaited agent name, the time it was recorded
(``recorded_at``, Lambda's clock, whole seconds) and a TTL, and returns.
A LiveKit ``participant_joined`` webhook for an AGENT of that name in that room resumes every
workflow awaiting it with ``SendTaskSuccess``; the task's timeout (the poll interval) resumes it
otherwise. Each request keeps at most one item: the next wait overwrites the token of the last.

Resuming is safe to repeat: a token that was already used, or whose task timed out, is answered by
Step Functions with ``TaskTimedOut``/``InvalidToken``, which counts as "already resumed".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dispatch_verify import clock, config
from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.observability import logger

# How long an item outlives its wait, for DynamoDB's TTL (it deletes late; readers also filter).
TOKEN_TTL_MARGIN_S = 3600
_ALREADY_RESUMED = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


@dataclass(frozen=True)
class Waiter:
    room: str
    request_id: str
    agent_name: str
    task_token: str
    expires_at: int
    recorded_at: int | None = None  # None: recorded before items carried the time


class WaitTokens:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table = (resource or aws.client("dynamodb:resource")).Table(table_name)

    @classmethod
    def from_config(cls) -> WaitTokens:
        return cls(config.wait_table_name())

    def record(self, room: str, request_id: str, agent_name: str, task_token: str, timeout_s: int) -> None:
        recorded_at = int(clock.now())  # before the put: the look that follows comes after it
        self.table.put_item(
            Item={
                "room": room,
                "request_id": request_id,
                "agent_name": agent_name,
                "task_token": task_token,
                "recorded_at": recorded_at,
                "expires_at": recorded_at + timeout_s + TOKEN_TTL_MARGIN_S,
            }
        )

    def awaiting(self, room: str, agent_name: str) -> list[Waiter]:
        """The workflows waiting for ``agent_name`` in ``room`` (expired items left out)."""
        from boto3.dynamodb.conditions import Attr, Key

        now = int(clock.now())
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("room").eq(room),
            "FilterExpression": Attr("agent_name").eq(agent_name) & Attr("expires_at").gt(now),
            "ConsistentRead": True,
        }
        waiters: list[Waiter] = []
        while True:
            page = self.table.query(**query)
            waiters += [
                Waiter(
                    room=item["room"],
                    request_id=item["request_id"],
                    agent_name=item["agent_name"],
                    task_token=item["task_token"],
                    expires_at=int(item["expires_at"]),
                    recorded_at=int(item["recorded_at"]) if "recorded_at" in item else None,
                )
                for item in page.get("Items", [])
            ]
            if "LastEvaluatedKey" not in page:
                return waiters
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def forget(self, waiter: Waiter) -> bool:
        """Delete the item if it still holds this token (a newer wait may have replaced it)."""
        from boto3.dynamodb.conditions import Attr
        from botocore.exceptions import ClientError

        try:
            self.table.delete_item(
                Key={"room": waiter.room, "request_id": waiter.request_id},
                ConditionExpression=Attr("task_token").eq(waiter.task_token),
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise


def resume(task_token: str, output: dict[str, Any], client: Any | None = None) -> bool:
    """SendTaskSuccess; False when the task was already resumed or timed out (nothing to do)."""
    sfn = client or aws.client("stepfunctions")
    from botocore.exceptions import ClientError

    try:
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        return True
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _ALREADY_RESUMED:
            logger.info("wait already over", extra={"code": code})
            return False
        raise
