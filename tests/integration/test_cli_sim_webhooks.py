"""`dispatch-verify sim --webhook-url`: the served simulator POSTs LiveKit webhooks as time passes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from livekit import api

CLI = [sys.executable, "-m", "dispatch_verify_cli"]
ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "k1", "s" * 32
Post = tuple[dict[str, str], str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hook() -> Iterator[tuple[str, list[Post]]]:
    got: list[Post] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            got.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_sim_posts_signed_webhooks_to_the_url_and_names_it_in_the_banner(
    hook: tuple[str, list[Post]],
) -> None:
    url, got = hook
    port = free_port()
    # Given `sim` started with a warm agent and a webhook URL
    proc = subprocess.Popen(
        [
            *CLI,
            "sim",
            "--port",
            str(port),
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
            "--agent",
            "bot=warm",
            "--webhook-url",
            url,
            "--webhook-duplicate",
            "0",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(6)]
        # Then the banner names the target
        assert any(f"webhooks: POST {url}" in line for line in banner), banner

        # When a dispatch is made (and nothing else is asked)
        async def go() -> None:
            async with api.LiveKitAPI(f"http://127.0.0.1:{port}", KEY, SECRET) as lk:
                req = api.CreateAgentDispatchRequest(agent_name="bot", room="hooked")
                await lk.agent_dispatch.create_dispatch(req)

        asyncio.run(go())
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # Then room_started and the agent's participant_joined were POSTed, signed for the key
    receiver = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET))
    events = [receiver.receive(body, headers["Authorization"]) for headers, body in got]
    assert [(e.event, e.room.name) for e in events][:2] == [
        ("room_started", "hooked"),
        ("participant_joined", "hooked"),
    ]
    assert events[1].participant.kind == api.ParticipantInfo.Kind.AGENT
    assert got[0][0]["Content-Type"] == "application/webhook+json"
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--webhook-url", "ftp://example.com/hook"], "--webhook-url"),
        (["--webhook-url", "http://127.0.0.1:9/hook", "--webhook-drop", "1.5"], "--webhook-drop"),
        (["--webhook-duplicate", "0.5"], "needs --webhook-url"),
    ],
)
def test_sim_rejects_bad_webhook_arguments_without_a_traceback(args: list[str], needle: str) -> None:
    done = subprocess.run(
        [*CLI, "sim", "--port", "0", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert needle in done.stderr and "Traceback" not in done.stderr
