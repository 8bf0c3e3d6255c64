"""The `dispatch-verify` command as a user runs it: real time, real subprocess, the simulator as LiveKit."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dispatch_verify.models import MAX_RINGING_TIMEOUT_S, Options, SipRequest
from livekit import api

from clocks import RealClock
from dispatch_verify_cli import execution_budget_s, main
from livekit_sim import BEHAVIOURS, LiveKitSimulator

CLI = [sys.executable, "-m", "dispatch_verify_cli"]
ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def live_sim() -> Iterator[LiveKitSimulator]:
    with LiveKitSimulator(RealClock(), agents={"fast-agent": "warm", "ghost-agent": "never"}) as sim:
        yield sim


def env_for(sim: LiveKitSimulator) -> dict[str, str]:
    return {"LIVEKIT_URL": sim.url, "LIVEKIT_API_KEY": sim.api_key, "LIVEKIT_API_SECRET": sim.api_secret}


def test_run_prints_the_verified_outcome_as_the_last_json_line_and_exits_0(
    live_sim: LiveKitSimulator,
) -> None:
    # Given a LiveKit server with a warm agent
    # When `run --json` dispatches it
    done = run_cli(
        "run",
        "--room",
        "cli-room",
        "--agent-name",
        "fast-agent",
        "--metadata",
        '{"a": 1}',
        "--poll-interval",
        "1",
        "--json",
        env=env_for(live_sim),
    )

    # Then it exits 0, progress went to stderr and the outcome is the last stdout line
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "verified"
    assert outcome["dispatch_ids"] == [outcome["dispatch_id"]]
    assert outcome["join_latency_s"] > 0
    assert "agent joined" in done.stderr
    assert live_sim.max_live_dispatches("cli-room", "fast-agent") == 1


def test_run_exits_2_with_the_cause_when_the_agent_never_joins(live_sim: LiveKitSimulator) -> None:
    # Given an agent that never wakes
    # When `run --json` dispatches it with a short budget
    done = run_cli(
        "run",
        "--room",
        "cli-ghost",
        "--agent-name",
        "ghost-agent",
        "--join-timeout",
        "2",
        "--poll-interval",
        "1",
        "--max-attempts",
        "2",
        "--json",
        env=env_for(live_sim),
    )

    # Then it exits 2 and the outcome names the cause and both dispatches
    assert done.returncode == 2, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "escalated"
    assert outcome["cause"] == "not_joined"
    assert len(outcome["dispatch_ids"]) == 2


def test_run_without_credentials_is_a_usage_error_without_traceback() -> None:
    # Given no LIVEKIT_* variables
    # When `run` is called
    done = run_cli("run", "--room", "r", "--agent-name", "a")

    # Then it exits 1 with a message naming the missing variables, and no traceback
    assert done.returncode == 1
    assert "LIVEKIT_URL" in done.stderr and "LIVEKIT_API_SECRET" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_rejects_metadata_that_is_not_json(live_sim: LiveKitSimulator) -> None:
    done = run_cli("run", "--room", "r", "--agent-name", "a", "--metadata", "{oops", env=env_for(live_sim))

    assert done.returncode == 1
    assert "--metadata" in done.stderr and "Traceback" not in done.stderr


def test_sim_serves_the_livekit_api_until_interrupted() -> None:
    # Given a free port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    # When `sim` is started with custom credentials and an agent
    proc = subprocess.Popen(
        [
            *CLI,
            "sim",
            "--port",
            str(port),
            "--api-key",
            "k1",
            "--api-secret",
            "s" * 32,
            "--agent",
            "bot=warm",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner

        # Then the official client can use it with those credentials
        async def create_and_list() -> list[str]:
            async with api.LiveKitAPI(f"http://127.0.0.1:{port}", "k1", "s" * 32) as lk:
                await lk.room.create_room(api.CreateRoomRequest(name="from-client"))
                rooms = await lk.room.list_rooms(api.ListRoomsRequest())
                return [room.name for room in rooms.rooms]

        assert asyncio.run(create_and_list()) == ["from-client"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # And it stops cleanly on SIGTERM
    assert proc.returncode == 0


def test_sim_rejects_an_unknown_behaviour() -> None:
    started = time.monotonic()
    done = run_cli("sim", "--port", "0", "--agent", "bot=sleepy")

    assert done.returncode == 1
    assert "bot=sleepy" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 30


def test_run_with_a_call_dials_once_verified_and_exits_0_or_2_by_how_the_call_went(
    live_sim: LiveKitSimulator,
) -> None:
    # Given a warm agent, a callee who answers and one whose line is busy
    live_sim.set_sip_answer("+15550100486", "busy")
    base = [
        "run",
        "--agent-name",
        "fast-agent",
        "--poll-interval",
        "1",
        "--sip-trunk",
        "ST_simtrunk",
        "--json",
    ]

    # When `run` dispatches the agent and dials each callee (two runs at once)
    with ThreadPoolExecutor(2) as pool:
        answering = pool.submit(
            run_cli, *base, "--room", "cli-call", "--call-to", "+15550100200", env=env_for(live_sim)
        )
        busy_line = pool.submit(
            run_cli, *base, "--room", "cli-busy", "--call-to", "+15550100486", env=env_for(live_sim)
        )
        answered, busy = answering.result(), busy_line.result()

    # Then the answered call exits 0 verified with its sip block answered, the busy one 2 with
    # dial_failed and the 486 (in the outcome's sip block and in the evidence)
    assert answered.returncode == 0, answered.stderr
    outcome = json.loads(answered.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "verified"
    assert (outcome["sip"]["participant_identity"], outcome["sip"]["answered"]) == ("callee", True)
    assert "VERIFIED, CALL CONNECTED" in answered.stderr
    assert "callee dialled into the room" in answered.stderr
    assert busy.returncode == 2, busy.stderr
    failed = json.loads(busy.stdout.strip().splitlines()[-1])
    assert failed["cause"] == "dial_failed"
    assert failed["sip"]["sip_status_code"] == failed["evidence"]["sip"]["sip_status_code"] == 486
    assert "CALL NOT CONNECTED: busy" in busy.stderr
    assert "+15550100486" not in busy.stdout + busy.stderr


def test_run_with_a_number_but_no_trunk_is_a_usage_error(live_sim: LiveKitSimulator) -> None:
    done = run_cli(
        "run", "--room", "r", "--agent-name", "a", "--call-to", "+15550100200", env=env_for(live_sim)
    )

    assert done.returncode == 1
    assert "--sip-trunk" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("item", ["+15550100200=voicemail", "+15550100200"])
def test_sim_rejects_a_bad_sip_answer(item: str) -> None:
    done = run_cli("sim", "--port", "0", "--sip", item)

    assert done.returncode == 1
    assert item in done.stderr and "Traceback" not in done.stderr


def test_sim_help_lists_every_agent_behaviour_with_its_help() -> None:
    done = run_cli("sim", "--help", env={"COLUMNS": "100"})

    assert done.returncode == 0, done.stderr
    flat = " ".join(done.stdout.split())  # argparse wraps; the words stay in order
    for kind in BEHAVIOURS.values():
        assert " ".join(f"{kind.usage} {kind.help}".split()) in flat, kind.name
    assert " | ".join(kind.usage for kind in BEHAVIOURS.values()) in flat  # --agent's own help


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_run_help_shows_the_workflow_models_defaults(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The help shows the defaults the workflow applies to options left unset
    defaults = Options()
    shown = help_of("run", capsys)
    assert f"seconds to wait per dispatch (unset: the workflow's {defaults.join_timeout_s})" in shown
    assert f"seconds between looks at the room (unset: {defaults.poll_interval_s})" in shown
    assert f"dispatches before escalating (unset: {defaults.max_attempts})" in shown
    ringing = SipRequest.model_fields["ringing_timeout_s"].default
    assert f"seconds the call rings (unset: {ringing}; at most {MAX_RINGING_TIMEOUT_S})" in shown
    # And it follows the models: a changed default changes the help and the time `run` waits
    monkeypatch.setattr(Options.model_fields["join_timeout_s"], "default", 77)
    assert "seconds to wait per dispatch (unset: the workflow's 77)" in help_of("run", capsys)
    assert execution_budget_s() == (77 + defaults.webhook_backstop_s) * defaults.max_attempts + 60
    assert execution_budget_s({"join_timeout_s": 5, "max_attempts": 1}) == (
        5 + defaults.webhook_backstop_s + 60
    )
