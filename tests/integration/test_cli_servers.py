"""`dispatch-verify sim` and `dispatch-verify api` as a user runs them (issue 13's CLI habits): the
simulator says a line per call unless --quiet; the API against a LiveKit server polls unless told
that webhooks reach it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from dispatch_verify.client import DispatchClient
from livekit import api

from clocks import RealClock
from livekit_sim import LiveKitSimulator
from tests.integration.test_cli_sim_webhooks import free_port

CLI = [sys.executable, "-m", "dispatch_verify_cli"]
ROOT = Path(__file__).resolve().parents[2]


def read_until(stream: IO[str], needle: str, timeout_s: float = 30) -> list[str]:
    """Lines of ``stream`` up to the first that holds ``needle`` (all of them if it never comes)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            break
    return lines


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def start(
    procs: list[subprocess.Popen[str]], *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = subprocess.Popen(
        [*CLI, *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    procs.append(proc)
    return proc


def list_rooms(port: int) -> None:
    async def go() -> None:
        async with api.LiveKitAPI(f"http://127.0.0.1:{port}", "devkey", "secret") as lk:
            await lk.room.list_rooms(api.ListRoomsRequest())

    asyncio.run(go())


@pytest.mark.parametrize("quiet", [False, True])
def test_sim_says_a_line_per_call_unless_quiet(started: list[subprocess.Popen[str]], quiet: bool) -> None:
    # Given `sim` listening (quiet or not)
    port = free_port()
    proc = start(started, "sim", "--port", str(port), *(["--quiet"] if quiet else []))
    assert proc.stdout is not None
    banner = read_until(proc.stdout, "webhooks:")
    assert any("listening on" in line for line in banner), banner

    # When a client lists the rooms, then the simulator is stopped
    list_rooms(port)
    time.sleep(0.5)
    proc.terminate()
    rest = proc.stdout.read()

    # Then the call was said in one line (method, code, status), or nothing with --quiet
    said = [line for line in rest.splitlines() if "ListRooms" in line]
    assert said == ([] if quiet else [said[0]])
    if not quiet:
        assert said[0].endswith("ListRooms → ok (200)")


def test_api_against_a_livekit_server_polls_without_webhooks(started: list[subprocess.Popen[str]]) -> None:
    # Given a LiveKit server (the simulator) whose agent wakes 6 s after its dispatch and that sends no
    # webhook, and `dispatch-verify api` pointed at it
    with LiveKitSimulator(RealClock(), agents={"sleepy": "wake:6"}) as sim:
        port = free_port()
        env = {
            "LIVEKIT_URL": sim.url or "",
            "LIVEKIT_API_KEY": sim.api_key,
            "LIVEKIT_API_SECRET": sim.api_secret,
        }
        proc = start(started, "api", "--port", str(port), env=env)
        assert proc.stdout is not None
        banner = read_until(proc.stdout, "listening on", timeout_s=60)
        assert any("webhooks off: the workflow polls" in line for line in banner), banner

        # When a dispatch is started through it and waited for
        client = DispatchClient(f"http://127.0.0.1:{port}")
        accepted = client.start("api-poll", "sleepy", options={"poll_interval_s": 1, "join_timeout_s": 30})
        began = time.monotonic()
        view = client.wait(accepted.request_id, timeout_s=40, max_delay_s=1)

        # Then a look found the agent about a poll interval after it joined, not at a 30 s backstop
        assert view.status == "verified", view
        assert time.monotonic() - began < 15
