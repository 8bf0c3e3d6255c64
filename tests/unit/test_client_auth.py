"""dispatch_verify.client without a server: how it signs, what it costs to import, how it backs off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from dispatch_verify.client import ApiError, ApiKeyAuth, DispatchClient, SigV4Auth

ROOT = Path(__file__).resolve().parents[2]
URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/dispatches/req-1"


def test_sigv4_signs_for_execute_api_in_the_urls_region() -> None:
    # Given credentials and the stack's URL
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "secret", "token"))

    # When a GET is signed
    headers = auth.sign("GET", URL, {"Accept": "application/json"}, b"")

    # Then the signature is for service execute-api in the URL's region, with the session token
    scope = headers["Authorization"]
    assert scope.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in scope
    assert headers["X-Amz-Security-Token"] == "token" and "X-Amz-Date" in headers
    assert "secret" not in json.dumps(headers)


def test_sigv4_without_a_region_for_a_url_that_names_none_is_refused() -> None:
    # Given a URL that is not execute-api's, and no region
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "secret"))

    # When it would sign, then it says why it cannot
    with pytest.raises(ValueError, match="no region"):
        auth.sign("GET", "https://api.example.com/dispatches", {}, b"")


def test_an_api_key_is_sent_as_x_api_key() -> None:
    assert ApiKeyAuth("k-123").sign("GET", URL, {"Accept": "application/json"}, b"")["x-api-key"] == "k-123"


def test_importing_the_client_loads_neither_powertools_nor_boto3() -> None:
    # Given a fresh interpreter
    heavy = "{'boto3', 'aws_lambda_powertools', 'botocore'}"
    loaded = "{m.split('.')[0] for m in sys.modules}"
    code = f"import sys; import dispatch_verify.client; print(sorted({loaded} & {heavy}))"

    # When the client is imported
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": "functions"},
        capture_output=True,
        text=True,
    )

    # Then nothing heavy came with it (botocore comes only when SigV4 signs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


class Scripted(DispatchClient):
    """A client whose HTTP answers are scripted, and whose pauses are recorded."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.pauses: list[float] = []
        super().__init__("http://127.0.0.1:3000", sleep=self.pauses.append)
        self.answers, self.sent = answers, []  # type: list[tuple[int, dict[str, str], Any]], list[str]

    def _send(self, method: str, url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
        self.sent.append(f"{method} {url}")
        status, headers, body = self.answers.pop(0)
        return status, headers, json.dumps(body).encode()


RUNNING = {"request_id": "req-1", "status": "running", "phase": "waiting_for_agent", "room": "r",
           "agent_name": "a", "started_at": "2027-01-15T08:00:00.000Z", "participants": []}  # fmt: skip


def test_a_throttled_get_is_asked_again_after_retry_after() -> None:
    # Given a 429 with Retry-After 2, then the answer
    client = Scripted([(429, {"Retry-After": "2"}, {"message": "slow down"}), (200, {}, RUNNING)])

    # When the request is followed
    view = client.get("req-1")

    # Then the client paused 2 s and asked again
    assert view.phase == "waiting_for_agent" and client.pauses == [2.0] and len(client.sent) == 2


def test_a_post_without_an_idempotency_key_is_never_sent_twice() -> None:
    # Given a 503 to a start without a key (a second one could start a second dispatch)
    client = Scripted([(503, {"Retry-After": "1"}, {"message": "try later", "errors": []})])

    # When it is started, then the error comes at once, naming the status
    with pytest.raises(ApiError) as refused:
        client.start("r", "a")
    assert refused.value.status == 503 and len(client.sent) == 1


def test_wait_pauses_double_up_to_the_cap() -> None:
    # Given a request that runs through five looks, then ends
    verified = {**RUNNING, "status": "verified", "phase": None, "finished_at": "2027-01-15T08:00:09.000Z"}
    client = Scripted([*[(200, {}, RUNNING)] * 5, (200, {}, verified)])

    # When it is waited for with pauses from 1 s up to 4 s
    view = client.wait("req-1", timeout_s=600, first_delay_s=1, max_delay_s=4)

    # Then the pauses were 1, 2, 4, 4, 4 and the answer the verified view
    assert client.pauses == [1, 2, 4, 4, 4] and view.status == "verified"
