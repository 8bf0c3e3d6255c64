"""Property-based: requests generated from docs/openapi.json (valid and invalid) against the local API.

Every answer must be documented and match its schema, and none may be a 5xx. One engine and server
serve the whole run: the real handler, ledger table and Step Functions (moto). The API's contract is
under test here, the workflow in the other specs, so the API starts a stand-in state machine that
verifies at once (a hundred real workflows would take a minute of CPU); a GET then finds its item
running and repairs it from the execution's output, so that path is exercised on every request too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sandbox.clock import VirtualClock
from sandbox.livekit_sim import LiveKitSimulator
from sandbox.local_api import LocalApi, LocalApiServer
from sandbox.runner import LocalEngine

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
EXAMPLES_PER_OPERATION = 260  # two operations: at least 500 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SENT: Counter[str] = Counter()

pytestmark = pytest.mark.schemathesis

# Outputs an Outcome, as "Agent verified" does.
STAND_IN = {
    "StartAt": "Verified at once",
    "States": {
        "Verified at once": {
            "Type": "Pass",
            "Parameters": {
                "status": "verified",
                "request_id.$": "$.request_id",
                "room.$": "$.room",
                "agent_name.$": "$.agent_name",
                "attempts": 1,
                "dispatch_ids": ["AD_standin"],
                "dispatch_id": "AD_standin",
                "join_latency_s": 0.5,
                "started_at": "2027-01-15T08:00:00.000Z",
                "finished_at": "2027-01-15T08:00:01.000Z",
            },
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    clock = VirtualClock()
    with LiveKitSimulator(clock, default_behaviour="warm") as sim:
        credentials = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
        with (
            LocalEngine(clock, credentials, template_path=str(ROOT / "template.yaml")) as engine,
            LocalApiServer(LocalApi(engine)) as server,
        ):
            role = "arn:aws:iam::123456789012:role/local-engine"
            stand_in = engine.sfn.create_state_machine(
                name="stand-in", definition=json.dumps(STAND_IN), roleArn=role
            )
            engine.function("DispatchApiFunction").environment["STATE_MACHINE_ARN"] = stand_in[
                "stateMachineArn"
            ]
            yield server.url


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests on every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_generated_request_gets_a_documented_answer_and_never_a_server_error(
    case: schemathesis.Case, api_url: str
) -> None:
    # Given a request generated from the OpenAPI document (valid or not)
    # When it is sent to the local API
    response = case.call(base_url=api_url, timeout=30)
    SENT[f"{case.method} {response.status_code}"] += 1

    # Then the answer is documented, conforms to its schema, and is no 5xx
    case.validate_response(response, checks=CHECKS)


def test_the_generated_run_sent_at_least_500_requests() -> None:
    # Given the generated run above (same module, run first)
    # When its requests are counted
    total = sum(SENT.values())

    # Then there were at least 500, valid ones among them (202) and invalid ones (4xx)
    print(dict(SENT))
    assert total >= 500, SENT
    assert SENT["POST 202"] > 0 and any(key.startswith("POST 4") for key in SENT), SENT
