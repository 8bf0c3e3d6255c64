"""The request ledger: one DynamoDB item per request id, what ``GET /dispatches/{id}`` reads.

The API writes the item when it accepts a request (a conditional put, so a repeated idempotency key
finds the first request); the workflow's steps update it at each dispatch, check and re-dispatch,
and at the end. Items expire through DynamoDB TTL (``expires_at``).

The ledger is a read model; the execution is the record. A step never fails because the ledger
could not be written: the outcome is already in the execution's output (or its Fail cause) and in
the escalation, and the API repairs an item that still says ``running`` from DescribeExecution.
Steps skip the ledger entirely when ``LEDGER_TABLE_NAME`` is not set.

boto3 and botocore are imported where first used (clients.py's rule): importing this module costs a
cold start nothing; the first call that makes a client pays for them, and every later one finds them
imported.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from dispatch_verify import clock, config
from dispatch_verify.adapters.aws import clients as aws
from dispatch_verify.models import Outcome, Phase, WorkflowState
from dispatch_verify.observability import logger
from dispatch_verify.ports.ledger import (
    BadPageToken,
    LedgerConflict,
    LedgerItem,
    ListQuery,
    attempt_record,
    final_values,
)

# The table's global secondary indexes (template.yaml): a room's requests, and a day's requests (the
# UTC day of accepted_at, "2026-12-02"), each newest first by accepted_at. The day spreads the listing
# over one partition per day instead of one for the whole table.
ROOM_INDEX = "ByRoom"
DAY_INDEX = "ByDay"


class Ledger:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client or aws.client("dynamodb")

    @classmethod
    def from_config(cls) -> Ledger | None:
        name = config.ledger_table_name()
        return cls(name) if name else None

    # -- the API ------------------------------------------------------------------------------
    def accept(self, item: LedgerItem) -> LedgerItem:
        """Put a new item; raise ``LedgerConflict`` with the stored one if the id is taken."""
        from botocore.exceptions import ClientError

        now = clock.now()
        item = item.model_copy(
            update={
                "accepted_at": clock.iso_utc(now),
                "updated_at": clock.iso_utc(now),
                "expires_at": _expiry(now),
                "phase": "dispatching",
            }
        )
        document = item.model_dump(mode="json", exclude_none=True)
        document["accepted_day"] = _day(document["accepted_at"])
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=_to_dynamo(document),
                ConditionExpression="attribute_not_exists(request_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            stored = exc.response.get("Item") or {}
            existing = (
                LedgerItem.model_validate(_from_dynamo(stored)) if stored else self.get(item.request_id)
            )
            raise LedgerConflict(existing or item) from exc
        return item

    def started(self, request_id: str, execution_arn: str) -> None:
        self._update(request_id, {"execution_arn": execution_arn})

    def forget(self, request_id: str) -> None:
        """Drop an accepted item whose execution could not be started (so a retry starts afresh)."""
        self._client.delete_item(
            TableName=self.table_name,
            Key={"request_id": {"S": request_id}},
            ConditionExpression="attribute_not_exists(execution_arn)",
        )

    def get(self, request_id: str) -> LedgerItem | None:
        found = self._client.get_item(
            TableName=self.table_name, Key={"request_id": {"S": request_id}}, ConsistentRead=True
        )
        return LedgerItem.model_validate(_from_dynamo(found["Item"])) if "Item" in found else None

    def cancel(self, request_id: str, outcome: dict[str, Any]) -> bool:
        """Running -> cancelled, conditionally: False when the request had already ended (or had no item)."""
        from botocore.exceptions import ClientError

        values = {**outcome, "updated_at": clock.iso_utc(clock.now())}
        names = {f"#s{i}": key for i, key in enumerate(values)}
        data: dict[str, Any] = {f":s{i}": value for i, value in enumerate(values.values())}
        names["#status"], data[":running"] = "status", "running"
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(values))),
                ConditionExpression="#status = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_dynamo(data),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def list(self, query: ListQuery) -> tuple[list[LedgerItem], str | None]:
        """Newest first from one of the indexes; a page may hold fewer than ``limit`` items when a
        status filter drops some (DynamoDB filters after it reads), the token says whether more follow."""
        position = _read_token(query)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "ScanIndexForward": False,
            "Limit": query.limit,
            "ExpressionAttributeNames": {"#at": "accepted_at"},
        }
        values: dict[str, Any] = {":since": query.since}
        if query.status is not None:
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            values[":status"] = query.status
        if query.room is not None:
            kwargs["IndexName"] = ROOM_INDEX
            kwargs["KeyConditionExpression"] = "#room = :room AND #at >= :since"
            kwargs["ExpressionAttributeNames"]["#room"] = "room"
            values[":room"] = query.room
            day = None
        else:
            kwargs["IndexName"] = DAY_INDEX
            kwargs["KeyConditionExpression"] = "#day = :day AND #at >= :since"
            kwargs["ExpressionAttributeNames"]["#day"] = "accepted_day"
            day = position.get("day") or _day(clock.iso_utc(clock.now()))
        start_key = position.get("key")
        items: list[LedgerItem] = []
        while True:
            if day is not None:
                values[":day"] = day
            kwargs["Limit"] = query.limit - len(items)
            page = self._client.query(
                **kwargs,
                ExpressionAttributeValues=_to_dynamo(values),
                **({"ExclusiveStartKey": start_key} if start_key else {}),
            )
            items.extend(LedgerItem.model_validate(_from_dynamo(found)) for found in page.get("Items", []))
            start_key = page.get("LastEvaluatedKey")
            if start_key:
                return items, _write_token(query, day, start_key)
            # The day is read to its end: the day before, while it is not before ``since``.
            if day is None or day <= _day(query.since):
                return items, None
            day = _previous_day(day)
            if len(items) >= query.limit:
                return items, _write_token(query, day, None)

    # -- the workflow -------------------------------------------------------------------------
    def progress(self, state: WorkflowState, phase: Phase | None = None) -> None:
        """The attempts, the last participants seen and the phase, while the request is still running."""
        values: dict[str, Any] = {
            "attempts": [attempt_record(a) for a in state.attempts],
            "participants": [
                p.model_dump(mode="json") for p in (state.check.participants if state.check else [])
            ],
        }
        if phase is not None:
            values["phase"] = phase
        self._upsert(state, values)

    def claim_dial(self, state: WorkflowState) -> bool:
        """Phase "dialling", only while the request is running: False when it was cancelled (or had
        ended). The cancel's own write is conditional on running too, so of the two only one wins."""
        from botocore.exceptions import ClientError

        try:
            self._upsert(state, {"phase": "dialling"}, quiet=False)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def finish(self, state: WorkflowState, outcome: Outcome) -> None:
        self._upsert(state, final_values(outcome, [attempt_record(a) for a in state.attempts]), final=True)

    def finish_from_execution(self, request_id: str, outcome: dict[str, Any]) -> None:
        """The API's repair of an item whose final write was lost (``outcome``: see ``final_values``)."""
        self._update(request_id, outcome, only_while_running=True)

    def _upsert(
        self, state: WorkflowState, values: dict[str, Any], *, final: bool = False, quiet: bool = True
    ) -> None:
        """Update the item, creating it for an execution started without the API (a schedule, the CLI)."""
        now = clock.now()
        request = state.request
        created = {
            "room": request.room,
            "agent_name": request.agent_name,
            "kind": request.kind,
            "accepted_at": state.started_at,
            "accepted_day": _day(state.started_at),
            "expires_at": _expiry(now),
        }
        self._update(
            state.request_id, values, if_absent=created, only_while_running=True, final=final, quiet=quiet
        )

    def _update(
        self,
        request_id: str,
        values: dict[str, Any],
        *,
        if_absent: dict[str, Any] | None = None,
        only_while_running: bool = False,
        final: bool = False,
        quiet: bool = True,
    ) -> None:
        from botocore.exceptions import ClientError

        values = {**values, "updated_at": clock.iso_utc(clock.now())}
        if not final and "status" not in values and only_while_running:
            if_absent = {**(if_absent or {}), "status": "running"}
        names: dict[str, str] = {}
        data: dict[str, Any] = {}
        sets = []
        for i, (key, value) in enumerate(values.items()):
            names[f"#s{i}"], data[f":s{i}"] = key, value
            sets.append(f"#s{i} = :s{i}")
        for i, (key, value) in enumerate((if_absent or {}).items()):
            names[f"#c{i}"], data[f":c{i}"] = key, value
            sets.append(f"#c{i} = if_not_exists(#c{i}, :c{i})")
        kwargs: dict[str, Any] = {}
        if only_while_running:
            # A late or repeated step must not turn a finished request back into a running one.
            names["#status"], data[":running"] = "status", "running"
            kwargs["ConditionExpression"] = "attribute_not_exists(#status) OR #status = :running"
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_dynamo(data),
                **kwargs,
            )
        except ClientError as exc:
            if not quiet or exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            logger.info("ledger item already final; not updated", extra={"ledger_request_id": request_id})


# -- the steps' entry points: never raise ------------------------------------------------------


def record_progress(state: WorkflowState, phase: Phase | None = None) -> None:
    _best_effort("progress", state, lambda ledger: ledger.progress(state, phase))


def dial_allowed(state: WorkflowState) -> bool:
    """Whether "Dial callee" may dial: not when the request was cancelled. Without a ledger (or when it
    cannot be written) the dial goes ahead: the ledger is a read model, the cancel also stops the
    execution."""
    ledger = Ledger.from_config()
    if ledger is None or not state.request.request_id:
        return True
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return ledger.claim_dial(state)
    except (ClientError, BotoCoreError) as exc:
        logger.error("ledger write failed", extra={"ledger_write": "dial claim", "error": str(exc)})
        return True


def record_outcome(state: WorkflowState) -> None:
    outcome = state.outcome
    if outcome is not None:
        _best_effort("outcome", state, lambda ledger: ledger.finish(state, outcome))


def _best_effort(what: str, state: WorkflowState, write: Any) -> None:
    ledger = Ledger.from_config()
    if ledger is None or not state.request.request_id:
        return
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        write(ledger)
    except (ClientError, BotoCoreError) as exc:
        # The execution keeps the outcome and the API repairs the item on read: log, do not fail.
        logger.error("ledger write failed", extra={"ledger_write": what, "error": str(exc)})


def _expiry(now: float) -> int:
    return int(now) + config.ledger_ttl_days() * 86_400


def _to_dynamo(document: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    # DynamoDB numbers are Decimals; a JSON round trip turns every float into one.
    plain = json.loads(json.dumps(document), parse_float=Decimal)
    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in plain.items()}


def _from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _day(iso: str) -> str:
    return iso[:10]


def _previous_day(day: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def _write_token(query: ListQuery, day: str | None, key: dict[str, Any] | None) -> str:
    position = {"q": [query.room, query.status, query.since], "day": day, "key": key}
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def _read_token(query: ListQuery) -> dict[str, Any]:
    if query.next_token is None:
        return {}
    try:
        position = json.loads(base64.urlsafe_b64decode(query.next_token.encode()))
    except (ValueError, binascii.Error):
        raise BadPageToken("next_token is not a token this API gave") from None
    if not isinstance(position, dict) or position.get("q") != [query.room, query.status, query.since]:
        raise BadPageToken("next_token belongs to another query (room, status and since must not change)")
    day, key = position.get("day"), position.get("key")
    if (day is not None and not isinstance(day, str)) or (key is not None and not _a_key(key)):
        raise BadPageToken("next_token is not a token this API gave")
    return {"day": day, "key": key}


def _a_key(key: Any) -> bool:
    """A LastEvaluatedKey of the ledger's indexes: string attributes only."""
    return (
        isinstance(key, dict)
        and 0 < len(key) <= 4
        and all(isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in key.values())
    )
