"""LocalEngine: runs executions, reports their history, keeps what the workflow sent and printed."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import boto3
import pytest

from clocks import RealClock, VirtualClock
from local_engine import LocalEngine
from tests.engine.conftest import FIXTURE_TEMPLATE, LIVEKIT


def test_escalation_published_by_a_handler_is_seen_on_sns_eventbridge_and_dynamodb(
    engine: LocalEngine,
) -> None:
    # Given a handler that publishes to the topic, puts an event on the bus and writes the ledger
    # When the workflow runs
    result = engine.run({"scenario": "escalate", "room": "room-7"})

    # Then the SNS message, the bus event and the ledger item are all there, once
    assert result.status == "SUCCEEDED", result.cause
    (notification,) = engine.notifications()
    assert notification["subject"] == "Agent not verified"
    assert notification["message"]["room"] == "room-7"
    assert notification["attributes"] == {"cause": "not_joined"}
    (event,) = engine.bus_events()
    assert event["detail-type"] == "FixtureEscalated"
    assert event["source"] == "engine.fixture"
    assert event["detail"]["cause"] == "not_joined"
    item = boto3.client("dynamodb").get_item(
        TableName=engine.stack.tables["Ledger"], Key={"pk": {"S": "ROOM#room-7"}, "sk": {"S": "ESCALATION"}}
    )
    assert item["Item"]["room"] == {"S": "room-7"}
    # And asking again returns the same, not nothing
    assert len(engine.notifications()) == 1 and len(engine.bus_events()) == 1


def test_livekit_credentials_reach_the_handler_through_secrets_manager(engine: LocalEngine) -> None:
    # Given the engine was given LiveKit credentials
    # When a handler reads the secret named by LIVEKIT_SECRET_ARN
    engine.run({"scenario": "escalate", "room": "room-secret"})

    # Then it found the URL given to the engine
    assert engine.notifications()[0]["message"]["url"] == LIVEKIT["url"]
    assert engine.secret_arn is not None and ":secret:" in engine.secret_arn


def test_handler_environment_is_the_templates_resolved(engine: LocalEngine) -> None:
    # Given GREETING = !Sub "hello from ${AWS::Region} (${Stage})" and TABLE_ARN = !GetAtt Ledger.Arn
    # When the handler runs
    result = engine.run({"scenario": "escalate", "room": "room-env"})

    # Then it read the resolved values
    assert result.output["greeting"] == "hello from us-east-1 (test)"
    assert engine.stack is not None
    table = engine.stack.tables["Ledger"]  # named by CloudFormation: stack, logical id, suffix
    assert table.startswith("local-Ledger-")
    assert result.output["table_arn"] == f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"


def test_prints_log_lines_and_metrics_of_handlers_are_captured_not_shown(
    engine: LocalEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a handler that prints, logs through Powertools Logger and emits a Powertools metric
    # When it runs
    engine.run({"scenario": "escalate", "room": "room-log"})

    # Then all three are in lambda_output, and none reached the terminal
    output = "\n".join(engine.lambda_output)
    assert "plain print from the escalate handler" in engine.lambda_output
    assert '"message":"escalated"' in output and '"function_name":"EscalateFunction"' in output
    assert '"CloudWatchMetrics"' in output
    assert "escalated" not in capsys.readouterr().out


def test_every_history_event_is_reported_once_in_order(engine: LocalEngine) -> None:
    # Given a progress callback
    seen: list[dict[str, Any]] = []

    # When a workflow runs with it
    result = engine.run({"scenario": "flaky", "failures": 1}, on_event=seen.append)

    # Then it saw the whole history, once, in order
    assert [e["id"] for e in seen] == [e["id"] for e in result.history]
    assert seen[0]["type"] == "ExecutionStarted" and seen[-1]["type"] == "ExecutionSucceeded"
    assert result.state_transitions() == 2


def test_execution_name_is_the_one_given(engine: LocalEngine) -> None:
    arn = engine.start({"scenario": "wait"}, name="request-42")
    assert arn.endswith(":request-42")
    assert engine.wait(arn).status == "SUCCEEDED"


def test_wait_gives_up_with_a_clear_message_and_closing_stops_the_execution() -> None:
    # Given the 120 s Wait on real time
    with LocalEngine(RealClock(), None, template_path=FIXTURE_TEMPLATE) as engine:
        arn = engine.start({"scenario": "wait"})

        # When the caller waits only 0.3 s
        with pytest.raises(TimeoutError, match=r"still RUNNING after 0 s .*WaitStateEntered"):
            engine.wait(arn, timeout_s=0.3)
        closing = time.monotonic()
    # Then closing the engine stopped the execution within its one-second wait slice
    assert time.monotonic() - closing < 2.0


def test_closing_the_engine_restores_environment_path_streams_and_clock() -> None:
    # Given the process before an engine
    from dispatch_verify import clock as step_clock

    env, path, streams = dict(os.environ), list(sys.path), (sys.stdout, sys.stderr)
    virtual = VirtualClock(start=1_000.0)

    # When an engine runs and closes
    with LocalEngine(virtual, LIVEKIT, template_path=FIXTURE_TEMPLATE):
        assert os.environ["STAGE"] == "test"
        assert step_clock.now() == 1_000.0
    # Then everything it changed is back
    assert dict(os.environ) == env
    assert sys.path == path
    assert (sys.stdout, sys.stderr) == streams
    assert step_clock.now() != 1_000.0


def test_two_engines_in_a_row_each_start_from_an_empty_moto(clock: VirtualClock) -> None:
    for room in ("first", "second"):
        with LocalEngine(clock, LIVEKIT, template_path=FIXTURE_TEMPLATE) as engine:
            assert engine.run({"scenario": "escalate", "room": room}).status == "SUCCEEDED"
            assert [n["message"]["room"] for n in engine.notifications()] == [room]
