"""The API function runs on its events/ samples (the proxy events `sam local invoke -e` uses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from dispatch_verify.handlers import api
from moto import mock_aws

from local_engine import create_table

from .conftest import LambdaContext, load_event
from .fakes import FakeTime

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, now: FakeTime) -> Iterator[None]:
    """The ledger table from the template and a state machine, in moto; the API function's environment."""
    with mock_aws():
        table = create_table(TEMPLATE, boto3.Session(), "DispatchLedgerTable")
        role = "arn:aws:iam::123456789012:role/sfn"
        machine = boto3.client("stepfunctions").create_state_machine(name="m", definition=PASS, roleArn=role)
        monkeypatch.setenv("LEDGER_TABLE_NAME", table)
        monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
        yield


def test_the_post_sample_is_accepted_and_the_get_sample_follows_it(
    deployed: None, lambda_context: LambdaContext
) -> None:
    # Given the POST and GET samples (the GET names the request the POST's idempotency key makes)
    post, get = load_event("api_post_dispatch"), load_event("api_get_dispatch")

    # When the function runs on each
    accepted = api.lambda_handler(post, lambda_context)
    followed = api.lambda_handler(get, lambda_context)

    # Then the POST is accepted with a status URL on the stage, and the GET finds it running
    assert accepted["statusCode"] == 202
    body = json.loads(accepted["body"])
    assert body["status_url"] == f"https://{post['requestContext']['domainName']}/v1{get['path']}"
    assert followed["statusCode"] == 200
    assert json.loads(followed["body"])["status"] == "running"


def test_the_get_sample_alone_is_not_found(deployed: None, lambda_context: LambdaContext) -> None:
    # Given the GET sample and an empty ledger
    # When the function runs on it
    answer = api.lambda_handler(load_event("api_get_dispatch"), lambda_context)

    # Then it is 404
    assert answer["statusCode"] == 404


@pytest.fixture
def sample_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The LiveKit key pair the webhook sample was signed with."""
    monkeypatch.setenv("LIVEKIT_URL", "https://example.livekit.cloud")
    monkeypatch.setenv("LIVEKIT_API_KEY", "APIkey123")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "not-a-real-secret")


def test_the_webhook_sample_replayed_later_is_refused(
    deployed: None, sample_keys: None, lambda_context: LambdaContext
) -> None:
    # Given the captured webhook sample, whose 5-minute signature expired long ago, and the key pair
    # it was signed with
    event = load_event("api_livekit_webhook")

    # When the function runs on it
    answer = api.lambda_handler(event, lambda_context)

    # Then it is refused as a replay would be: 401, whatever the body says
    assert answer["statusCode"] == 401
    assert "participant_joined" in event["body"]


def test_the_webhook_sample_freshly_signed_is_accepted(
    deployed: None, sample_keys: None, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the webhook sample's body signed now (what `sam local invoke` needs: see README), and the
    # wait table from the template
    from livekit_sim import signed_headers

    monkeypatch.setenv("WAIT_TABLE_NAME", create_table(TEMPLATE, boto3.Session(), "WaitTokenTable"))
    event = load_event("api_livekit_webhook")
    event["headers"]["Authorization"] = signed_headers(event["body"], "APIkey123", "not-a-real-secret")[
        "Authorization"
    ]

    # When the function runs on it
    answer = api.lambda_handler(event, lambda_context)

    # Then the agent's join is accepted (no workflow awaited it here)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"event": "participant_joined", "resumed": 0}
