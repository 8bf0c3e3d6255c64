"""The chaos suite, small: seeded executions under random LiveKit faults hold every invariant
(``make chaos`` runs 300). And the checker does catch what it is meant to catch."""

from __future__ import annotations

import dataclasses

import pytest

from bench import chaos
from bench.chaos import FaultSpec, Observation, check_execution, check_secrets, generate
from livekit_sim import BEHAVIOURS, parse_behaviour

# Many executions share this process (and Powertools' Metrics singleton) at once; in Lambda each
# container runs one invocation at a time, so these two warnings are artefacts of the local run.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Dimension 'AgentName' has already been added"),
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

SEED = 11
SMALL_RUN = generate(30, SEED)
SLICES = 2  # one per core: xdist runs them side by side


def test_the_small_run_covers_every_fault_kind_behaviour_and_webhook_mode() -> None:
    kinds = {k for s in SMALL_RUN for k in s.fault_kinds}
    assert kinds == set(chaos.FAULT_KINDS)
    assert {s.webhooks for s in SMALL_RUN} == set(chaos.WEBHOOK_MODES)
    assert {s.expected_status for s in SMALL_RUN} == {"verified", "escalated"}
    assert {s.kind for s in SMALL_RUN} >= {"warm", "wake", "never", "leave0"}
    assert len({s.room for s in SMALL_RUN}) == len(SMALL_RUN)  # a fault aimed at a room hits one run
    assert generate(30, SEED) == SMALL_RUN  # seeded


def test_the_behaviour_families_cover_every_simulator_behaviour_and_are_written_by_it() -> None:
    # A kind added to the simulator's registry needs a family (and its truth) here
    assert {f.kind for f in chaos.FAMILIES.values()} == set(BEHAVIOURS)
    for s in generate(300, 1):
        assert parse_behaviour(s.behaviour).kind == chaos.FAMILIES[s.kind].kind, s


def test_absorbed_faults_stay_inside_the_retry_budget() -> None:
    for s in generate(300, 1):
        failing = sum(f.failing() for f in s.faults)
        if s.expected in ("livekit_unavailable", "quota"):
            assert failing >= 6, s
        else:
            assert failing <= chaos.ABSORBED_BUDGET, s


@pytest.mark.parametrize("part", range(SLICES))
def test_a_small_chaos_run_holds_every_invariant(part: int) -> None:
    scenarios = SMALL_RUN[part::SLICES]
    report = chaos.run(scenarios, progress=None)
    assert report.violations == [], chaos.summary_table(report)
    assert len(report.observations) == len(scenarios)
    # The faults really happened: a held reply a call received timed the client out, and AWS faults
    # were delivered (an execution that never made the call a fault waited for has none: seed-proof)
    assert all(o.client_timeouts >= 1 for o in report.observations if o.held_past_timeout)
    assert any(o.aws_delivered for o in report.observations)


def scenario(expected: str = "not_joined", **changes: object) -> chaos.Scenario:
    base = next(s for s in SMALL_RUN if not s.faults)
    return dataclasses.replace(base, expected=expected, **changes)  # type: ignore[arg-type]


def escalated(s: chaos.Scenario, **changes: object) -> Observation:
    good = Observation(
        scenario=s,
        status="FAILED",
        error="AgentNotVerified",
        cause=s.expected,
        ledger=[{"request_id": s.name, "status": "escalated", "cause": s.expected}],
        notifications=1,
        notification_causes=[s.expected],
        bus_events=1,
        event_types=["AgentDispatchEscalated"],
        page_event_ids=["e-1"],
        max_agents=1,
        max_live_dispatches=1,
    )
    return dataclasses.replace(good, **changes)  # type: ignore[arg-type]


def invariants(obs: Observation) -> list[str]:
    found = check_execution(obs)
    assert all(v.execution == obs.scenario.name for v in found)
    return sorted(v.invariant for v in found)


def test_the_checker_passes_a_clean_escalation_and_a_clean_verification() -> None:
    s = scenario()
    assert invariants(escalated(s)) == []
    v = scenario("verified")
    ok = escalated(
        v, status="SUCCEEDED", error=None, cause=None, notifications=0, notification_causes=[], bus_events=1,
        ledger=[{"request_id": v.name, "status": "verified", "cause": None}], page_event_ids=[],
        event_types=["AgentDispatchVerified"],
    )  # fmt: skip
    assert invariants(ok) == []
    # a page SNS repeated because its reply was lost (a delivered applied fault), with one event id
    assert invariants(escalated(s, notifications=2, lost_pages=1, page_event_ids=["e-1", "e-1"])) == []


def test_the_checker_catches_planted_violations() -> None:
    s = scenario()
    assert invariants(escalated(s, cause="auth")) == ["cause"]
    assert invariants(escalated(s, status="SUCCEEDED", error=None)) == ["outcome"]
    assert invariants(escalated(s, notifications=2, notification_causes=[s.expected] * 2)) == ["one page"]
    lost = escalated(s, notifications=2, lost_pages=1, page_event_ids=["e-1", "e-2"])
    assert invariants(lost) == ["one page"]
    assert invariants(escalated(s, event_types=[])) == ["one outcome event"]
    assert invariants(escalated(s, event_types=["AgentDispatchEscalated"] * 2)) == ["one outcome event"]
    assert invariants(escalated(s, refusals=["429 bad: no Retry-After"])) == ["no request lost"]
    two = [{"status": "escalated", "cause": s.expected}] * 2
    assert invariants(escalated(s, ledger=two)) == ["one ledger record"]
    assert invariants(escalated(s, ledger=[{"status": "running", "cause": None}])) == ["ledger status"]
    assert invariants(escalated(s, ledger=[{"status": "escalated", "cause": "auth"}])) == ["ledger cause"]
    assert invariants(escalated(s, max_agents=2)) == ["never two agents"]
    assert invariants(escalated(s, max_live_dispatches=2)) == ["never two live dispatches"]
    assert invariants(escalated(s, status="DID_NOT_END")) == ["ends"]
    held = dataclasses.replace(s, faults=(FaultSpec("CreateDispatch", None, 1, hold_s=chaos.HOLD_S),))
    # a held reply a call received, yet no step timed out; one scheduled but never received is no fault
    assert invariants(escalated(held, held_past_timeout=1, client_timeouts=0)) == ["fault delivered"]
    assert invariants(escalated(held, held_past_timeout=0, client_timeouts=0)) == []
    # a verification that notified anyway
    v = scenario("verified")
    noisy = escalated(
        v, status="SUCCEEDED", error=None, cause=None, ledger=[{"status": "verified", "cause": None}]
    )
    assert invariants(noisy) == ["one outcome event", "one page"]


def test_the_secret_checker_finds_a_secret_or_a_jwt_and_names_the_execution() -> None:
    secret = "chaos-secret-planted-0123456789"
    token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJrZXkifQ.c2lnbmF0dXJlLXBsYW50ZWQ"
    lines = [
        ("line 1", '{"message": "dispatch created", "request_id": "chaos-1-0001"}'),
        ("line 2", f'{{"request_id": "chaos-1-0002", "creds": "{secret}"}}'),
        ("line 3", f"Authorization: Bearer {token}"),
    ]
    found = check_secrets(lines, [secret], {token}, ["chaos-1-0001", "chaos-1-0002"])
    assert [(v.execution, v.invariant) for v in found] == [
        ("chaos-1-0002", "no secret in logs"),
        ("(no execution named)", "no secret in logs"),
    ]
    assert secret not in str(found) and token not in str(found)  # the report does not leak them either
    assert "a JWT the simulator saw" in found[1].detail
