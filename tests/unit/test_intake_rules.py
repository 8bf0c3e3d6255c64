"""The API's decisions in logic/intake.py, one rule a spec, over an in-memory ledger and Step Functions:
a new request is started once; a repeat starts nothing again unless its first start was lost; a
repeat with another body, or a name taken by another request's execution, is a conflict; a failed start
leaves no item behind for a new request; a running item is repaired from its ended execution."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dispatch_verify.logic import intake
from dispatch_verify.logic.intake import (
    IdempotencyConflict,
    OverHistoryBudget,
    accept_dispatch,
    dispatch_status,
    outcome_of_execution,
    request_id_for,
    same_request,
)
from dispatch_verify.models import DispatchRequest, Options
from dispatch_verify.ports.executions import ExecutionExists
from dispatch_verify.ports.ledger import LedgerConflict, LedgerItem

from .conftest import AGENT, ROOM

KEY = "call-4711"
SENT: dict[str, Any] = {"room": ROOM, "agent_name": AGENT, "metadata": {"caller": "+4930123456"}}


class MemoryLedger:
    """The ledger port over a dictionary, as the conditional put behaves."""

    def __init__(self) -> None:
        self.items: dict[str, LedgerItem] = {}
        self.forgotten: list[str] = []
        self.finished: list[tuple[str, dict[str, Any]]] = []

    def accept(self, item: LedgerItem) -> LedgerItem:
        if item.request_id in self.items:
            raise LedgerConflict(self.items[item.request_id])
        self.items[item.request_id] = item
        return item

    def started(self, request_id: str, execution_arn: str) -> None:
        self.items[request_id] = self.items[request_id].model_copy(update={"execution_arn": execution_arn})

    def forget(self, request_id: str) -> None:
        self.forgotten.append(request_id)
        self.items.pop(request_id, None)

    def get(self, request_id: str) -> LedgerItem | None:
        return self.items.get(request_id)

    def finish_from_execution(self, request_id: str, outcome: dict[str, Any]) -> None:
        self.finished.append((request_id, outcome))


class MemoryExecutions:
    """Step Functions' StartExecution and DescribeExecution over a dictionary; names are kept."""

    def __init__(self) -> None:
        self.inputs: dict[str, str] = {}  # name -> input
        self.starts: list[str] = []
        self.described: dict[str, dict[str, Any]] = {}
        self.fail_with: Exception | None = None

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.starts.append(name)
        if self.fail_with is not None:
            raise self.fail_with
        arn = f"arn:aws:states:eu-west-1:123456789012:execution:dispatch-verify:{name}"
        given = json.dumps(payload, sort_keys=True)
        if name in self.inputs and self.inputs[name] != given:
            raise ExecutionExists(arn, self.inputs[name])
        self.inputs[name] = given
        return arn

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return self.described[execution_arn]

    def stop(self, execution_arn: str, cause: str) -> None:
        raise AssertionError("intake never stops an execution")


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def executions() -> MemoryExecutions:
    return MemoryExecutions()


def accept(
    ledger: MemoryLedger, executions: MemoryExecutions, sent: dict[str, Any] = SENT, key: str | None = KEY
) -> intake.Accepted:
    return accept_dispatch(DispatchRequest.model_validate(sent), key, ledger, executions, sent=sent)


# -- the request id --------------------------------------------------------------------------------


def test_a_key_gives_the_same_request_id_every_time_and_another_key_another() -> None:
    first, again, other = request_id_for(KEY), request_id_for(KEY), request_id_for("call-4712")
    assert first == again and first != other
    assert first.startswith("req-") and KEY not in first


def test_without_a_key_every_request_gets_a_new_id() -> None:
    first, second = request_id_for(None), request_id_for(None)
    assert first != second
    assert first.startswith("req-") and second.startswith("req-")


# -- accepting -------------------------------------------------------------------------------------


def test_options_over_the_history_budget_are_refused_before_anything_is_written_or_started(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given options whose worst case is far over the history budget
    sent = {**SENT, "options": {"join_timeout_s": 3600, "poll_interval_s": 1, "max_attempts": 10}}

    # When they are accepted
    with pytest.raises(OverHistoryBudget, match="history events"):
        accept(ledger, executions, sent)

    # Then nothing was written or started
    assert ledger.items == {} and executions.starts == []


def test_options_within_the_budget_are_accepted(ledger: MemoryLedger, executions: MemoryExecutions) -> None:
    accepted = accept(ledger, executions, {**SENT, "options": {"join_timeout_s": 30, "max_attempts": 2}})
    assert accepted.item.execution_arn is not None and executions.starts == [accepted.item.request_id]


def test_a_new_request_is_started_once_with_its_request_id_and_recorded_started(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # When a new request is accepted
    accepted = accept(ledger, executions)

    # Then it is no repeat, its execution is named after its request id and was given it as input
    request_id = request_id_for(KEY)
    assert accepted.repeated is False
    assert executions.starts == [request_id]
    assert json.loads(executions.inputs[request_id])["request_id"] == request_id
    # And the ledger and the answer carry the execution's ARN
    arn = ledger.items[request_id].execution_arn
    assert arn is not None and arn.endswith(f":{request_id}")
    assert accepted.item.execution_arn == arn and accepted.item.request_id == request_id


def test_a_repeat_of_a_started_request_answers_the_first_and_starts_nothing_again(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given a request accepted and started
    first = accept(ledger, executions)

    # When it is sent again with the same key and body
    again = accept(ledger, executions)

    # Then it is a repeat with the first's item and execution, and StartExecution was not called again
    assert again.repeated is True
    assert again.item == ledger.items[first.item.request_id]
    assert again.item.execution_arn == first.item.execution_arn
    assert executions.starts == [first.item.request_id]


def test_a_repeat_whose_first_start_was_lost_starts_it_now_and_is_still_a_repeat(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given a first request whose item was written but whose start was lost
    first = accept(ledger, executions)
    request_id = first.item.request_id
    ledger.items[request_id] = ledger.items[request_id].model_copy(update={"execution_arn": None})
    executions.inputs.clear()

    # When it is sent again
    again = accept(ledger, executions)

    # Then the execution is started now, under the same name, and the answer is a repeat with its ARN
    assert again.repeated is True
    assert executions.starts == [request_id, request_id]
    assert again.item.execution_arn is not None
    assert ledger.items[request_id].execution_arn == again.item.execution_arn


def test_a_repeat_with_another_body_is_a_conflict_and_leaves_the_first_as_it_was(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given a request accepted under a key
    first = accept(ledger, executions)

    # When the key comes again with another body
    with pytest.raises(IdempotencyConflict):
        accept(ledger, executions, {**SENT, "metadata": {"caller": "+4930999999"}})

    # Then the first is as it was, and nothing else was started
    assert ledger.items[first.item.request_id] == first.item
    assert ledger.forgotten == [] and executions.starts == [first.item.request_id]


def test_a_repeat_of_a_request_accepted_under_the_older_hash_is_a_repeat(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given an item accepted before 2026-12: its hash is of the workflow input with defaults filled in
    first = accept(ledger, executions)
    request = DispatchRequest.model_validate(SENT)
    legacy = intake.legacy_body_hash(request.model_copy(update={"request_id": first.item.request_id}), KEY)
    assert legacy != first.item.body_sha256 and len(bytes.fromhex(legacy)) == 32  # a SHA-256
    stored = ledger.items[first.item.request_id]
    ledger.items[first.item.request_id] = stored.model_copy(update={"body_sha256": legacy})

    # When the same body comes again
    again = accept(ledger, executions)

    # Then it is a repeat, not a conflict
    assert again.repeated is True and executions.starts == [first.item.request_id]


def test_a_failed_start_of_a_new_request_forgets_its_item_and_raises(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given Step Functions refusing the start
    executions.fail_with = RuntimeError("throttled")

    # When a new request is accepted
    with pytest.raises(RuntimeError, match="throttled"):
        accept(ledger, executions)

    # Then its item is gone, so a retry is a new request, not a repeat of nothing
    assert ledger.forgotten == [request_id_for(KEY)] and ledger.items == {}


def test_a_failed_start_of_a_repeat_keeps_the_first_request_s_item(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given a first request whose start was lost
    first = accept(ledger, executions)
    request_id = first.item.request_id
    ledger.items[request_id] = ledger.items[request_id].model_copy(update={"execution_arn": None})
    executions.fail_with = RuntimeError("throttled")

    # When its repeat's start fails too
    with pytest.raises(RuntimeError):
        accept(ledger, executions)

    # Then the item (the first request's) is kept
    assert ledger.forgotten == [] and request_id in ledger.items


def test_an_execution_of_the_name_with_this_request_s_input_is_adopted(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given this request's execution still known to Step Functions while its ledger item expired
    first = accept(ledger, executions)
    request_id = first.item.request_id
    del ledger.items[request_id]
    # (the same input as Step Functions keeps it: written otherwise, read back equal)
    executions.inputs[request_id] = json.dumps(json.loads(executions.inputs[request_id]), indent=1)

    # When it is sent again
    again = accept(ledger, executions)

    # Then the item is written again with the existing execution's ARN
    assert again.item.execution_arn == first.item.execution_arn
    assert ledger.items[request_id].execution_arn == first.item.execution_arn


def test_an_execution_of_the_name_with_another_input_is_a_conflict_and_a_new_item_is_forgotten(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given the name taken by an execution of another input (the item of that request expired)
    request_id = request_id_for(KEY)
    other = {**SENT, "agent_name": "another-agent", "request_id": request_id}
    executions.inputs[request_id] = json.dumps(other, sort_keys=True)

    # When the request is accepted
    with pytest.raises(IdempotencyConflict):
        accept(ledger, executions)

    # Then the item written for it is forgotten
    assert ledger.forgotten == [request_id] and ledger.items == {}


def test_an_execution_with_another_input_found_by_a_repeat_keeps_the_first_item(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given a first request whose start was lost, and its name taken by another input
    first = accept(ledger, executions)
    request_id = first.item.request_id
    ledger.items[request_id] = ledger.items[request_id].model_copy(update={"execution_arn": None})
    executions.inputs[request_id] = json.dumps({**SENT, "agent_name": "another-agent"}, sort_keys=True)

    # When the repeat comes
    with pytest.raises(IdempotencyConflict):
        accept(ledger, executions)

    # Then the first request's item is kept
    assert ledger.forgotten == [] and request_id in ledger.items


def test_the_older_hash_covers_the_defaults_so_a_default_given_explicitly_hashes_alike() -> None:
    # Given a body that leaves the join timeout out, and one that gives its default explicitly
    implicit = DispatchRequest.model_validate(SENT)
    default = Options().join_timeout_s
    explicit = DispatchRequest.model_validate({**SENT, "options": {"join_timeout_s": default}})

    # Then the older hash (of the input with defaults filled in) is one SHA-256 for both
    legacy = intake.legacy_body_hash(implicit, KEY)
    assert legacy == intake.legacy_body_hash(explicit, KEY) and len(bytes.fromhex(legacy)) == 32
    assert legacy != intake.legacy_body_hash(implicit, "another-key")


def test_a_stored_input_is_this_request_only_when_it_reads_back_equal() -> None:
    request = DispatchRequest.model_validate({**SENT, "request_id": "req-1"})
    assert same_request(request.model_dump_json(), request) is True
    assert (
        same_request(request.model_copy(update={"agent_name": "other"}).model_dump_json(), request) is False
    )
    assert same_request("not json", request) is False
    assert same_request(json.dumps({"room": ROOM}), request) is False


# -- following a request ---------------------------------------------------------------------------

ARN = "arn:aws:states:eu-west-1:123456789012:execution:dispatch-verify:req-1"


def an_item(**fields: Any) -> LedgerItem:
    return LedgerItem.model_validate({"request_id": "req-1", "room": ROOM, "agent_name": AGENT, **fields})


def test_an_unknown_request_has_no_status(ledger: MemoryLedger, executions: MemoryExecutions) -> None:
    assert dispatch_status("req-unknown", ledger, executions) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "verified", "execution_arn": ARN},  # ended: the ledger knows
        {"status": "running"},  # not started yet: nothing to ask
    ],
)
def test_an_item_that_ended_or_has_no_execution_is_answered_without_asking_step_functions(
    ledger: MemoryLedger, executions: MemoryExecutions, fields: dict[str, Any]
) -> None:
    ledger.items["req-1"] = an_item(**fields)
    assert dispatch_status("req-1", ledger, executions) == ledger.items["req-1"]  # describe would raise
    assert ledger.finished == []


def test_a_running_item_whose_execution_runs_is_answered_as_it_is(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    ledger.items["req-1"] = an_item(status="running", execution_arn=ARN)
    executions.described[ARN] = {"status": "RUNNING"}
    assert dispatch_status("req-1", ledger, executions) == ledger.items["req-1"]
    assert ledger.finished == []


def test_a_running_item_whose_execution_ended_is_repaired_from_it(
    ledger: MemoryLedger, executions: MemoryExecutions
) -> None:
    # Given an item still running whose execution failed outside the escalation
    ledger.items["req-1"] = an_item(status="running", execution_arn=ARN)
    executions.described[ARN] = {"status": "FAILED", "error": "States.Runtime"}

    # When its status is asked
    item = dispatch_status("req-1", ledger, executions)

    # Then the ledger is repaired and the answer is the repaired item
    assert ledger.finished == [("req-1", {"cause": "internal", "status": "escalated"})]
    assert item is not None and (item.status, item.cause) == ("escalated", "internal")
    assert item.execution_arn == ARN


def test_a_succeeded_execution_gives_the_outcome_it_returned() -> None:
    # Given an execution that succeeded with a verified outcome as its output
    output = {
        "status": "verified",
        "request_id": "req-1",
        "room": ROOM,
        "agent_name": AGENT,
        "agent_identity": "agent-AJ_1",
        "join_latency_s": 4.5,
        "started_at": "2026-12-02T17:00:00.000Z",
        "finished_at": "2026-12-02T17:00:05.000Z",
    }

    # When the ledger reads it
    values = outcome_of_execution({"status": "SUCCEEDED", "output": json.dumps(output)})

    # Then the status and the outcome's values are the output's
    assert values["status"] == "verified" and values["cause"] is None
    assert (values["agent_identity"], values["join_latency_s"]) == ("agent-AJ_1", 4.5)
    assert values["finished_at"] == "2026-12-02T17:00:05.000Z"


def test_a_succeeded_execution_without_a_readable_output_is_internal() -> None:
    assert outcome_of_execution({"status": "SUCCEEDED"}) == {"cause": "internal", "status": "escalated"}
    assert outcome_of_execution({"status": "SUCCEEDED", "output": "{}"}) == {
        "cause": "internal",
        "status": "escalated",
    }
