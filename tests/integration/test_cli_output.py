"""The CLI's output tells the truth (issue 13): usage errors before anything runs, progress lines that
name the step and LiveKit's error, the job state at each look, a hint a person can act on, the one
outcome model in --json, and help for every option with its default."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from dispatch_verify.models import Outcome

from clocks import RealClock
from dispatch_verify_cli import describe, main
from dispatch_verify_cli.main import parser
from livekit_sim import LiveKitSimulator
from tests.integration.test_cli import env_for, run_cli

QUICK = ["--poll-interval", "1", "--join-timeout", "2", "--max-attempts", "1", "--json"]


@pytest.fixture
def live_sim() -> Iterator[LiveKitSimulator]:
    with LiveKitSimulator(RealClock(), agents={"fast-agent": "warm"}) as sim:
        yield sim


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--room", " padded", "--agent-name", "a"], "--room must not begin or end with a space"),
        (["--room", "r", "--agent-name", "a\u200bb"], "--agent-name must not contain"),
        (["--room", "r", "--agent-name", "a", "--request-id", "a b"], "--request-id must not contain"),
        (["--room", "r", "--agent-name", "a", "--request-id", "x" * 81], "--request-id must be 1 to 80"),
        (["--room", "r", "--agent-name", "a", "--join-timeout", "9999"], "--join-timeout"),
    ],
)
def test_run_refuses_invalid_input_as_a_usage_error_before_anything_runs(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given LiveKit settings that point nowhere (nothing may be called)
    for name, value in {
        "LIVEKIT_URL": "http://127.0.0.1:9",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
    }.items():
        monkeypatch.setenv(name, value)

    # When `run` is given a value the workflow would refuse
    status = main(["run", *flags])

    # Then it exits 1 naming the flag, and no workflow ran (no escalation, no progress)
    err = capsys.readouterr().err
    assert status == 1
    assert named in err
    assert "escalat" not in err and not re.search(r"\[\s*\d+\.\ds\]", err)  # no progress line


def test_a_wrong_secret_says_which_step_failed_what_livekit_said_and_what_to_check(
    live_sim: LiveKitSimulator,
) -> None:
    # Given the right server and key but a wrong secret
    env = {**env_for(live_sim), "LIVEKIT_API_SECRET": "not-the-secret"}

    # When `run` dispatches
    done = run_cli("run", "--room", "cli-auth", "--agent-name", "fast-agent", *QUICK, env=env)

    # Then the room is not said to be ensured: the step says it did not complete, naming the error and
    # LiveKit's status; the end names the credentials to check; the outcome has the model's fields
    assert done.returncode == 2, done.stderr
    assert "room 'cli-auth' ensured" not in done.stderr
    assert "Dispatch agent did not complete: LiveKitPermanentError: auth" in done.stderr
    assert "HTTP 401" in done.stderr
    assert "LIVEKIT_API_KEY" in done.stderr and "LIVEKIT_API_SECRET" in done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(Outcome.model_fields) <= set(outcome)
    assert (outcome["status"], outcome["cause"], outcome["attempts"]) == ("escalated", "auth", 0)
    assert outcome["last_error"]["status"] == 401 and outcome["finished_at"]
    assert outcome["evidence"]["cause"] == "auth"
    assert "not-the-secret" not in done.stdout + done.stderr


def test_an_agent_name_without_a_worker_shows_no_job_at_each_look_and_ends_with_a_hint(
    live_sim: LiveKitSimulator,
) -> None:
    # Given no worker registered under the agent name (a typo)
    # When `run` dispatches it
    done = run_cli("run", "--room", "cli-typo", "--agent-name", "fast-agnet", *QUICK, env=env_for(live_sim))

    # Then every look says no job was made, the waits say they poll (no webhook reaches `run`), and the
    # end says to check the worker's agent name
    assert done.returncode == 2, done.stderr
    looks = [line for line in done.stderr.splitlines() if "look: participants" in line]
    assert looks and all("job: none yet" in line for line in looks)
    assert "polling" in done.stderr and "join webhook" not in done.stderr
    assert "never_assigned" in done.stderr
    assert "registered under" in done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome["status"], outcome["cause"], outcome["attempts"]) == ("escalated", "never_assigned", 1)


def test_a_verified_run_prints_the_outcome_model_with_the_job_running_at_the_look(
    live_sim: LiveKitSimulator,
) -> None:
    # Given a warm agent
    # When `run --json` dispatches it
    done = run_cli("run", "--room", "cli-ok", "--agent-name", "fast-agent", *QUICK, env=env_for(live_sim))

    # Then the outcome is the model, verified, attempts a count and dispatches listed
    assert done.returncode == 0, done.stderr
    outcome = Outcome.model_validate(json.loads(done.stdout.strip().splitlines()[-1]))
    assert outcome.status == "verified" and outcome.attempts == len(outcome.dispatches) == 1
    assert "VERIFIED" in done.stderr


def job_event(jobs: list[dict[str, Any]], next_step: str = "wait") -> dict[str, Any]:
    state = {
        "request": {"room": "r", "agent_name": "a"},
        "attempts": [{"dispatch_id": "AD_1", "deleted": False, "job_states": jobs}],
        "check": {"next": next_step, "participants": [], "cause": None},
    }
    details = {"name": "Check participants", "output": json.dumps(state)}
    return {"type": "TaskStateExited", "stateExitedEventDetails": details}


@pytest.mark.parametrize(
    ("jobs", "shown"),
    [
        ([], "job: none yet"),
        ([{"job_id": "AJ_1", "status": "JS_PENDING"}], "job: AJ_1 pending"),
        (
            [{"job_id": "AJ_1", "status": "JS_PENDING"}, {"job_id": "AJ_1", "status": "JS_RUNNING"}],
            "job: AJ_1 running",
        ),
        (
            [{"job_id": "AJ_1", "status": "JS_FAILED", "error": "no worker capacity"}],
            "AJ_1 failed (no worker capacity)",
        ),
    ],
)
def test_each_look_prints_the_live_dispatchs_job_state(jobs: list[dict[str, Any]], shown: str) -> None:
    # Given a look whose live dispatch has these job states (in the order seen)
    # When it is described
    line = describe(job_event(jobs), 0.0, 1.0)

    # Then the line names the job's latest state
    assert line is not None and shown in line


def test_a_failed_task_names_its_step_its_error_and_livekits_words() -> None:
    # Given a transient failure of "Check participants" as Step Functions records it
    detail = {"cause": "livekit_unavailable", "code": "unavailable", "message": "server busy", "status": 503}
    cause = json.dumps({"errorType": "LiveKitTransientError", "errorMessage": json.dumps(detail)})
    event = {
        "type": "TaskFailed",
        "taskFailedEventDetails": {"error": "LiveKitTransientError", "cause": cause},
    }

    # When it is described
    line = describe(event, 0.0, 1.0, step="Check participants")

    # Then the line names the step, the error, LiveKit's message, code and status
    assert line is not None
    assert "Check participants failed: LiveKitTransientError: livekit_unavailable: server busy" in line
    assert "code unavailable" in line and "HTTP 503" in line


def subcommands() -> dict[str, argparse.ArgumentParser]:
    top = parser()
    (sub,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the commands
    names = set(subcommands())

    # When the top-level help is printed
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out

    # Then each is listed, api, cancel and list among them
    assert {"demo", "run", "heartbeat", "sim", "api", "cancel", "list"} <= names
    assert all(f"    {name}" in shown for name in names)


def test_every_option_has_help_and_shows_its_default() -> None:
    # Given every command's options
    for name, command in subcommands().items():
        text = " ".join(command.format_help().split())
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            # Then each has help, and a default it has is shown (or its help says what unset means)
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.default not in (None, False):
                assert f"(default: {action.default})" in text, f"{name} {action.option_strings[0]}"


def exit_of(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": json.dumps(state)}}


def test_the_page_and_the_announcement_are_said_as_they_went() -> None:
    # Given the exits of "Page on-call" and "Announce outcome", done and failed
    announced = {"announcement": {"detail_type": "AgentDispatchEscalated"}}
    failed = {**announced, "announce_error": {"Error": "EventBridge.FailedEntry"}}

    # When they are described
    lines = [
        describe(exit_of("Page on-call", {}), 0.0, 1.0),
        describe(exit_of("Page on-call", {"page_error": {"Error": "SNS.KMSException"}}), 0.0, 1.0),
        describe(exit_of("Announce outcome", announced), 0.0, 1.0),
        describe(exit_of("Announce outcome", failed), 0.0, 1.0),
    ]

    # Then each says what happened, a failure naming its error
    assert [line and line.split("] ", 1)[1] for line in lines] == [
        "on-call paged (SNS)",
        "on-call NOT paged: SNS.KMSException (the outcome is still recorded)",
        "AgentDispatchEscalated announced on the event bus",
        "AgentDispatchEscalated NOT announced: EventBridge.FailedEntry (the outcome stands)",
    ]


def test_a_look_that_finds_the_agent_says_it_joined_and_no_job_state() -> None:
    # Given a look that verified the agent before any job state was recorded
    event = job_event([], next_step="verified")

    # When it is described
    line = describe(event, 0.0, 1.0)

    # Then it says the agent joined, not that no worker took the dispatch
    assert line is not None and "agent joined" in line and "job:" not in line
