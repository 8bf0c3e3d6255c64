"""docs/events: a JSON Schema and a sample per outcome detail-type, generated from the model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
from dispatch_verify import events_doc
from dispatch_verify.logic.announce import DETAIL_TYPES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_the_event_documents_are_those_the_model_makes() -> None:
    # Given the files in docs/events and what the model makes of them
    made = events_doc.documents()

    # Then they are the same (run `make events` after changing the outcome model)
    assert sorted(p.name for p in DOCS.iterdir()) == sorted(made)
    for name, text in made.items():
        assert (DOCS / name).read_text() == text, f"docs/events/{name} is stale: make events"


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
def test_each_sample_is_valid_against_its_schema_and_not_against_another(detail_type: str) -> None:
    # Given a detail-type's sample
    sample = json.loads((DOCS / f"{detail_type}.sample.json").read_text())

    # Then its own schema accepts it and every other detail-type's refuses it
    jsonschema_rs.validate(json.loads((DOCS / f"{detail_type}.schema.json").read_text()), sample)
    for other in set(DETAIL_TYPES) - {detail_type}:
        schema = json.loads((DOCS / f"{other}.schema.json").read_text())
        assert not jsonschema_rs.is_valid(schema, sample)


def test_a_detail_without_its_event_id_is_refused() -> None:
    sample = json.loads((DOCS / "AgentDispatchVerified.sample.json").read_text())
    del sample["detail"]["event_id"]
    schema = json.loads((DOCS / "AgentDispatchVerified.schema.json").read_text())
    assert not jsonschema_rs.is_valid(schema, sample)
