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
