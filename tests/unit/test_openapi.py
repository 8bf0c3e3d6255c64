"""docs/openapi.json is the document the API's code generates (regenerate: `make openapi`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dispatch_verify.handlers.api import openapi_json
from dispatch_verify.models import name_problem

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

    # Then they are what the API answers, and no 5xx
    assert post == {"202", "400", "409", "413", "415", "422"}
    assert get == {"200", "404", "422"}


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
