"""The backend's side of the API through dispatch_verify.client over HTTP (the local API server, the
real handlers, the real ASL, the simulator, virtual time): start, follow phases, wait, cancel, list."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dispatch_verify.api_models import DispatchView
from dispatch_verify.client import ApiError, DispatchClient, WaitTimeout

from dispatch_verify_cli import main
from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalApiServer, LocalEngine
from tests.integration.test_announcements import conforms

OPTIONS = {"poll_interval_s": 1, "join_timeout_s": 30, "max_attempts": 2}


@pytest.fixture
def client(engine: LocalEngine) -> Iterator[DispatchClient]:
    with LocalApiServer(LocalApi(engine)) as server:
        # Real seconds between looks: the workflow runs on the virtual clock in its own threads.
        yield DispatchClient(server.url, sleep=lambda s: time.sleep(min(s, 0.05)))


def until(check: Callable[[], DispatchView], done: Callable[[DispatchView], bool]) -> DispatchView:
    deadline = time.monotonic() + 30
    while True:
        view = check()
        if done(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def states_after_the_stop(engine: LocalEngine, request_id: str) -> tuple[str, list[str]]:
    """The execution's status once it is no longer running, and the states it entered after "Await
    agent" last. Step Functions aborts a stopped execution at once (ABORTED); moto's interpreter ends it
    when its thread next looks, a wait for a task token as a timeout (FAILED, States.Timeout)."""
    arn = engine.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{request_id}"
    deadline = time.monotonic() + 10
    status = "RUNNING"
    while status == "RUNNING" and time.monotonic() < deadline:
        status = str(engine.sfn.describe_execution(executionArn=arn)["status"])
        time.sleep(0.05)
    events = engine.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    last_wait = len(entered) - 1 - entered[::-1].index("Await agent")
    return status, entered[last_wait + 1 :]


def cancel_events(engine: LocalEngine, request_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in engine.bus_events()
        if e["detail-type"] == "AgentDispatchCancelled" and e["detail"]["request_id"] == request_id
    ]


def test_a_started_dispatch_is_waited_for_to_verified_with_the_outcome_model(
    client: DispatchClient, sim: LiveKitSimulator
) -> None:
    # Given a warm agent
    sim.set_agent("fast-agent", "warm")

    # When a backend starts a dispatch and waits for it
    accepted = client.start("client-room-1", "fast-agent", options=OPTIONS, idempotency_key="client-1")
    view = client.wait(accepted.request_id, timeout_s=30)

    # Then it is verified, with the outcome's fields: one dispatch, counted and listed
    assert accepted.status == "running" and accepted.status_url.endswith(f"/dispatches/{accepted.request_id}")
    assert (view.status, view.phase, view.cause) == ("verified", None, None)
    assert view.attempts == len(view.dispatches) == 1
    assert view.dispatch_id == view.dispatches[0].dispatch_id
    assert view.agent_identity is not None and view.finished_at is not None


def test_while_the_agent_sleeps_the_phase_says_so_then_a_cancel_stops_it_and_deletes_the_dispatch(
    client: DispatchClient, sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent that accepts dispatches and never joins, and a dispatch for it
    sim.set_agent("ghost-agent", "never")
    accepted = client.start("client-room-ghost", "ghost-agent", options=OPTIONS)
    request_id = accepted.request_id

    # When the backend follows it until it waits for the agent, then cancels it twice
    waiting = until(lambda: client.get(request_id), lambda v: v.phase == "waiting_for_agent")
    first = client.cancel(request_id)
    second = client.cancel(request_id)

    # Then GET said running and waiting for the agent; the cancel stopped the execution, left no live
    # dispatch, answered cancelled both times with the same outcome, and announced it once
    assert (waiting.status, waiting.phase) == ("running", "waiting_for_agent")
    assert first.status == "cancelled" and first.finished_at is not None
    assert first == second
    status, after = states_after_the_stop(engine, request_id)
    assert status in ("ABORTED", "FAILED") and after == []  # no look, no escalation, no record
    assert sim.live_dispatches("client-room-ghost", "ghost-agent") == []
    (event,) = cancel_events(engine, request_id)
    assert event["source"] == "dispatch-verify"
    assert event["detail"]["status"] == "cancelled"
    assert event["detail"]["event_id"]  # the same shape as every outcome event (docs/events)
    conforms(event)
    assert event["detail"]["attempts"] == first.attempts >= 1
    assert client.get(request_id) == first


def test_a_cancel_with_delete_room_deletes_the_room_the_workflow_created(
    client: DispatchClient, sim: LiveKitSimulator
) -> None:
    # Given a never-joining agent dispatched into a room the workflow created
    sim.set_agent("ghost-agent", "never")
    accepted = client.start("client-room-gone", "ghost-agent", options=OPTIONS)
    until(lambda: client.get(accepted.request_id), lambda v: v.phase == "waiting_for_agent")
    assert "client-room-gone" in sim.room_names()

    # When it is cancelled with delete_room
    client.cancel(accepted.request_id, delete_room=True)

    # Then the room is gone
    assert "client-room-gone" not in sim.room_names()


def test_a_finished_request_cannot_be_cancelled_and_an_unknown_one_is_404(
    client: DispatchClient, sim: LiveKitSimulator
) -> None:
    # Given a verified request
    sim.set_agent("fast-agent", "warm")
    accepted = client.start("client-room-2", "fast-agent", options=OPTIONS)
    client.wait(accepted.request_id, timeout_s=30)

    # When it is cancelled, and a request that does not exist too
    with pytest.raises(ApiError) as finished:
        client.cancel(accepted.request_id)
    with pytest.raises(ApiError) as unknown:
        client.cancel("req-nothing-here")

    # Then 409 names its end, 404 the missing one, and the verified outcome stands
    assert finished.value.status == 409 and "verified" in str(finished.value)
    assert unknown.value.status == 404
    assert client.get(accepted.request_id).status == "verified"


def test_wait_gives_up_at_its_timeout_with_what_get_said_last(
    client: DispatchClient, sim: LiveKitSimulator
) -> None:
    # Given a request whose agent never comes
    sim.set_agent("ghost-agent", "never")
    accepted = client.start("client-room-slow", "ghost-agent", options=OPTIONS)

    # When the backend waits for it for less than it takes
    with pytest.raises(WaitTimeout) as waited:
        client.wait(accepted.request_id, timeout_s=0.01)

    # Then the wait ends still running, the request goes on
    assert waited.value.last.status == "running"
    client.cancel(accepted.request_id)


def test_list_filters_by_room_and_status_and_pages_with_its_token(
    client: DispatchClient, sim: LiveKitSimulator
) -> None:
    # Given three verified requests in one room and one in another
    sim.set_agent("fast-agent", "warm")
    ids = [client.start("client-list-a", "fast-agent", options=OPTIONS).request_id for _ in range(3)]
    other = client.start("client-list-b", "fast-agent", options=OPTIONS).request_id
    for request_id in [*ids, other]:
        client.wait(request_id, timeout_s=30)

    # When room a's are listed two at a time, and every verified one at once
    first = client.list(room="client-list-a", limit=2)
    second = client.list(room="client-list-a", limit=2, next_token=first.next_token)
    verified = client.list(status="verified", limit=100)
    running = client.list(status="running", room="client-list-a")

    # Then room a's three come newest first over two pages, the last without a token; the status
    # filter finds all four and no running one
    paged = [v.request_id for v in [*first.dispatches, *second.dispatches]]
    assert sorted(paged) == sorted(ids) and len(first.dispatches) == 2
    assert first.next_token is not None and second.next_token is None
    accepted = [v.accepted_at or "" for v in [*first.dispatches, *second.dispatches]]
    assert accepted == sorted(accepted, reverse=True)
    assert {*ids, other} <= {v.request_id for v in verified.dispatches}
    assert running.dispatches == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-01T10:00:00"}, "since"),
        ({"next_token": "not-a-token"}, "next_token"),
    ],
)
def test_a_bad_list_query_is_a_4xx_naming_the_field(
    client: DispatchClient, query: dict[str, Any], field: str
) -> None:
    # Given a query parameter that breaks the rules
    # When the list is asked for
    with pytest.raises(ApiError) as refused:
        client.list(**query)

    # Then the answer is 422 naming that parameter
    assert refused.value.status == 422
    assert refused.value.problem is not None
    assert [p.field for p in refused.value.problem.errors] == [field]


def test_a_request_id_step_functions_would_refuse_is_refused_before_any_call(client: DispatchClient) -> None:
    # Given request ids Step Functions refuses as execution names
    for bad in ("a b", "x" * 81, "a/b", "tab\there"):
        # When one is followed
        # Then the client refuses it itself
        with pytest.raises(ValueError, match="request_id"):
            client.get(bad)


def test_the_cli_cancels_and_lists_through_the_api(
    client: DispatchClient, sim: LiveKitSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a request whose agent never comes, behind the local API
    sim.set_agent("ghost-agent", "never")
    accepted = client.start("client-room-cli", "ghost-agent", options=OPTIONS)
    until(lambda: client.get(accepted.request_id), lambda v: v.phase == "waiting_for_agent")

    # When `dispatch-verify cancel` and `list` are run against it, and cancel with a bad id
    cancelled = main(["cancel", accepted.request_id, "--api-url", client.base_url])
    cancel_out = capsys.readouterr().out
    listed = main(["list", "--room", "client-room-cli", "--api-url", client.base_url])
    list_out = capsys.readouterr().out
    refused = main(["cancel", "a b", "--api-url", client.base_url])

    # Then the cancel printed the cancelled request, the list names it cancelled, the bad id is a usage
    # error
    assert cancelled == 0 and DispatchView.model_validate_json(cancel_out).status == "cancelled"
    assert listed == 0 and accepted.request_id in list_out and "cancelled" in list_out
    assert refused == 1
