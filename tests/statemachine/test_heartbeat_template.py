"""The heartbeat in the template: a schedule on the state machine, two alarms, and the dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

from dispatch_verify.observability import NAMESPACE, SERVICE

from .conftest import STATE_MACHINE_ID

Template = dict[str, Any]
METRICS = {"AgentJoinLatency", "DispatchAttempts", "Verified", "Escalated"}


def alarm_target(template: Template) -> dict[str, Any]:
    return {
        "Fn::If": ["HasHeartbeatAlarmTopic", {"Ref": "HeartbeatAlarmTopicArn"}, {"Ref": "EscalationTopic"}]
    }


def test_heartbeat_parameters_default_to_every_15_minutes_and_can_turn_it_off(template: Template) -> None:
    # Given the template's parameters
    parameters = template["Parameters"]

    # When the heartbeat's are read
    # Then it runs every 15 minutes unless turned off, and the interval maps to the alarms' period
    assert parameters["HeartbeatEnabled"]["Default"] == "true"
    assert set(parameters["HeartbeatEnabled"]["AllowedValues"]) == {"true", "false"}
    assert parameters["HeartbeatIntervalMinutes"]["Default"] == "15"
    periods = template["Mappings"]["HeartbeatIntervals"]
    assert set(periods) == set(parameters["HeartbeatIntervalMinutes"]["AllowedValues"])
    assert all(periods[minutes]["Seconds"] == int(minutes) * 60 for minutes in periods)
    assert "HeartbeatAgentName" in parameters
    on = template["Conditions"]["HeartbeatOn"]["Fn::And"]
    assert {"Fn::Equals": [{"Ref": "HeartbeatEnabled"}, "true"]} in on


def test_the_schedule_starts_the_state_machine_with_a_heartbeat_input_without_room(
    template: Template,
) -> None:
    # Given the state machine's events
    events = template["Resources"][STATE_MACHINE_ID]["Properties"]["Events"]

    # When the heartbeat schedule is read
    schedule = events["Heartbeat"]
    properties = schedule["Properties"]
    minutes = template["Parameters"]["HeartbeatIntervalMinutes"]["Default"]
    input_text = properties["Input"]["Fn::Sub"].replace("${HeartbeatAgentName}", "my-agent")

    # Then it is an EventBridge Scheduler schedule named after the stack (two stacks must not
    # collide) at the parameter's rate, on only when turned on, and its input is a heartbeat of the
    # agent, marked for the agent, with no room (Prepare names it)
    assert schedule["Type"] == "ScheduleV2"
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}-heartbeat"}  # SAM's default is one name
    assert properties["ScheduleExpression"] == {"Fn::Sub": "rate(${HeartbeatIntervalMinutes} minutes)"}
    assert f"rate({minutes} minutes)" == "rate(15 minutes)"
    assert properties["State"] == {"Fn::If": ["HeartbeatOn", "ENABLED", "DISABLED"]}
    assert json.loads(input_text) == {
        "kind": "heartbeat",
        "agent_name": "my-agent",
        "metadata": {"type": "heartbeat"},
    }


def test_alarms_watch_the_heartbeat_metrics_under_the_dimensions_record_outcome_emits(
    template: Template,
) -> None:
    # Given the alarms of the template
    alarms = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    period = {"Fn::FindInMap": ["HeartbeatIntervals", {"Ref": "HeartbeatIntervalMinutes"}, "Seconds"]}
    dimensions = [
        {"Name": "AgentName", "Value": {"Ref": "HeartbeatAgentName"}},
        {"Name": "Kind", "Value": "heartbeat"},
        {"Name": "service", "Value": SERVICE},
    ]

    # When they are read
    escalated = alarms["HeartbeatEscalatedAlarm"]
    silent = alarms["HeartbeatNotVerifiedAlarm"]

    # Then both exist only with the heartbeat on, query {AgentName, Kind=heartbeat, service} exactly as
    # emitted, and notify the alarm topic (the escalation topic unless another is given)
    for alarm in (escalated, silent):
        props = alarm["Properties"]
        assert alarm["Condition"] == "HeartbeatOn"
        assert (props["Namespace"], props["Dimensions"], props["Period"]) == (NAMESPACE, dimensions, period)
        assert props["Statistic"] == "Sum"
        assert props["AlarmActions"] == [alarm_target(template)]
    # And one fires when a heartbeat escalates within a period
    props = escalated["Properties"]
    assert (props["MetricName"], props["ComparisonOperator"], props["Threshold"]) == (
        "Escalated",
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert (props["EvaluationPeriods"], props["TreatMissingData"]) == (1, "notBreaching")
    # And the other when none verifies within two periods, no data counting as none verified
    props = silent["Properties"]
    assert (props["MetricName"], props["ComparisonOperator"], props["Threshold"]) == (
        "Verified",
        "LessThanThreshold",
        1,
    )
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    assert props["TreatMissingData"] == "breaching"


def test_the_dashboard_shows_join_latency_percentiles_attempts_and_verified_vs_escalated(
    template: Template,
) -> None:
    # Given the dashboard, with its ${AWS::Region} filled in and ${!...} unescaped as CloudFormation does
    dashboard = template["Resources"]["DispatchVerifyDashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(text.replace("${AWS::Region}", "eu-west-1").replace("${!", "${"))

    # When its widgets' metric expressions are read
    queries = [
        re.fullmatch(r"SEARCH\('\{(.+)\} MetricName=\"(\w+)\"', '(\w+)', \d+\)", row[0]["expression"])
        for widget in body["widgets"]
        for row in widget["properties"]["metrics"]
    ]
    found = {(m.group(2), m.group(3)) for m in queries if m}

    # Then every query matches the emitted dimension set, and the four views are there
    assert all(m is not None and m.group(1) == f"{NAMESPACE},AgentName,Kind,service" for m in queries)
    assert {metric for metric, _ in found} == METRICS
    assert {("AgentJoinLatency", "p50"), ("AgentJoinLatency", "p95")} <= found
    assert {("Verified", "Sum"), ("Escalated", "Sum")} <= found
    assert all(widget["properties"]["region"] == "eu-west-1" for widget in body["widgets"])
