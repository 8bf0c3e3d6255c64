"""Where "Await agent" records its wait's task token, for LiveKit's join webhook to find (kept in DynamoDB
by ``adapters.aws.waits.WaitTokens``)."""

from __future__ import annotations

from typing import Protocol


class WaitRegistry(Protocol):
    def record(self, room: str, request_id: str, agent_name: str, task_token: str, timeout_s: int) -> None:
        """Keep ``task_token`` for ``timeout_s`` (and a margin), under the room and the request."""
        ...
