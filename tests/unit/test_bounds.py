"""Every bound of the workflow input at its edge (the last value taken, the first refused), the
defaults an absent option takes, the metadata's size and null, and the name rule on each SIP field.
The API keeps copies of some of these; here they are pinned on the models the workflow validates."""

from __future__ import annotations

from typing import Any

import pytest
from dispatch_verify.models import (
    MAX_METADATA_BYTES,
    Check,
    DispatchRequest,
    Options,
    SipRequest,
    StepEvent,
    WorkflowState,
    execution_name_problem,
)
from pydantic import ValidationError

from .conftest import AGENT, ROOM

SIP = {"trunk_id": "ST_1", "call_to": "+15550100123", "participant_identity": "callee"}


def request(**fields: Any) -> dict[str, Any]:
    return {"room": ROOM, "agent_name": AGENT} | fields


def takes(model: type[Any], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("option", "lowest", "highest"),
    [
        ("join_timeout_s", 1, 3600),
        ("poll_interval_s", 1, 300),
        ("webhook_backstop_s", 1, 300),
        ("max_attempts", 1, 10),
        ("room_empty_timeout_s", 1, 86_400),
    ],
)
def test_an_option_takes_its_bounds_and_refuses_one_past_each(option: str, lowest: int, highest: int) -> None:
    assert takes(Options, {option: lowest}) and takes(Options, {option: highest})
    assert not takes(Options, {option: lowest - 1})
    assert not takes(Options, {option: highest + 1})


def test_options_left_out_take_their_documented_defaults() -> None:
    options = Options()
    assert (options.join_timeout_s, options.poll_interval_s, options.webhook_backstop_s) == (45, 3, 45)
    assert (options.max_attempts, options.create_room, options.room_empty_timeout_s) == (3, True, None)


@pytest.mark.parametrize(
    ("model", "field", "given"),
    [
        (Options, "join_timeout_s", "45"),
        (Options, "max_attempts", True),
        (Options, "create_room", 1),
        (SipRequest, "ringing_timeout_s", "30"),
        (SipRequest, "wait_until_answered", "yes"),
    ],
)
def test_options_are_strict_a_string_or_a_boolean_is_not_a_number(
    model: type[Any], field: str, given: Any
) -> None:
    base = SIP if model is SipRequest else {}
    assert not takes(model, base | {field: given})


@pytest.mark.parametrize(
    ("field", "highest"),
    [("trunk_id", 256), ("call_to", 128), ("participant_identity", 256), ("participant_name", 256)],
)
def test_a_sip_field_takes_one_to_its_longest_and_refuses_empty_and_one_past(
    field: str, highest: int
) -> None:
    assert takes(SipRequest, SIP | {field: "a"}) and takes(SipRequest, SIP | {field: "a" * highest})
    assert not takes(SipRequest, SIP | {field: ""})
    assert not takes(SipRequest, SIP | {field: "a" * (highest + 1)})


@pytest.mark.parametrize("field", ["trunk_id", "call_to", "participant_identity", "participant_name"])
@pytest.mark.parametrize("bad", ["call\x07me", " padded", "zero\u200bwidth"])
def test_a_sip_field_refuses_control_format_and_surrounding_space_characters(field: str, bad: str) -> None:
    assert not takes(SipRequest, SIP | {field: bad})


def test_the_ringing_timeout_takes_1_to_40_s_and_defaults_to_30_waiting_until_answered() -> None:
    assert takes(SipRequest, SIP | {"ringing_timeout_s": 1}) and takes(
        SipRequest, SIP | {"ringing_timeout_s": 40}
    )
    assert not takes(SipRequest, SIP | {"ringing_timeout_s": 0})
    assert not takes(SipRequest, SIP | {"ringing_timeout_s": 41})
    sip = SipRequest.model_validate(SIP)
    assert (sip.ringing_timeout_s, sip.wait_until_answered, sip.participant_name) == (30, True, None)


@pytest.mark.parametrize(("field", "highest"), [("room", 256), ("agent_name", 256), ("request_id", 80)])
def test_a_request_name_takes_one_to_its_longest_and_refuses_empty_and_one_past(
    field: str, highest: int
) -> None:
    assert takes(DispatchRequest, request(**{field: "a"}))
    assert takes(DispatchRequest, request(**{field: "a" * highest}))
    assert not takes(DispatchRequest, request(**{field: ""}))
    assert not takes(DispatchRequest, request(**{field: "a" * (highest + 1)}))


@pytest.mark.parametrize("field", ["room", "agent_name", "request_id"])
def test_a_request_name_refuses_a_control_character(field: str) -> None:
    assert not takes(DispatchRequest, request(**{field: "bad\x00name"}))


def test_metadata_of_exactly_64_kib_is_taken_and_one_byte_more_is_refused() -> None:
    # Given metadata of exactly MAX_METADATA_BYTES (65,536) bytes of UTF-8, and one byte more
    assert MAX_METADATA_BYTES == 65_536
    exact = "é" * (MAX_METADATA_BYTES // 2)  # two bytes each
    assert len(exact.encode()) == MAX_METADATA_BYTES

    # Then the first is taken as it is, the second refused
    assert DispatchRequest.model_validate(request(metadata=exact)).metadata == exact
    assert not takes(DispatchRequest, request(metadata=exact + "x"))


def test_metadata_given_as_json_is_kept_as_compact_json_and_null_as_none() -> None:
    assert DispatchRequest.model_validate(request(metadata={"a": [1, 2]})).metadata == '{"a":[1,2]}'
    assert DispatchRequest.model_validate(request(metadata=None)).metadata == ""
    assert DispatchRequest.model_validate(request()).metadata == ""


def test_metadata_as_json_is_measured_after_it_is_written_compactly() -> None:
    # Given a JSON object whose compact text is exactly the limit
    filler = "x" * (MAX_METADATA_BYTES - len('{"k":""}'))
    assert takes(DispatchRequest, request(metadata={"k": filler}))
    assert not takes(DispatchRequest, request(metadata={"k": filler + "x"}))


def test_a_request_without_a_room_is_refused_unless_it_is_a_heartbeat() -> None:
    assert not takes(DispatchRequest, {"agent_name": AGENT})
    assert takes(DispatchRequest, {"agent_name": AGENT, "kind": "heartbeat", "room": "heartbeat-x"})


def test_a_step_s_execution_name_is_1_to_80_characters() -> None:
    assert takes(StepEvent, {"state": {}, "execution_name": "e" * 80})
    assert not takes(StepEvent, {"state": {}, "execution_name": "e" * 81})
    assert not takes(StepEvent, {"state": {}, "execution_name": ""})


def test_what_await_agent_writes_is_a_dynamodb_number() -> None:
    state = {"request": request(), "started_at": "2026-12-02T17:00:00Z"}
    assert takes(
        WorkflowState, state | {"wait_item": {"looked_at": "1800000000.125", "expires_at": "1800003645"}}
    )
    for looked_at, expires_at in (
        ("1800000000.1.2", "1"),
        ("1e9", "1"),
        ("1", "1.5"),
        ("", "1"),
        ("1", "-1"),
    ):
        wait_item = {"looked_at": looked_at, "expires_at": expires_at}
        assert not takes(WorkflowState, state | {"wait_item": wait_item}), wait_item


def test_a_wait_lasts_at_least_one_second() -> None:
    state = {"request": request(), "started_at": "2026-12-02T17:00:00Z"}
    assert takes(WorkflowState, state | {"wait_s": 1})
    assert not takes(WorkflowState, state | {"wait_s": 0})


@pytest.mark.parametrize("request_id", ["req#1", "a b", "req/1"])
def test_a_request_id_step_functions_would_refuse_as_an_execution_name_is_refused(request_id: str) -> None:
    assert not takes(DispatchRequest, request(request_id=request_id))


def test_a_request_without_a_request_id_is_taken_and_gets_none() -> None:
    assert DispatchRequest.model_validate(request()).request_id is None


def test_a_check_written_without_counts_has_none() -> None:
    check = Check.from_state({"next": "wait", "checked_at": "2026-12-02T17:00:00Z"})
    assert (check.participants, check.participants_total, check.participants_by_kind) == ([], 0, {})


def test_a_name_is_measured_in_bytes_256_taken_and_257_refused_in_fewer_characters() -> None:
    assert takes(DispatchRequest, request(room="é" * 128))  # 256 bytes, 128 characters
    assert not takes(DispatchRequest, request(room="é" * 128 + "a"))  # 257 bytes, 129 characters


def test_an_execution_name_is_1_to_80_characters() -> None:
    assert execution_name_problem("e" * 80) is None
    assert execution_name_problem("e" * 81) is not None
    assert execution_name_problem("") is not None
