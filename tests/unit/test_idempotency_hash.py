"""The idempotency hash is a contract that outlives deploys: it covers what the caller sent, nothing
the code fills in, so a retry that straddles a deploy (a new option, a changed default) is no 409."""

from __future__ import annotations

from typing import Any

from dispatch_verify.api_models import DispatchCreate
from dispatch_verify.logic.intake import body_hash
from dispatch_verify.models import Options
from pydantic import create_model

BODY: dict[str, Any] = {
    "room": "call-4711",
    "agent_name": "support-agent",
    "metadata": {"caller": "+15550100"},
    "options": {"join_timeout_s": 30},
    "idempotency_key": "call-4711",
}
# sha256 of {"key":"call-4711","request":{"agent_name":"support-agent","metadata":{"caller":"+15550100"},
# "options":{"join_timeout_s":30},"room":"call-4711"}} (computed with sha256sum, not with this code).
PINNED = "63489585a3d8c7a620d50a8ff626d3b33132ea063d14e67457357cf6b250b9da"


def digest_of(body: dict[str, Any], model: type[DispatchCreate] = DispatchCreate) -> str:
    parsed = model.model_validate(body)
    return body_hash(parsed.sent(), parsed.idempotency_key)


def test_the_hash_of_a_known_body_is_pinned() -> None:
    # Given the README's example body with a key
    # When it is hashed as the API hashes it
    # Then it is the canonical JSON of the given fields, sorted, hashed: a change here breaks every
    # idempotent retry in flight across a deploy
    assert digest_of(BODY) == PINNED


def test_defaults_and_the_key_are_not_part_of_what_was_sent() -> None:
    # Given a body that leaves most options out
    sent = DispatchCreate.model_validate(BODY).sent()

    # Then what was sent is the given fields only
    assert sent == {key: value for key, value in BODY.items() if key != "idempotency_key"}
    assert "max_attempts" not in sent["options"]


def test_an_option_added_with_a_default_leaves_the_hash_of_an_identical_body_unchanged() -> None:
    # Given the next version's models: one more option, with a default
    options_next = create_model("OptionsNext", __base__=Options, ring_back_s=(int, 5))
    body_next = create_model(
        "DispatchCreateNext", __base__=DispatchCreate, options=(options_next | None, None)
    )

    # When the same body is hashed by this version and the next
    # Then the digests are equal (they were not when defaults were hashed: the issue measured it)
    assert digest_of(BODY, body_next) == digest_of(BODY)


def test_key_order_inside_metadata_does_not_matter_but_the_values_do() -> None:
    reordered = {**BODY, "metadata": {"b": 1, "a": 2}}
    assert digest_of(reordered) == digest_of({**BODY, "metadata": {"a": 2, "b": 1}})
    assert digest_of(reordered) != digest_of({**BODY, "metadata": {"a": 2, "b": 2}})
    assert digest_of({**BODY, "idempotency_key": "other"}) != digest_of(BODY)


# sha256 of {"key":"call-4711","request":{"agent_name":"support-agent","metadata":{"caller":"Zoë Ærø"},
# "room":"call-4711"}} as UTF-8 (computed with printf | sha256sum, not with this code).
PINNED_NON_ASCII = "f0d9ef43b71ff42950b5bfb117cd71f62d17e980be4524c72230adf2a6a96799"


def test_a_body_with_non_ascii_text_is_hashed_as_utf_8_not_as_escapes() -> None:
    # Given a body whose metadata holds non-ASCII text
    body = {"room": "call-4711", "agent_name": "support-agent", "metadata": {"caller": "Zoë Ærø"}}

    # When it is hashed as the API hashes it
    # Then the text is hashed as its UTF-8 bytes: a change to \u escapes would turn every retry of such
    # a request in flight across a deploy into a 409
    assert digest_of({**body, "idempotency_key": "call-4711"}) == PINNED_NON_ASCII
