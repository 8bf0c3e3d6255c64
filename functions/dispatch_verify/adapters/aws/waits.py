"""The waits for an agent, kept in DynamoDB: the task tokens a LiveKit join webhook resumes.

One item per request, under the room (partition key) and the request id (sort key), with the awaited
agent name and a TTL (``expires_at``). Three writers, each one conditional or idempotent:

* the dispatching step prepares the item (``expect``) before CreateDispatch, so that a join which
  comes before the wait's token is recorded still finds an item to mark;
* "Await agent" is a ``dynamodb:updateItem.waitForTaskToken`` task of the state machine (no Lambda):
  it sets ``task_token``, ``recorded_at`` (when its step last looked, Lambda's clock) and
  ``expires_at``, on condition that no join was marked since that look (``joined_at``); when one
  was, the write is refused (``DynamoDb.ConditionalCheckFailedException``) and the check runs at
  once, so a join between the look and the recording is never left to the backstop;
* a LiveKit ``participant_joined`` webhook for an AGENT of that name in that room marks every such
  item (``joined``: ``joined_at``, the webhook's receive time) and resumes the tokens it finds with
  ``SendTaskSuccess``, then removes the token it used (``forget``).

Resuming is safe to repeat: a token that was already used, or whose task timed out, is answered by
Step Functions with ``TaskTimedOut``/``InvalidToken``, which counts as "already resumed".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dispatch_verify import clock, config
from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.errors import DispatchVerifyError
from dispatch_verify.observability import logger

if TYPE_CHECKING:  # the webhook function imports this module, and none of the models
    from dispatch_verify.models import WorkflowState

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

    def expect(self, room: str, request_id: str, agent_name: str, wait_s: int) -> None:
        """Prepare this request's item (the dispatching step, before CreateDispatch): a join from now
        on marks it, whether or not a token was recorded yet. Keeps any mark and token it holds."""
        # Here, not at the top: logic/wait_time imports the models, which the webhook function never
        # needs (only the dispatching steps call this, and they have the models imported already).
        from dispatch_verify.logic.wait_time import WAIT_ITEM_MARGIN_S

        now = clock.now()
        self.table.update_item(
            Key={"room": room, "request_id": request_id},
            UpdateExpression="SET #agent = :agent, #expires = :expires",
            ExpressionAttributeNames={"#agent": "agent_name", "#expires": "expires_at"},
            ExpressionAttributeValues={
                ":agent": agent_name,
                ":expires": int(now) + wait_s + WAIT_ITEM_MARGIN_S,
            },
        )

    def joined(self, room: str, agent_name: str, at: float) -> list[Waiter]:
        """Mark every wait for ``agent_name`` in ``room`` as joined ``at`` (the webhook's receive time),
        and return those that hold a token, as the mark left them."""
        marked: list[Waiter] = []
        for key in self._items(room, agent_name, keys_only=True):
            item = self.table.update_item(
                Key=key,
                UpdateExpression="SET #joined = :at",
                ExpressionAttributeNames={"#joined": "joined_at"},
                ExpressionAttributeValues={":at": Decimal(f"{at:.3f}")},
                ReturnValues="ALL_NEW",
            )["Attributes"]
            if "task_token" in item:
                marked.append(_waiter(item))
        return marked

    def awaiting(self, room: str, agent_name: str) -> list[Waiter]:
        """The workflows waiting for ``agent_name`` in ``room``: items holding a token (expired ones
        left out)."""
        return [_waiter(item) for item in self._items(room, agent_name) if "task_token" in item]

    def _items(self, room: str, agent_name: str, *, keys_only: bool = False) -> list[dict[str, Any]]:
        """The items for ``agent_name`` in ``room``, or their keys (expired items left out)."""
        from boto3.dynamodb.conditions import Attr, Key

        now = int(clock.now())
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("room").eq(room),
            "FilterExpression": Attr("agent_name").eq(agent_name) & Attr("expires_at").gt(now),
            "ConsistentRead": True,
        }
        if keys_only:
            query["ProjectionExpression"] = "#k0, #k1"
            query["ExpressionAttributeNames"] = {"#k0": "room", "#k1": "request_id"}
        items: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**query)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def forget(self, waiter: Waiter) -> bool:
        """Remove the token just used, if the item still holds it (a newer wait may have replaced it);
        the item and its join mark stay for the request's next wait."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(
                Key={"room": waiter.room, "request_id": waiter.request_id},
                UpdateExpression="REMOVE #token",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "task_token"},
                ExpressionAttributeValues={":token": waiter.task_token},
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise


def _waiter(item: dict[str, Any]) -> Waiter:
    return Waiter(
        room=item["room"],
        request_id=item["request_id"],
        agent_name=item["agent_name"],
        task_token=item["task_token"],
        expires_at=int(item["expires_at"]),
        recorded_at=int(item["recorded_at"]) if "recorded_at" in item else None,
    )


def expect_the_join(state: WorkflowState, webhooks: bool) -> float:
    """Before CreateDispatch (the dispatching steps): prepare the request's wait item, so that the
    agent's join webhook marks it even before "Await agent" records its token (which the mark then
    refuses: the check runs at once). Returns the time from which a join is the wait's business,
    taken before the item is written. Without webhooks expected there is nothing to prepare."""
    looked_at = clock.now()
    if not webhooks:
        return looked_at
    from botocore.exceptions import BotoCoreError, ClientError

    request = state.request
    try:
        WaitTokens.from_config().expect(
            request.room, state.request_id, request.agent_name, request.options.join_timeout_s
        )
    except (ClientError, BotoCoreError, DispatchVerifyError) as exc:
        # The wait still works ("Await agent" writes the item itself); only a join that comes before
        # its recording is then left to the backstop. The dispatch goes ahead.
        logger.warning("wait item not prepared", extra={"error": str(exc)})
    return looked_at


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
