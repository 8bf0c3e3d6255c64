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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalApiServer, LocalEngine

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
EXAMPLES_PER_OPERATION = 260  # two operations: at least 500 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

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
            # The stack's own state machine, its definition replaced: the API's role may start it only.
            engine.sfn.update_state_machine(
                stateMachineArn=engine.state_machine_arn, definition=json.dumps(STAND_IN)
            )
            yield server.url


# Generated ids are unknown to the ledger: a GET finds one only by chance, so only POST must see a 2xx.
OPERATIONS = [("POST", "/dispatches", True), ("GET", "/dispatches/{request_id}", False)]


@pytest.mark.parametrize(("method", "path", "some_accepted"), OPERATIONS)
def test_every_generated_request_gets_a_documented_answer_and_never_a_server_error(
    method: str, path: str, some_accepted: bool, api_url: str
) -> None:
    # Given requests generated from the OpenAPI document, valid ones and invalid ones
    operation = SCHEMA[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )
    sent: Counter[int] = Counter()

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def send(case: schemathesis.Case) -> None:
        # When each is sent to the local API
        response = case.call(base_url=api_url, timeout=30)
        sent[response.status_code] += 1

        # Then the answer is documented, conforms to its schema, and is no 5xx
        case.validate_response(response, checks=CHECKS)

    send()

    # And the run was the size promised, with accepted requests and refused ones among them
    print(method, path, dict(sent))
    assert sum(sent.values()) >= EXAMPLES_PER_OPERATION - 10, sent
    assert any(400 <= code < 500 for code in sent), sent
    assert any(code < 300 for code in sent) == some_accepted, sent
