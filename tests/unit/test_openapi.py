"""docs/openapi.json is the document the API's code generates (regenerate: `make openapi`)."""

from __future__ import annotations

import json
from pathlib import Path

from dispatch_verify.handlers.api import openapi_json

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
