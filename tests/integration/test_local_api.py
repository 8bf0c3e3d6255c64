"""The API over HTTP: the local proxy-event server in-process, and `dispatch-verify api` as a user runs it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalApiServer, LocalEngine
from tests.integration.api_helpers import a_dispatch, follow, via_http

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(engine: LocalEngine) -> Iterator[LocalApiServer]:
    with LocalApiServer(LocalApi(engine)) as local:
        yield local


def test_over_http_a_dispatch_is_started_followed_and_repeated(
    server: LocalApiServer, sim: LiveKitSimulator
) -> None:
    # Given a warm agent behind the local API
    sim.set_agent("fast-agent", "warm")
    payload = a_dispatch("http-room-1", "fast-agent", idempotency_key="http-1")

    # When a dispatch is posted, followed by its status URL, and posted again
    accepted = via_http(server.url, "POST", "/dispatches", payload)
    status_path = accepted.body["status_url"].removeprefix(server.url)
    final = follow(lambda: via_http(server.url, "GET", status_path))
    again = via_http(server.url, "POST", "/dispatches", payload)

    # Then it is accepted (202, a status URL on this server), verified, and the repeat names it again
    assert accepted.status == 202
    assert accepted.body["status_url"].startswith(f"{server.url}/dispatches/req-")
    assert (final.status, final.body["status"]) == (200, "verified")
    assert final.body["dispatches"][0]["dispatch_id"] == final.body["dispatch_id"]
    assert (again.status, again.body["request_id"], again.body["status"]) == (
        202,
        accepted.body["request_id"],
        "verified",
    )


def test_over_http_client_errors_are_answered_as_documented(server: LocalApiServer) -> None:
    # Given a dispatch accepted with a key
    via_http(server.url, "POST", "/dispatches", a_dispatch("http-room-2", "fast-agent", idempotency_key="k2"))

    # When the key is reused with another body, an id is unknown, a name is empty, a body is huge
    conflict = via_http(
        server.url, "POST", "/dispatches", a_dispatch("other", "fast-agent", idempotency_key="k2")
    )
    missing = via_http(server.url, "GET", "/dispatches/req-unknown")
    invalid = via_http(server.url, "POST", "/dispatches", {"room": "r", "agent_name": ""})
    huge = via_http(
        server.url, "POST", "/dispatches", {"room": "r", "agent_name": "a", "metadata": "x" * 200_000}
    )

    # Then each has its status and a JSON message
    assert conflict.status == 409
    assert missing.status == 404
    assert invalid.status == 422 and invalid.body["errors"][0]["field"] == "agent_name"
    assert huge.status == 413
    assert all("message" in answer.body for answer in (conflict, missing, invalid, huge))


def test_a_path_the_api_does_not_have_is_a_json_404_naming_the_routes(server: LocalApiServer) -> None:
    # Given the local API
    # When a path outside the template's routes is requested, and a method a route does not have
    answer = via_http(server.url, "GET", "/rooms")
    wrong_method = via_http(server.url, "PUT", "/dispatches")

    # Then each is a JSON 404 that names what was asked, the routes there are, and what API
    # Gateway answers instead
    assert (answer.status, wrong_method.status) == (404, 404)
    assert answer.body["message"] == "no route for GET /rooms"
    assert wrong_method.body["message"] == "no route for PUT /dispatches"
    assert "POST /dispatches" in answer.body["routes"]
    assert answer.body["api_gateway_answers"] == {"status": 403, "message": "Missing Authentication Token"}


@pytest.mark.slow
def test_the_api_command_serves_the_api_with_the_embedded_simulator(tmp_path: Path) -> None:
    # Given a free port and no LIVEKIT_* in the environment
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    out = tmp_path / "out.txt"

    # When `dispatch-verify api` is started
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatch_verify_cli", "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while f"listening on http://127.0.0.1:{port}" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"

        # Then it prints its demo agents, and a dispatch to the warm one is followed to verified
        assert re.search(r"fast-agent \(warm\)", out.read_text())
        accepted = via_http(url, "POST", "/dispatches", a_dispatch("cli-room", "fast-agent"))
        final = follow(
            lambda: via_http(url, "GET", f"/dispatches/{accepted.body['request_id']}"), timeout_s=30
        )
        assert accepted.status == 202
        assert final.body["status"] == "verified"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    # And it stops cleanly on SIGTERM
    assert proc.returncode == 0
