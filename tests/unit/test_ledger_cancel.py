"""The ledger's part in a cancel, the phases and the list, on a moto table built from the template."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from dispatch_verify.adapters.aws import ledger
from dispatch_verify.adapters.aws.ledger import Ledger
from dispatch_verify.logic.outcome import cancelled_outcome
from dispatch_verify.logic.phase import phase_after
from dispatch_verify.models import Check, SipRequest
from dispatch_verify.ports.ledger import BadPageToken, LedgerItem, ListQuery, final_values
from moto import mock_aws

from local_engine import create_table

from .conftest import a_state
from .fakes import FakeTime

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
SINCE = "2020-01-01T00:00:00.000Z"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch, now: FakeTime) -> Iterator[str]:
    with mock_aws():
        name = create_table(TEMPLATE, boto3.Session(), "DispatchLedgerTable")
        monkeypatch.setenv("LEDGER_TABLE_NAME", name)
        yield name


def cancel(store: Ledger, request_id: str, now: FakeTime) -> bool:
    item = store.get(request_id)
    assert item is not None
    outcome = cancelled_outcome(item, "2027-01-15T08:00:05.000Z")
    return store.cancel(request_id, final_values(outcome, None))


def test_a_cancelled_request_refuses_the_dial_claim(table: str, now: FakeTime) -> None:
    # Given a running request with a call (its item written by its steps)
    state = a_state()
    ledger.record_progress(state, "waiting_for_agent")
    store = Ledger(table)

    # When it is cancelled, then "Dial callee" asks to dial
    cancelled = cancel(store, state.request_id, now)
    allowed = ledger.dial_allowed(state)

    # Then the cancel won and the dial is refused; the item stays cancelled
    assert cancelled is True and allowed is False
    item = store.get(state.request_id)
    assert item is not None and (item.status, item.phase) == ("cancelled", None)


def test_a_dial_claimed_first_is_dialling_and_a_later_cancel_still_ends_the_request(
    table: str, now: FakeTime
) -> None:
    # Given a running request whose dial was claimed
    state = a_state()
    ledger.record_progress(state, "dialling")
    assert ledger.dial_allowed(state) is True
    store = Ledger(table)
    item = store.get(state.request_id)
    assert item is not None and (item.status, item.phase) == ("running", "dialling")

    # When it is cancelled
    # Then the cancel is recorded (the execution is stopped beside it), and a second one finds it ended
    assert cancel(store, state.request_id, now) is True
    assert cancel(store, state.request_id, now) is False


def test_a_finished_request_cannot_be_cancelled(table: str, now: FakeTime) -> None:
    # Given a request whose outcome was recorded
    state = a_state()
    ledger.record_progress(state)
    store = Ledger(table)
    store.finish_from_execution(state.request_id, {"status": "verified", "phase": None})

    # When a cancel comes
    # Then it changes nothing
    assert cancel(store, state.request_id, now) is False
    item = store.get(state.request_id)
    assert item is not None and item.status == "verified"


@pytest.mark.parametrize(
    ("next_step", "sip", "phase"),
    [
        ("wait", False, "waiting_for_agent"),
        ("redispatch", False, "redispatching"),
        ("escalate", False, "escalating"),
        ("verified", False, "recording"),
        ("verified", True, "dialling"),
    ],
)
def test_the_phase_follows_what_the_workflow_does_next(next_step: str, sip: bool, phase: str) -> None:
    # Given the state a step returns
    state = a_state()
    state.check = Check(next=next_step, checked_at="2027-01-15T08:00:00.000Z")  # type: ignore[arg-type]
    if sip:
        state.request.sip = SipRequest(trunk_id="ST_1", call_to="+15550100123", participant_identity="callee")

    # When its phase is read
    # Then a verified agent with a call is dialling: "agent in, dialling"
    assert phase_after(state) == phase


def test_an_accepted_request_is_dispatching_and_listed_under_its_day(table: str, now: FakeTime) -> None:
    # Given a request accepted through the API
    store = Ledger(table)
    store.accept(LedgerItem(request_id="req-1", room="room-a", agent_name="agent"))

    # When the day's requests are listed
    items, token = store.list(ListQuery(since=SINCE))

    # Then it is there, dispatching, and there is no next page
    assert [(i.request_id, i.phase) for i in items] == [("req-1", "dispatching")]
    assert token is None


def test_a_page_token_is_refused_when_forged_or_for_another_query(table: str, now: FakeTime) -> None:
    # Given three requests in one room, listed a page of two at a time
    store = Ledger(table)
    for n in range(3):
        now.advance(1)
        store.accept(LedgerItem(request_id=f"req-{n}", room="room-a", agent_name="agent"))
    items, token = store.list(ListQuery(since=SINCE, room="room-a", limit=2))
    assert [i.request_id for i in items] == ["req-2", "req-1"] and token is not None

    # When the token is used with another room, forged, or well-formed with a key of another shape
    forged = base64.urlsafe_b64encode(
        json.dumps({"q": ["room-a", None, SINCE], "day": None, "key": {"request_id": {"N": "1"}}}).encode()
    ).decode()
    for query in (
        ListQuery(since=SINCE, room="room-b", limit=2, next_token=token),
        ListQuery(since=SINCE, room="room-a", limit=2, next_token="bm90IGpzb24"),
        ListQuery(since=SINCE, room="room-a", limit=2, next_token=forged),
    ):
        # Then each is refused as a bad token, never passed to DynamoDB
        with pytest.raises(BadPageToken):
            store.list(query)

    # And the token itself gives the last one
    rest, last = store.list(ListQuery(since=SINCE, room="room-a", limit=2, next_token=token))
    assert [i.request_id for i in rest] == ["req-0"] and last is None
