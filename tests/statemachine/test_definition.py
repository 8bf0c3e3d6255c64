"""The workflow's shape: every transition lands, every state is reachable, every end is recorded."""

from __future__ import annotations

import re
from typing import Any, get_args

from dispatch_verify.models import DispatchRequest, Next, Options, Outcome, StepEvent, WaitItem, WorkflowState

from .conftest import AWAIT_RESOURCE, AWAIT_STATE, LAMBDA_INVOKE, transitions
from .test_template_agreement import EXPECTED_FUNCTIONS

States = dict[str, dict[str, Any]]
TERMINAL_TYPES = {"Succeed", "Fail"}


def reachable(states: States, start: str, avoiding: str | tuple[str, ...] = ()) -> set[str]:
    avoid = {avoiding} if isinstance(avoiding, str) else set(avoiding)
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name in avoid:
            continue
        seen.add(name)
        todo.extend(transitions(states[name]))
    return seen


def choice_routes(state: dict[str, Any]) -> dict[str, str]:
    return {rule["StringEquals"]: rule["Next"] for rule in state["Choices"]}


def test_every_transition_names_an_existing_state(asl: dict[str, Any], states: States) -> None:
    # Given the definition
    # When every StartAt, Next, Choice rule, Default and Catch target is listed
    targets = {asl["StartAt"]} | {target for state in states.values() for target in transitions(state)}

    # Then each one is a state of the definition
    assert targets - set(states) == set()


def test_every_state_is_reachable_from_the_start(asl: dict[str, Any], states: States) -> None:
    # Given the definition
    # When the states reachable from StartAt are collected
    seen = reachable(states, asl["StartAt"])

    # Then none is left over
    assert set(states) - seen == set()


def test_every_state_can_still_reach_an_end(states: States) -> None:
    # Given the definition (which loops: wait, check, re-dispatch)
    terminals = {name for name, state in states.items() if state["Type"] in TERMINAL_TYPES}

    # When the ends reachable from each state are collected
    stuck = {name for name in states if not reachable(states, name) & terminals}

    # Then no state is caught in a loop with no way out
    assert stuck == set()


def test_executions_end_only_in_succeed_or_fail_states(states: States) -> None:
    # Given the definition
    # When the states that end an execution are listed
    ending = {name for name, state in states.items() if state.get("End") or state["Type"] in TERMINAL_TYPES}

    # Then every one is a Succeed or a Fail state, or a task whose output is the outcome as "Agent
    # verified" returns it (the verified announcement): no execution ends with an unclassified output
    tasks = {name for name in ending if states[name]["Type"] not in TERMINAL_TYPES}
    assert tasks == {"Announce agent verified"}
    assert (
        states["Announce agent verified"]["OutputPath"]
        == states["Agent verified"]["OutputPath"]
        == "$.outcome"
    )
    assert {c["Next"] for c in states["Announce agent verified"]["Catch"]} == {"Agent verified"}


RECORDING_STEPS = ("Record outcome", "Check participants", "Re-dispatch agent", "Escalate")


def test_every_end_is_reached_only_through_a_step_that_records_the_outcome(
    asl: dict[str, Any], states: States
) -> None:
    # Given the definition without the steps that record an outcome (recording.conclude)
    # When the states reachable from StartAt are collected
    seen = reachable(states, asl["StartAt"], avoiding=RECORDING_STEPS)

    # Then no Succeed or Fail state, nor the verified announcement, is among them
    ends = {name for name in seen if states[name]["Type"] in TERMINAL_TYPES or states[name].get("End")}
    assert ends == set()
    # And of the deciding steps' decisions, only one with its outcome recorded is announced directly;
    # a verified decision without one goes through "Record outcome"
    for rule in states["Agent joined?"]["Choices"]:
        if rule["Next"] in ("Announce agent verified", "Announce outcome"):
            assert {"Variable": "$.outcome.status", "IsPresent": True} in rule["And"], rule
    verified_rules = [r for r in states["Agent joined?"]["Choices"] if r.get("StringEquals") == "verified"]
    assert [r["Next"] for r in verified_rules] == ["Record outcome"]


def test_agent_joined_routes_every_decision_a_check_can_take(states: States) -> None:
    # Given the decisions the Lambda steps write to check.next
    decisions = set(get_args(Next))

    # When "Agent joined?" routes them
    choice = states["Agent joined?"]
    gate, *compound = [rule for rule in choice["Choices"] if "And" in rule]
    simple = [rule for rule in choice["Choices"] if "And" not in rule]
    routes = choice_routes({"Choices": simple})

    # Then it routes on check.next, each decision goes where the workflow says, anything else escalates
    assert {rule["Variable"] for rule in simple} == {"$.check.next"}
    assert set(routes) == decisions
    assert routes == {
        "verified": "Record outcome",
        "wait": "Await agent",
        "redispatch": "Re-dispatch agent",
        "escalate": "Escalate",
    }
    assert choice["Default"] == "Escalate"
    # And its first rule is the telephony gate: a verified agent with a call requested
    assert choice["Choices"][0] is gate and gate["Next"] == "Dial callee"
    assert {"Variable": "$.check.next", "StringEquals": "verified"} in gate["And"]
    # And the other compound rules send a verified outcome the deciding step recorded to its
    # announcement (a request's straight to the end), before the plain "verified" rule
    assert [r["Next"] for r in compound] == ["Announce agent verified", "Announce outcome"]
    for rule in compound:
        assert {"Variable": "$.check.next", "StringEquals": "verified"} in rule["And"]
        assert choice["Choices"].index(rule) < choice["Choices"].index(simple[0])
    assert {"Variable": "$.request.kind", "StringEquals": "request"} in compound[0]["And"]


def test_both_steps_that_decide_next_are_followed_by_agent_joined(states: States) -> None:
    # Given the two steps that write check.next
    # When their successors are read
    # Then both lead to "Agent joined?", and waiting leads back to a check
    assert states["Check participants"]["Next"] == "Agent joined?"
    assert states["Re-dispatch agent"]["Next"] == "Agent joined?"
    assert states["Await agent"]["Next"] == "Check participants"
    assert states["Wait for agent"]["Next"] == "Check participants"


def test_both_waits_last_the_seconds_the_steps_before_them_computed(states: States) -> None:
    # Given the options the wait is computed from (whole seconds: SecondsPath and TimeoutSecondsPath
    # demand integers) and the state's wait_s, an integer of at least 1 once set
    assert Options.model_fields["poll_interval_s"].annotation is int
    assert Options.model_fields["webhook_backstop_s"].annotation is int
    assert WorkflowState.model_fields["wait_s"].annotation == int | None

    # When the two waits are read
    wait = states["Wait for agent"]
    awaiting = states["Await agent"]

    # Then both last $.wait_s: the durable Wait, and the callback task's timeout
    assert wait["Type"] == "Wait"
    assert wait["SecondsPath"] == awaiting["TimeoutSecondsPath"] == "$.wait_s"
    # And only the steps that write wait_s lead to them
    leading = {
        name for name, state in states.items() if {"Await agent", "Wait for agent"} & set(transitions(state))
    }
    assert leading == {"Dispatch agent", "Agent joined?", "Await agent"}
    assert {
        "Variable": "$.check.next",
        "StringEquals": "wait",
        "Next": "Await agent",
    } in states["Agent joined?"][
        "Choices"
    ]  # check.next "wait" is written by Check participants and Re-dispatch agent, with wait_s


def test_verified_outcome_succeeds_with_the_outcome_and_any_other_fails_with_the_summary(
    states: States,
) -> None:
    # Given the outcome statuses "Record outcome" can write ("cancelled" is the API's: a cancelled
    # request's execution is stopped, it never records an outcome)
    statuses = set(get_args(Outcome.model_fields["status"].annotation))
    assert statuses == {"verified", "escalated", "cancelled"}

    # When "Outcome?" routes them (its rules before these: see the heartbeat spec below)
    choice = states["Outcome?"]
    status_rules = [
        rule
        for rule in choice["Choices"]
        if rule.get("Variable") == "$.outcome.status" and "StringEquals" in rule
    ]
    ending_rules = choice["Choices"][choice["Choices"].index(status_rules[0]) :]

    # Then verified succeeds (a connected call too: one vocabulary), returning the outcome; a call that
    # did not connect fails as such; the rest fail as not verified; every failure carries the evidence
    assert {rule["StringEquals"]: rule["Next"] for rule in status_rules} == {"verified": "Agent verified"}
    assert [rule for rule in ending_rules if rule not in status_rules] == [
        {"Variable": "$.outcome.cause", "StringEquals": "dial_failed", "Next": "Callee not connected"}
    ]
    not_connected = states["Callee not connected"]
    assert (not_connected["Type"], not_connected["Error"]) == ("Fail", "DialFailed")
    assert not_connected["CausePath"] == "$.summary"
    assert choice["Default"] == "Agent not verified"
    assert states["Agent verified"] == {"Type": "Succeed", "OutputPath": "$.outcome"}
    failed = states["Agent not verified"]
    assert (failed["Type"], failed["Error"], failed["CausePath"]) == ("Fail", "AgentNotVerified", "$.summary")


def test_lambda_tasks_hand_over_the_whole_state_and_take_back_the_new_one(
    lambda_tasks: dict[str, dict[str, Any]],
) -> None:
    # Given the Payload every handler validates (StepEvent)
    assert set(StepEvent.model_fields) == {"state", "execution_name"}

    # When each Lambda task is read
    # Then it sends the state (the raw request, for "Dispatch agent") and the execution name,
    # keeps only the handler's result, and has a timeout
    assert len(lambda_tasks) == len(EXPECTED_FUNCTIONS)
    assert AWAIT_STATE not in lambda_tasks  # a DynamoDB write: see the next spec
    for name, task in lambda_tasks.items():
        state = "$"  # for "Dispatch agent" (StartAt), the raw execution input
        assert task["Resource"] == LAMBDA_INVOKE, name
        payload = task["Parameters"]["Payload"]
        assert payload == {"state.$": state, "execution_name.$": "$$.Execution.Name"}, name
        assert task["OutputPath"] == "$.Payload", name
        assert "ResultPath" not in task and "ResultSelector" not in task, name
        assert 0 < task["TimeoutSeconds"] <= 60, name


def test_await_agent_records_its_token_in_the_wait_item_unless_a_join_was_marked_since_the_last_look(
    states: States,
) -> None:
    # Given "Await agent"
    task = states[AWAIT_STATE]

    # When its integration and parameters are read
    parameters = task["Parameters"]
    values = parameters["ExpressionAttributeValues"]
    names = parameters["ExpressionAttributeNames"]

    # Then it is the state machine's own DynamoDB write (no Lambda), waiting for its token: the
    # request's item in the wait table (room, request id) gets the agent name, the token, when the step
    # before it looked, and the TTL; refused when a join was marked on the item since that look
    assert task["Resource"] == AWAIT_RESOURCE
    assert parameters["TableName"] == "${WaitTokenTableName}"
    assert parameters["Key"] == {
        "room": {"S.$": "$.request.room"},
        "request_id": {"S.$": "$.request.request_id"},
    }
    assert values == {
        ":agent": {"S.$": "$.request.agent_name"},
        ":token": {"S.$": "$$.Task.Token"},
        ":looked": {"N.$": "$.wait_item.looked_at"},
        ":expires": {"N.$": "$.wait_item.expires_at"},
    }
    assert (
        set(WaitItem.model_fields) == {"looked_at", "expires_at"}
        and "wait_item" in WorkflowState.model_fields
    )
    assert names["#joined"] == "joined_at" and names["#token"] == "task_token"
    assert parameters["ConditionExpression"] == "attribute_not_exists(#joined) OR #joined <= :looked"
    # And it keeps the state, adding only $.wake (the webhook's output, or the error that ended it)
    assert task["ResultPath"] == "$.wake" and "OutputPath" not in task


def test_any_input_that_fails_prepare_is_kept_beside_its_error_for_the_escalation(
    asl: dict[str, Any], states: States
) -> None:
    # Given that a Catch's ResultPath ($.error) cannot be merged into an array, a string or a number
    # When the first state and its catchers are read
    first = states[asl["StartAt"]]

    # Then the first state is "Dispatch agent" itself (no state is billed before it), on the raw input
    assert asl["StartAt"] == "Dispatch agent" and first["Type"] == "Task"
    assert first["Parameters"]["Payload"]["state.$"] == "$"
    # And its catchers keep only the error (ResultPath $ works whatever JSON arrived); "Keep the input"
    # then builds {"request": <execution input>, "error": <error>} (recover_state reads room and agent
    # from it) on the way to Escalate
    assert {(c["ResultPath"], c["Next"]) for c in first["Catch"]} == {("$", "Keep the input")}
    keep = states["Keep the input"]
    assert keep["Type"] == "Pass"
    assert keep["Parameters"] == {"request.$": "$$.Execution.Input", "error.$": "$"}
    assert keep["Next"] == "Escalate"
    assert [name for name, state in states.items() if "Keep the input" in transitions(state)] == [
        "Dispatch agent"
    ]


def test_definition_uses_only_what_the_local_engine_interprets(
    asl: dict[str, Any], states: States, asl_text: str
) -> None:
    # Given the limits of moto's interpreter (JSONata, variables and &&/|| filters do not work)
    # When the definition is read
    # Then it is plain JSONPath: no JSONata, no Assign or $variable, no compound filters
    languages = {state.get("QueryLanguage", "JSONPath") for state in [asl, *states.values()]}
    assert languages == {"JSONPath"}
    assert "{%" not in asl_text
    assert not any("Assign" in state for state in states.values())
    paths = re.findall(r'"(\$[^"]*)"', asl_text)
    assert [path for path in paths if re.match(r"\$[A-Za-z_]", path)] == []
    assert [path for path in paths if "&&" in path or "||" in path] == []


def test_after_record_outcome_only_a_heartbeat_closes_its_room_then_the_outcome_decides_the_end(
    states: States,
) -> None:
    # Given the kinds of request and the state after "Record outcome" (also reached when it failed)
    assert set(get_args(DispatchRequest.model_fields["kind"].annotation)) == {"request", "heartbeat"}
    record, announce = states["Record outcome"], states["Announce outcome"]
    assert record["Next"] == "Announce outcome"  # a recorded outcome is announced first
    assert [catcher["Next"] for catcher in record["Catch"]] == ["Outcome?"]  # nothing to announce
    assert announce["Next"] == "Outcome?"
    assert [(c["ErrorEquals"], c["Next"]) for c in announce["Catch"]] == [(["States.ALL"], "Outcome?")]

    # When "Outcome?" routes (first match wins)
    choice = states["Outcome?"]
    no_kind, heartbeat, not_recorded, *_ = choice["Choices"]

    # Then a missing kind (a raw input: nothing recorded) is checked before the kind is compared; a
    # heartbeat whose room was not closed yet closes it, whatever the outcome; a missing outcome is
    # checked before the outcome is compared; and "Close heartbeat room" comes back here, marked
    assert no_kind == {"Variable": "$.request.kind", "IsPresent": False, "Next": "Outcome not recorded"}
    assert heartbeat == {
        "And": [
            {"Variable": "$.request.kind", "StringEquals": "heartbeat"},
            {"Variable": "$.room_cleanup_done", "IsPresent": False},
            {"Variable": "$.room_cleanup_error", "IsPresent": False},
        ],
        "Next": "Close heartbeat room",
    }
    assert not_recorded == {
        "Variable": "$.outcome.status",
        "IsPresent": False,
        "Next": "Outcome not recorded",
    }
    close = states["Close heartbeat room"]
    assert set(transitions(close)) == {"Outcome?"}
    assert close["Catch"][0]["ResultPath"] == "$.room_cleanup_error"
    assert [name for name, state in states.items() if "Close heartbeat room" in transitions(state)] == [
        "Outcome?"
    ]


def test_the_callee_is_dialled_only_after_the_agent_is_verified_and_only_when_a_call_is_requested(
    asl: dict[str, Any], states: States
) -> None:
    # Given the request's optional call (request.sip, null when absent), whose trunk_id is required
    assert DispatchRequest.model_fields["sip"].is_required() is False
    # When the telephony gate, the first rule of "Agent joined?", is read
    choice = states["Agent joined?"]
    gate = choice["Choices"][0]

    # Then it dials only for a verified check when request.sip is there; a verified check without a
    # call is announced (its outcome recorded by the deciding step) or else recorded
    assert gate == {
        "And": [
            {"Variable": "$.check.next", "StringEquals": "verified"},
            {"Variable": "$.request.sip.trunk_id", "IsPresent": True},
        ],
        "Next": "Dial callee",
    }
    assert [rule["Next"] for rule in choice["Choices"][1:4]] == [
        "Announce agent verified",
        "Announce outcome",
        "Record outcome",
    ]
    assert choice["Choices"][3] == {
        "Variable": "$.check.next",
        "StringEquals": "verified",
        "Next": "Record outcome",
    }
    # And "Dial callee" is reachable only through the gate, and goes on to record the outcome
    assert [name for name, state in states.items() if "Dial callee" in transitions(state)] == [
        "Agent joined?"
    ]
    assert "Dial callee" not in reachable(states, asl["StartAt"], avoiding="Agent joined?")
    assert states["Dial callee"]["Next"] == "Record outcome"


def test_the_verified_path_enters_five_states_when_the_first_wait_ends_in_the_agent(
    asl: dict[str, Any], states: States
) -> None:
    # Given what each state does on the path of a request verified on its first look after the wait
    path = [asl["StartAt"]]
    step = {
        "Dispatch agent": "Await agent",
        "Await agent": "Check participants",
        "Check participants": "Agent joined?",
        "Agent joined?": "Announce agent verified",  # verified and recorded, no call requested
    }

    # When it is followed to its end, through transitions the definition has
    while path[-1] in step:
        assert step[path[-1]] in transitions(states[path[-1]]), path[-1]
        path.append(step[path[-1]])

    # Then it enters 5 states (Standard workflows bill each one), and its last one ends the execution
    assert len(path) == 5
    assert states[path[-1]].get("End") is True
