"""Step Functions ends a Standard execution at 25,000 history events, with no escalation and no record:
intake refuses options whose worst case does not fit a budget well under it, and the budget's model is
held to the real state machine's histories."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.history import HISTORY_BUDGET, worst_case_events
from dispatch_verify.models import Options

from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalEngine
from tests.integration.api_helpers import a_dispatch, via_handler
from tests.integration.conftest import escalation_of, request
from tests.integration.test_cli import run_cli

OVER = {"join_timeout_s": 3600, "poll_interval_s": 1, "webhook_backstop_s": 1, "max_attempts": 3}


@pytest.mark.parametrize(
    "options",
    [
        {"join_timeout_s": 7, "poll_interval_s": 1, "max_attempts": 1},
        {"join_timeout_s": 12, "poll_interval_s": 2, "max_attempts": 2},
        {"join_timeout_s": 10, "poll_interval_s": 3, "max_attempts": 3},
    ],
)
def test_the_worst_case_model_never_undercounts_a_real_history(
    engine: LocalEngine, sim: LiveKitSimulator, options: dict[str, int]
) -> None:
    # Given an agent that never comes (the worst case: every attempt waits its whole join timeout)
    sim.set_agent("ghost", "never")

    # When the request runs through the real state machine
    result = engine.run(request(f"history-{options['join_timeout_s']}", "ghost", **options))

    # Then its history is what the model says at most, and not far below it
    predicted = worst_case_events(Options(**options), webhooks=False)
    assert escalation_of(result)["cause"] == "not_joined"
    assert len(result.history) <= predicted <= len(result.history) * 1.1


def test_the_api_refuses_options_over_the_history_budget_naming_them(engine: LocalEngine) -> None:
    # Given options whose worst case is far over the budget (an hour of 1 s waits, three times)
    assert worst_case_events(Options(**OVER), webhooks=None) > HISTORY_BUDGET

    # When they are posted
    answer = via_handler(LocalApi(engine), "POST", "/dispatches", a_dispatch("r-over", "a", options=OVER))

    # Then 422 names the options, and nothing was started
    assert answer.status == 422
    assert {"options.join_timeout_s", "options.max_attempts"} <= {e["field"] for e in answer.body["errors"]}
    assert engine.sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"] == []


def test_a_workflow_started_directly_with_such_options_escalates_invalid_request(engine: LocalEngine) -> None:
    bundle = escalation_of(engine.run(request("r-over-direct", "a", **OVER)))
    assert bundle["cause"] == "invalid_request"
    assert "history events" in bundle["last_error"]["message"]


def test_run_refuses_such_options_before_anything_runs() -> None:
    done = run_cli(
        "run", "--room", "r", "--agent-name", "a", "--join-timeout", "3600", "--poll-interval", "1"
    )
    assert done.returncode == 1
    assert (
        "--join-timeout" in done.stderr and "history events" in done.stderr and "Traceback" not in done.stderr
    )
