"""Check participants: the participant list proves arrival; job states only explain an absence."""

from __future__ import annotations

import dataclasses

import pytest
from dispatch_verify.clock import iso_utc
from dispatch_verify.errors import LiveKitPermanentError
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.models import WorkflowState
from dispatch_verify.ports.livekit import Job, Participant

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def dispatched(livekit: FakeLiveKit, **options: object) -> WorkflowState:
    return dispatch_agent(a_state(**options), livekit)


def test_agent_present_and_active_is_verified_with_its_identity_and_join_time(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatched agent that joined 4 s later
    state = dispatched(livekit)
    now.advance(4)
    livekit.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT, joined_at=now())

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is verified, by that identity, at that time
    assert check is not None
    assert check.next == "verified"
    assert check.agent_identity == "agent-AJ_1"
    assert check.agent_joined_at == iso_utc(now())
    assert check.agent_joined_at_epoch == now()


def test_agent_named_only_by_the_server_attribute_is_verified(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given an agent carrying only lk.agent_name (set by the server)
    state = dispatched(livekit)
    livekit.participants[ROOM] = [
        Participant("agent-AJ_1", "AGENT", "ACTIVE", {"lk.agent_name": AGENT}, now())
    ]

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is verified
    assert check is not None and check.next == "verified"


@pytest.mark.parametrize(
    ("kind", "agent_name", "participant_state"),
    [
        ("AGENT", "other-agent", "ACTIVE"),  # another agent, e.g. from a default dispatch
        ("AGENT", None, "ACTIVE"),  # an unnamed agent
        ("STANDARD", AGENT, "ACTIVE"),  # a person who happens to carry the attribute
        ("AGENT", AGENT, "JOINING"),  # not there yet
        ("AGENT", AGENT, "DISCONNECTED"),  # gone
    ],
)
def test_participant_that_is_not_our_present_agent_never_verifies(
    livekit: FakeLiveKit, kind: str, agent_name: str | None, participant_state: str
) -> None:
    # Given a room holding one participant that is not our agent, present
    state = dispatched(livekit)
    livekit.add_participant(ROOM, "someone", kind=kind, agent_name=agent_name, state=participant_state)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is not verified
    assert check is not None and check.next != "verified"


def test_absent_agent_inside_the_join_timeout_is_waited_for(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a dispatch 10 s old with a 45 s join timeout and a pending job
    state = dispatched(livekit, join_timeout_s=45)
    livekit.set_jobs(state.attempts[0].dispatch_id, Job("AJ_1", "JS_PENDING"))
    now.advance(10)

    # When the participants are checked
    result = check_participants(state, livekit)

    # Then the workflow waits, and the job state seen is recorded
    assert result.check is not None and result.check.next == "wait"
    assert [(j.job_id, j.status) for j in result.attempts[0].job_states] == [("AJ_1", "JS_PENDING")]
    assert result.attempts[0].checks == 1


def test_job_states_are_recorded_once_per_job_and_status(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a job seen pending twice, then running
    state = dispatched(livekit)
    dispatch_id = state.attempts[0].dispatch_id
    for status in ("JS_PENDING", "JS_PENDING", "JS_RUNNING"):
        livekit.set_jobs(dispatch_id, Job("AJ_1", status, participant_identity="agent-AJ_1"))
        now.advance(3)
        state = check_participants(state, livekit)

    # Then each distinct (job, status) pair is recorded once
    assert [j.status for j in state.attempts[0].job_states] == ["JS_PENDING", "JS_RUNNING"]
    assert state.attempts[0].checks == 3


def test_dispatch_never_assigned_past_the_deadline_is_redispatched(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatch with no job at all, past its 20 s join timeout, with attempts left
    state = dispatched(livekit, join_timeout_s=20, max_attempts=3)
    now.advance(21)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is re-dispatched because it was never assigned
    assert check is not None
    assert (check.next, check.cause) == ("redispatch", "never_assigned")


def test_assigned_job_without_an_agent_past_the_deadline_is_not_joined(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatch whose job stays pending past the join timeout
    state = dispatched(livekit, join_timeout_s=20)
    livekit.set_jobs(state.attempts[0].dispatch_id, Job("AJ_1", "JS_PENDING"))
    now.advance(20)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the cause is not_joined
    assert check is not None
    assert (check.next, check.cause) == ("redispatch", "not_joined")


def test_job_that_failed_before_an_agent_was_assigned_is_stale_at_once(livekit: FakeLiveKit) -> None:
    # Given a job the workers rejected (no participant identity), well inside the timeout
    state = dispatched(livekit)
    livekit.set_jobs(state.attempts[0].dispatch_id, Job("AJ_1", "JS_FAILED", error="no worker available"))

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it does not wait for the deadline: job_failed
    assert check is not None
    assert (check.next, check.cause) == ("redispatch", "job_failed")


def test_agent_that_joined_and_left_is_stale_at_once(livekit: FakeLiveKit) -> None:
    # Given a job that had an agent identity and then failed (agent worker left the room)
    state = dispatched(livekit)
    livekit.set_jobs(
        state.attempts[0].dispatch_id,
        Job("AJ_1", "JS_FAILED", error="agent worker left the room", participant_identity="agent-AJ_1"),
    )

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the cause is joined_then_left
    assert check is not None
    assert (check.next, check.cause) == ("redispatch", "joined_then_left")


def test_dispatch_that_disappeared_is_stale_at_once(livekit: FakeLiveKit) -> None:
    # Given a dispatch that LiveKit no longer knows (deleted by someone, or its room closed)
    state = dispatched(livekit)
    livekit.dispatches.clear()

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is stale without waiting for the deadline
    assert check is not None
    assert (check.next, check.cause) == ("redispatch", "job_failed")


def test_stale_last_attempt_escalates_with_its_cause(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a single-attempt request whose dispatch was never assigned
    state = dispatched(livekit, join_timeout_s=10, max_attempts=1)
    now.advance(10)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it escalates
    assert check is not None
    assert (check.next, check.cause) == ("escalate", "never_assigned")


def test_participants_seen_are_recorded_as_evidence(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a caller and another agent in the room
    state = dispatched(livekit)
    livekit.add_participant(ROOM, "sip-caller", kind="SIP", joined_at=now())
    livekit.add_participant(ROOM, "agent-x", agent_name="other-agent", state="JOINED", joined_at=now())

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then both are recorded with kind, agent name, state and join time, agents first, and counted
    assert check is not None
    assert [p.model_dump() for p in check.participants] == [
        {
            "identity": "agent-x",
            "kind": "AGENT",
            "agent_name": "other-agent",
            "state": "JOINED",
            "joined_at": iso_utc(now()),
        },
        {
            "identity": "sip-caller",
            "kind": "SIP",
            "agent_name": None,
            "state": "ACTIVE",
            "joined_at": iso_utc(now()),
        },
    ]
    assert (check.participants_total, check.participants_by_kind) == (2, {"SIP": 1, "AGENT": 1})


def test_room_that_closed_during_the_wait_is_a_permanent_room_missing(livekit: FakeLiveKit) -> None:
    # Given a dispatched request whose room is gone
    state = dispatched(livekit)
    livekit.rooms.clear()

    # When the participants are checked
    # Then LiveKit's not_found surfaces as a permanent room_missing
    with pytest.raises(LiveKitPermanentError) as raised:
        check_participants(state, livekit)
    assert raised.value.detail.cause == "room_missing"


def test_a_dispatch_of_this_request_that_landed_after_the_live_one_is_deleted(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatched agent, and 2 s later a second dispatch of the same agent and metadata (a
    # CreateDispatch whose reply was lost took effect after the retried step had created its own)
    state = dispatched(livekit)
    live = state.attempts[-1].dispatch_id
    now.advance(2)
    late = livekit.create_dispatch(ROOM, AGENT, state.request.metadata)
    now.advance(1)

    # When the participants are checked
    after = check_participants(state, livekit)

    # Then the late one is deleted, the live one kept, and the wait goes on
    assert set(livekit.dispatches) == {live}
    assert late.dispatch_id not in livekit.dispatches
    assert after.check is not None and after.check.next == "wait"


@pytest.mark.parametrize(
    ("agent_name", "metadata"),
    [
        ("other-agent", None),  # another agent's dispatch
        (AGENT, "another request's metadata"),  # another request (its metadata differs)
    ],
)
def test_later_dispatches_that_are_not_this_requests_are_left_alone(
    livekit: FakeLiveKit, now: FakeTime, agent_name: str, metadata: str | None
) -> None:
    # Given a dispatched agent, and 2 s later a dispatch of another agent or another request
    state = dispatched(livekit)
    now.advance(2)
    other = livekit.create_dispatch(
        ROOM, agent_name, state.request.metadata if metadata is None else metadata
    )
    now.advance(1)

    # When the participants are checked
    check_participants(state, livekit)

    # Then it is still there
    assert other.dispatch_id in livekit.dispatches


def test_a_late_dispatch_whose_agent_is_the_one_verified_is_kept(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a late dispatch of this request whose job's agent joined (and ours has none yet)
    state = dispatched(livekit)
    now.advance(2)
    late = livekit.create_dispatch(ROOM, AGENT, state.request.metadata)
    livekit.dispatches[late.dispatch_id] = dataclasses.replace(
        late, jobs=(Job("AJ_late", "JS_RUNNING", participant_identity="agent-AJ_late"),)
    )
    livekit.add_participant(ROOM, "agent-AJ_late", agent_name=AGENT, joined_at=now())

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the agent is verified, and the dispatch that brought it is not deleted from under it
    assert check is not None and check.next == "verified"
    assert late.dispatch_id in livekit.dispatches
