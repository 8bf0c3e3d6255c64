"""LiveKit errors are classified in one place; the client speaks to a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest
from dispatch_verify.adapters.livekit import LiveKitClient, livekit_error
from dispatch_verify.config import LiveKitCredentials
from dispatch_verify.errors import Cause, LiveKitPermanentError, LiveKitTransientError
from livekit import api

SECRET = "lk-api-secret-do-not-leak-0123456789abcdef"


@pytest.mark.parametrize(
    ("code", "status", "kind", "cause"),
    [
        ("unauthenticated", 401, LiveKitPermanentError, "auth"),
        ("permission_denied", 403, LiveKitPermanentError, "auth"),
        ("unknown", 401, LiveKitPermanentError, "auth"),  # a rejected token: plain-text 401
        ("unknown", 403, LiveKitPermanentError, "auth"),
        ("not_found", 404, LiveKitPermanentError, "room_missing"),
        ("invalid_argument", 400, LiveKitPermanentError, "invalid_request"),
        ("failed_precondition", 412, LiveKitPermanentError, "invalid_request"),
        ("unimplemented", 501, LiveKitPermanentError, "invalid_request"),
        ("resource_exhausted", 429, LiveKitTransientError, "quota"),
        ("unknown", 429, LiveKitTransientError, "quota"),
        ("unavailable", 503, LiveKitTransientError, "livekit_unavailable"),
        ("internal", 500, LiveKitTransientError, "livekit_unavailable"),
        ("unknown", 500, LiveKitTransientError, "livekit_unavailable"),
        ("deadline_exceeded", 504, LiveKitTransientError, "livekit_unavailable"),
        ("unknown", 502, LiveKitTransientError, "livekit_unavailable"),  # a proxy in front of LiveKit
    ],
)
def test_server_error_is_classified_by_code_and_status(
    code: str, status: int, kind: type[Exception], cause: Cause
) -> None:
    # Given a LiveKit server error as the official client raises it
    error = api.ServerError(code, "what the server said", status=status)

    # When it is classified
    mapped = livekit_error(error)

    # Then it is the named exception the state machine retries or escalates, with the cause
    assert type(mapped) is kind
    assert mapped.detail.cause == cause


def test_classified_error_keeps_livekit_code_message_and_status() -> None:
    # Given a quota error from LiveKit
    error = api.ServerError("resource_exhausted", "no worker available for agent", status=429)

    # When it is classified
    detail = livekit_error(error).detail

    # Then the detail keeps what LiveKit said, for the escalation bundle
    assert (detail.code, detail.message, detail.status) == (
        "resource_exhausted",
        "no worker available for agent",
        429,
    )


class _Stub(BaseHTTPRequestHandler):
    """Answers every Twirp call with the configured status, content type and body."""

    url = ""
    answer: tuple[int, str, bytes] = (200, "application/protobuf", b"")
    delay_s = 0.0
    requests: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).requests.append((self.path, self.headers.get("Authorization", "")))
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        status, content_type, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timeout test's client hangs up before the answer: expected


@pytest.fixture
def server() -> Iterator[type[_Stub]]:
    stub: type[_Stub] = type("Stub", (_Stub,), {"requests": []})
    httpd = _QuietServer(("127.0.0.1", 0), stub)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield stub
    httpd.shutdown()
    httpd.server_close()


def credentials(url: str) -> LiveKitCredentials:
    return LiveKitCredentials.model_validate({"url": url, "api_key": "APIkey123", "api_secret": SECRET})


def test_client_reads_participants_with_kind_state_agent_name_and_millisecond_join_time(
    server: type[_Stub],
) -> None:
    # Given a server whose room holds one agent
    info = api.ParticipantInfo(
        identity="agent-AJ_1",
        kind=api.ParticipantInfo.Kind.AGENT,
        state=api.ParticipantInfo.State.ACTIVE,
        joined_at=1_800_000_004,
        joined_at_ms=1_800_000_004_250,
        attributes={"lk.agent.name": "inbound-agent"},
    )
    body = api.ListParticipantsResponse(participants=[info]).SerializeToString()
    server.answer = (200, "application/protobuf", body)

    # When the client lists the participants
    client = LiveKitClient(credentials(server.url))
    try:
        (participant,) = client.list_participants("room-1")
    finally:
        client.close()

    # Then the participant comes back in plain values, joined_at from the milliseconds
    assert (participant.identity, participant.kind, participant.state) == ("agent-AJ_1", "AGENT", "ACTIVE")
    assert participant.agent_names() == ["inbound-agent"]
    assert participant.joined_at == 1_800_000_004.25
    assert server.requests[0][0] == "/twirp/livekit.RoomService/ListParticipants"


def test_rejected_token_is_a_permanent_auth_error_raised_from_the_server_error(server: type[_Stub]) -> None:
    # Given a server that rejects the token with a plain-text 401
    server.answer = (401, "text/plain", b"invalid API key")

    # When the client lists dispatches
    client = LiveKitClient(credentials(server.url))
    try:
        with pytest.raises(LiveKitPermanentError) as raised:
            client.list_dispatches("room-1")
    finally:
        client.close()

    # Then it is a permanent auth error that keeps LiveKit's error as its cause, and no secret
    assert raised.value.detail.cause == "auth"
    assert raised.value.detail.status == 401
    assert isinstance(raised.value.__cause__, api.ServerError)
    assert SECRET not in str(raised.value)


def test_twirp_unavailable_is_a_transient_error(server: type[_Stub]) -> None:
    # Given a server answering 503 unavailable
    server.answer = (503, "application/json", b'{"code":"unavailable","msg":"no response from servers"}')

    # When the client creates a dispatch
    client = LiveKitClient(credentials(server.url))
    try:
        with pytest.raises(LiveKitTransientError) as raised:
            client.create_dispatch("room-1", "inbound-agent", "{}")
    finally:
        client.close()

    # Then the state machine will retry it
    assert (raised.value.detail.cause, raised.value.detail.code) == ("livekit_unavailable", "unavailable")


def test_deleting_a_dispatch_livekit_does_not_know_counts_as_done(server: type[_Stub]) -> None:
    # Given a server that no longer knows the dispatch
    server.answer = (404, "application/json", b'{"code":"not_found","msg":"dispatch ID not found"}')

    # When the client deletes it
    client = LiveKitClient(credentials(server.url))
    try:
        found = client.delete_dispatch("room-1", "AD_gone")
    finally:
        client.close()

    # Then there is nothing left to delete
    assert found is False


def test_unreachable_server_is_a_transient_error_raised_from_the_network_error() -> None:
    # Given a URL where nothing listens
    client = LiveKitClient(credentials("http://127.0.0.1:9"))

    # When the client lists participants
    try:
        with pytest.raises(LiveKitTransientError) as raised:
            client.list_participants("room-1")
    finally:
        client.close()

    # Then it is livekit_unavailable, from the aiohttp error
    assert raised.value.detail.cause == "livekit_unavailable"
    assert isinstance(raised.value.__cause__, aiohttp.ClientError)


def test_server_slower_than_the_client_timeout_is_a_transient_error(server: type[_Stub]) -> None:
    # Given a server that answers after 2 s and a client that waits 0.2 s
    server.delay_s = 2.0

    # When the client lists participants
    client = LiveKitClient(credentials(server.url), timeout_s=0.2)
    try:
        with pytest.raises(LiveKitTransientError) as raised:
            client.list_participants("room-1")
    finally:
        client.close()

    # Then it is livekit_unavailable
    assert raised.value.detail.cause == "livekit_unavailable"
    assert "TimeoutError" in raised.value.detail.message
