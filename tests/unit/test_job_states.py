"""Job and participant states as LiveKit reports them: a job is JS_RUNNING once a worker takes it,
before its agent connects; a dispatch may hold a failed job and the next one; an agent is JOINED
before it is ACTIVE; two agents of one name may be in a room."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.check import check_participants
from dispatch_verify.logic.dispatch import dispatch_agent
from dispatch_verify.logic.participants import find_agent
from dispatch_verify.models import WorkflowState
from dispatch_verify.ports.livekit import Job, Participant

from .conftest import AGENT, ROOM, a_state
from .fakes import FakeLiveKit, FakeTime


def dispatched(livekit: FakeLiveKit, **options: object) -> WorkflowState:
    return dispatch_agent(a_state(**options), livekit)


@pytest.mark.parametrize(
    ("status", "ended"),
    [
        ("JS_PENDING", False),
        ("JS_RUNNING", False),
        ("JS_SUCCESS", True),
        ("JS_FAILED", True),
        ("JS_CANCELLED", True),
    ],
)
def test_a_job_has_ended_only_once_it_succeeded_failed_or_was_cancelled(status: str, ended: bool) -> None:
    assert Job("AJ_1", status).ended is ended


def test_a_running_job_whose_agent_has_not_connected_yet_is_waited_for(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a job a worker took 5 s ago (JS_RUNNING, its identity named), and no agent in the room yet
    state = dispatched(livekit, join_timeout_s=45)
    livekit.set_jobs(
        state.attempts[0].dispatch_id, Job("AJ_1", "JS_RUNNING", participant_identity="agent-AJ_1")
    )
    now.advance(5)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the workflow waits: a running job is not a job that ended
    assert check is not None and (check.next, check.cause) == ("wait", None)


def test_a_failed_job_followed_by_a_pending_one_on_the_same_dispatch_is_waited_for(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a dispatch whose first job failed (its worker died) and whose second is pending
    state = dispatched(livekit, join_timeout_s=45)
    livekit.set_jobs(
        state.attempts[0].dispatch_id,
        Job("AJ_1", "JS_FAILED", error="agent worker exited"),
        Job("AJ_2", "JS_PENDING"),
    )
    now.advance(5)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the dispatch is not over: the second job may still bring the agent
    assert check is not None and (check.next, check.cause) == ("wait", None)


def test_a_dispatch_whose_every_job_failed_is_over(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given a dispatch whose two jobs both failed before any agent was named
    state = dispatched(livekit, join_timeout_s=45, max_attempts=1)
    livekit.set_jobs(state.attempts[0].dispatch_id, Job("AJ_1", "JS_FAILED"), Job("AJ_2", "JS_FAILED"))
    now.advance(5)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is stale at once, well inside the join timeout
    assert check is not None and (check.next, check.cause) == ("escalate", "job_failed")


def test_an_agent_joined_but_not_yet_active_is_verified(livekit: FakeLiveKit, now: FakeTime) -> None:
    # Given our agent in the room in state JOINED (connected, media not up yet)
    state = dispatched(livekit)
    livekit.add_participant(ROOM, "agent-AJ_1", agent_name=AGENT, state="JOINED")

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then it is verified: JOINED is in the room
    assert check is not None and (check.next, check.agent_identity) == ("verified", "agent-AJ_1")


def test_of_two_agents_of_the_requested_name_the_first_to_join_is_the_one_verified(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given two of our agents, one joined 3 s before the other (listed second)
    state = dispatched(livekit)
    livekit.add_participant(ROOM, "agent-AJ_late", agent_name=AGENT, joined_at=now() + 3)
    livekit.add_participant(ROOM, "agent-AJ_early", agent_name=AGENT, joined_at=now())
    now.advance(4)

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the earlier one is verified, with its join time
    assert check is not None and check.agent_identity == "agent-AJ_early"
    assert check.agent_joined_at_epoch == now() - 4


def test_an_agent_with_a_join_time_is_chosen_over_one_without() -> None:
    # Given two of our agents, the first listed without a join time
    names = {"lk.agent.name": AGENT}
    unknown = Participant("agent-unknown", "AGENT", "ACTIVE", names, None)
    known = Participant("agent-known", "AGENT", "ACTIVE", names, 1_800_000_000.0)

    # Then the one whose join time is known is the one found
    assert find_agent([unknown, known], AGENT) is known


def test_once_verified_a_late_duplicate_dispatch_hosting_another_agent_is_deleted(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given our agent verified from a late dispatch of this request, and a later duplicate whose job
    # hosts another agent of the name
    state = dispatched(livekit)
    now.advance(2)
    proving = livekit.create_dispatch(ROOM, AGENT, state.request.metadata)
    livekit.set_jobs(proving.dispatch_id, Job("AJ_ours", "JS_RUNNING", participant_identity="agent-AJ_ours"))
    now.advance(1)
    duplicate = livekit.create_dispatch(ROOM, AGENT, state.request.metadata)
    livekit.set_jobs(duplicate.dispatch_id, Job("AJ_dup", "JS_RUNNING", participant_identity="agent-AJ_dup"))
    livekit.add_participant(ROOM, "agent-AJ_ours", agent_name=AGENT, joined_at=now())

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then ours is verified, the dispatch that brought it kept, and the duplicate deleted
    assert check is not None and (check.next, check.agent_identity) == ("verified", "agent-AJ_ours")
    assert proving.dispatch_id in livekit.dispatches
    assert duplicate.dispatch_id not in livekit.dispatches


def test_a_dispatch_created_at_the_same_instant_as_the_live_one_is_not_a_late_one(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a second dispatch of this request whose creation time is the live one's
    state = dispatched(livekit)
    twin = livekit.create_dispatch(ROOM, AGENT, state.request.metadata)
    now.advance(1)

    # When the participants are checked
    check_participants(state, livekit)

    # Then it is left alone: only one created after the live dispatch is a late duplicate
    assert twin.dispatch_id in livekit.dispatches


def test_a_late_dispatch_is_kept_when_any_of_its_jobs_hosts_the_verified_agent(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given a late dispatch of this request whose first job failed and whose second hosts our agent
    state = dispatched(livekit)
    now.advance(2)
    late = livekit.create_dispatch(ROOM, AGENT, state.request.metadata)
    livekit.set_jobs(
        late.dispatch_id,
        Job("AJ_died", "JS_FAILED", participant_identity="agent-AJ_died"),
        Job("AJ_ours", "JS_RUNNING", participant_identity="agent-AJ_ours"),
    )
    livekit.add_participant(ROOM, "agent-AJ_ours", agent_name=AGENT, joined_at=now())

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then the agent is verified and the dispatch that brought it is not deleted from under it
    assert check is not None and check.agent_identity == "agent-AJ_ours"
    assert late.dispatch_id in livekit.dispatches


def test_a_check_keeps_twenty_participants_by_name_and_counts_them_all(
    livekit: FakeLiveKit, now: FakeTime
) -> None:
    # Given 25 listeners in the room and no agent
    state = dispatched(livekit)
    for n in range(25):
        livekit.add_participant(ROOM, f"listener-{n}", kind="STANDARD")

    # When the participants are checked
    check = check_participants(state, livekit).check

    # Then 20 are kept by name, and all 25 counted
    assert check is not None and len(check.participants) == 20
    assert (check.participants_total, check.participants_by_kind) == (25, {"STANDARD": 25})
