"""The workflow's shape: every transition lands, every state is reachable, every end is recorded."""

from __future__ import annotations

import re
from typing import Any, get_args

from dispatch_verify.models import DispatchRequest, Next, Options, Outcome, StepEvent

from .conftest import AWAIT_STATE, LAMBDA_CALLBACK, LAMBDA_INVOKE, transitions
from .test_template_agreement import EXPECTED_FUNCTIONS

States = dict[str, dict[str, Any]]
TERMINAL_TYPES = {"Succeed", "Fail"}


def reachable(states: States, start: str, avoiding: str | None = None) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name == avoiding:
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

    # Then every one is a Succeed or a Fail state: no task ends the execution with an unclassified output
    assert {states[name]["Type"] for name in ending} <= TERMINAL_TYPES
    assert not any(state.get("End") for state in states.values())


def test_every_end_is_reached_only_through_record_outcome(asl: dict[str, Any], states: States) -> None:
    # Given the definition without "Record outcome"
    # When the states reachable from StartAt are collected
    seen = reachable(states, asl["StartAt"], avoiding="Record outcome")

    # Then no Succeed or Fail state is among them: every execution has its outcome recorded first
    assert {name for name in seen if states[name]["Type"] in TERMINAL_TYPES} == set()


def test_agent_joined_routes_every_decision_a_check_can_take(states: States) -> None:
    # Given the decisions the Lambda steps write to check.next
    decisions = set(get_args(Next))

    # When "Agent joined?" routes them
    choice = states["Agent joined?"]
    routes = choice_routes(choice)

    # Then it routes on check.next, each decision goes where the workflow says, anything else escalates
    assert {rule["Variable"] for rule in choice["Choices"]} == {"$.check.next"}
    assert set(routes) == decisions
    assert routes == {
        "verified": "Call requested?",
        "wait": "Await agent",
        "redispatch": "Re-dispatch agent",
        "escalate": "Escalate",
    }
    assert choice["Default"] == "Escalate"


def test_both_steps_that_decide_next_are_followed_by_agent_joined(states: States) -> None:
    # Given the two steps that write check.next
    # When their successors are read
    # Then both lead to "Agent joined?", and waiting leads back to a check
    assert states["Check participants"]["Next"] == "Agent joined?"
    assert states["Re-dispatch agent"]["Next"] == "Agent joined?"
    assert states["Await agent"]["Next"] == "Check participants"
    assert states["Wait for agent"]["Next"] == "Check participants"


def test_wait_for_agent_waits_the_requested_poll_interval(states: States) -> None:
    # Given the request options, whose poll interval is an integer (what SecondsPath demands)
    assert Options.model_fields["poll_interval_s"].annotation is int

    # When the Wait state is read
    wait = states["Wait for agent"]

    # Then it is a durable Wait on that option
    assert wait["Type"] == "Wait"
    assert wait["SecondsPath"] == "$.request.options.poll_interval_s"


def test_verified_outcome_succeeds_with_the_outcome_and_any_other_fails_with_the_summary(
    states: States,
) -> None:
    # Given the outcome statuses "Record outcome" can write
    statuses = set(get_args(Outcome.model_fields["status"].annotation))
    assert statuses == {"verified", "verified_and_dialled", "escalated"}

    # When "Verified?" routes them
    choice = states["Verified?"]
    status_rules = [rule for rule in choice["Choices"] if rule["Variable"] == "$.outcome.status"]

    # Then both verified statuses succeed, returning the outcome; a call that did not connect fails as
    # such; the rest fail as not verified; every failure carries the evidence as the cause
    assert {rule["StringEquals"]: rule["Next"] for rule in status_rules} == {
        "verified": "Agent verified",
        "verified_and_dialled": "Agent verified",
    }
    assert [rule for rule in choice["Choices"] if rule not in status_rules] == [
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
    assert set(StepEvent.model_fields) == {"state", "execution_name", "task_token"}

    # When each Lambda task is read
    # Then it sends the state (the raw request, for "Prepare request") and the execution name,
    # keeps only the handler's result, and has a timeout
    assert len(lambda_tasks) == len(EXPECTED_FUNCTIONS)
    for name, task in lambda_tasks.items():
        if name == AWAIT_STATE:
            continue  # see the next spec
        state = "$.request" if name == "Prepare request" else "$"
        assert task["Resource"] == LAMBDA_INVOKE, name
        payload = task["Parameters"]["Payload"]
        assert payload == {"state.$": state, "execution_name.$": "$$.Execution.Name"}, name
        assert task["OutputPath"] == "$.Payload", name
        assert "ResultPath" not in task and "ResultSelector" not in task, name
        assert 0 < task["TimeoutSeconds"] <= 60, name


def test_await_agent_hands_its_task_token_over_and_keeps_the_state(
    lambda_tasks: dict[str, dict[str, Any]],
) -> None:
    # Given "Await agent"
    task = lambda_tasks[AWAIT_STATE]

    # When its integration and payload are read
    payload = task["Parameters"]["Payload"]

    # Then the task waits for its token (SendTaskSuccess from the webhook, or the timeout), hands the
    # handler the state, the execution name and the token, and keeps the state, adding only $.wake
    assert task["Resource"] == LAMBDA_CALLBACK
    assert payload == {
        "state.$": "$",
        "execution_name.$": "$$.Execution.Name",
        "task_token.$": "$$.Task.Token",
    }
    assert task["ResultPath"] == "$.wake" and "OutputPath" not in task


def test_any_input_is_wrapped_so_that_a_failed_prepare_can_still_record_its_error(
    asl: dict[str, Any], states: States
) -> None:
    # Given that a Catch's ResultPath ($.error) cannot be merged into an array, a string or a number
    # When the first state is read
    first = states[asl["StartAt"]]

    # Then it wraps whatever JSON arrived as {"request": ...} before any task runs, and
    # "Prepare request" reads the raw input from there (recover_state reads room and agent from it)
    assert first["Type"] == "Pass"
    assert first["Parameters"] == {"request.$": "$"}
    assert first["Next"] == "Prepare request"


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
    # Given the kinds of request and the states after "Record outcome" (also reached when it failed)
    assert set(get_args(DispatchRequest.model_fields["kind"].annotation)) == {"request", "heartbeat"}
    record = states["Record outcome"]
    assert record["Next"] == "Heartbeat?"
    assert [catcher["Next"] for catcher in record["Catch"]] == ["Heartbeat?"]

    # When "Heartbeat?" routes on the request's kind
    choice = states["Heartbeat?"]

    # Then a missing kind (a raw input) is checked first, only a heartbeat closes its room, and every
    # route then meets at "Outcome recorded?", which ends in "Verified?" or "Outcome not recorded"
    assert choice["Choices"] == [
        {"Variable": "$.request.kind", "IsPresent": False, "Next": "Outcome recorded?"},
        {"Variable": "$.request.kind", "StringEquals": "heartbeat", "Next": "Close heartbeat room"},
    ]
    assert choice["Default"] == "Outcome recorded?"
    assert set(transitions(states["Close heartbeat room"])) == {"Outcome recorded?"}
    recorded = states["Outcome recorded?"]
    assert recorded["Choices"] == [{"Variable": "$.outcome.status", "IsPresent": True, "Next": "Verified?"}]
    assert recorded["Default"] == "Outcome not recorded"


def test_the_callee_is_dialled_only_after_the_agent_is_verified_and_only_when_a_call_is_requested(
    asl: dict[str, Any], states: States
) -> None:
    # Given the request's optional call (request.sip, null when absent), whose trunk_id is required
    assert DispatchRequest.model_fields["sip"].is_required() is False
    # When the telephony gate is read
    gate = states["Call requested?"]

    # Then only a verified check reaches it; it dials when request.sip is there, else records the outcome
    assert [name for name, state in states.items() if "Call requested?" in transitions(state)] == [
        "Agent joined?"
    ]
    assert gate["Choices"] == [
        {"Variable": "$.request.sip.trunk_id", "IsPresent": True, "Next": "Dial callee"}
    ]
    assert gate["Default"] == "Record outcome"
    # And "Dial callee" is reachable only through the gate, and goes on to record the outcome
    assert [name for name, state in states.items() if "Dial callee" in transitions(state)] == [
        "Call requested?"
    ]
    assert "Dial callee" not in reachable(states, asl["StartAt"], avoiding="Call requested?")
    assert states["Dial callee"]["Next"] == "Record outcome"
