"""docs/openapi.json is the document the API's code generates (regenerate: `make openapi`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dispatch_verify.handlers.api import openapi_json
from dispatch_verify.models import execution_name_problem, name_problem

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_what_the_code_generates() -> None:
    # Given the committed document
    committed = json.loads(DOCUMENT.read_text())

    # When the code generates it again
    generated = json.loads(openapi_json())

    # Then they are the same (if not: `make openapi`, and commit docs/openapi.json)
    assert committed == generated, "docs/openapi.json is stale: run `make openapi` and commit it"


def test_the_document_names_every_answer_of_each_operation() -> None:
    # Given the generated document
    paths = json.loads(openapi_json())["paths"]

    # When the documented answers are listed
    post = set(paths["/dispatches"]["post"]["responses"])
    get = set(paths["/dispatches/{request_id}"]["get"]["responses"])
    cancel = set(paths["/dispatches/{request_id}"]["delete"]["responses"])
    listing = set(paths["/dispatches"]["get"]["responses"])

    # Then they are what the API answers: no 5xx but a throttled start's 503 (with Retry-After, as 429)
    assert post == {"202", "400", "409", "413", "415", "422", "429", "503"}
    assert get == {"200", "404", "422"}
    assert cancel == {"200", "404", "409", "422"}
    assert listing == {"200", "422"}


def test_the_document_says_where_and_how_the_deployed_api_is_called() -> None:
    # Given the generated document
    document = json.loads(openapi_json())

    # When its servers, security and the accepted answer's headers are read
    schemes = document["components"]["securitySchemes"]
    accepted = document["paths"]["/dispatches"]["post"]["responses"]["202"]
    webhook = document["paths"]["/livekit/webhook"]["post"]

    # Then the stack's URL is the first server; either auth mode is accepted (SigV4 as API Gateway
    # writes it: an apiKey-style Authorization header, or x-api-key); the webhook needs neither; the
    # Location header of an accepted request is documented
    assert document["servers"][0]["url"] == "https://{restApiId}.execute-api.{region}.amazonaws.com/v1"
    assert schemes["sigv4"] == {
        **schemes["sigv4"],
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    assert (schemes["api_key"]["type"], schemes["api_key"]["name"]) == ("apiKey", "x-api-key")
    assert document["security"] == [{"sigv4": []}, {"api_key": []}]
    assert webhook["security"] == []
    assert "Location" in accepted["headers"]


def test_the_request_id_pattern_refuses_what_step_functions_refuses_in_an_execution_name() -> None:
    # Given the documented pattern of a request id in a path
    paths = json.loads(openapi_json())["paths"]
    (parameter,) = [
        p for p in paths["/dispatches/{request_id}"]["get"]["parameters"] if p["name"] == "request_id"
    ]
    pattern = re.compile(parameter["schema"]["pattern"])

    # When every code point of the Basic Multilingual Plane is tried inside an id
    refused_by_pattern = {c for c in map(chr, range(0x10000)) if not pattern.match(f"a{c}a")}
    refused_by_rule = {c for c in map(chr, range(0x10000)) if execution_name_problem(f"a{c}a") is not None}

    # Then the pattern and the rule the CLI and the client share refuse the same, spaces among them
    assert refused_by_pattern == refused_by_rule
    assert {" ", "\t", "/", "*", "?", "<", "}", "`", "\x85"} <= refused_by_rule
    assert "-" not in refused_by_rule and "_" not in refused_by_rule and "é" not in refused_by_rule


def test_the_documented_name_pattern_refuses_only_what_the_api_refuses() -> None:
    # Given the pattern the document gives the names: room, agent_name, idempotency_key and the call's
    schemas = json.loads(openapi_json())["components"]["schemas"]
    create, call = schemas["DispatchCreate"]["properties"], schemas["SipRequest"]["properties"]
    patterns = {create[field]["pattern"] for field in ("room", "agent_name", "idempotency_key")} | {
        call[field]["pattern"]
        for field in ("trunk_id", "call_to", "participant_identity", "participant_name")
    }
    (pattern,) = patterns
    name = re.compile(pattern)

    # When every code point of the Basic Multilingual Plane is tried inside a name
    refused_by_pattern = {c for c in map(chr, range(0x10000)) if not name.match(f"a{c}a")}
    refused_by_api = {c for c in map(chr, range(0x10000)) if name_problem(f"a{c}a") is not None}

    # Then the pattern refuses nothing the API takes, and what the API refuses there it refuses too
    assert refused_by_pattern == refused_by_api
    assert {
        "\x85",
        "\u200b",
        "\u202e",
        "\u2028",
        "\ufeff",
        "\ufdd0",
        "\uffff",
        "\ud800",
    } <= refused_by_pattern
    assert name.match("call 4711 \u2615 K\u00f6ln")
