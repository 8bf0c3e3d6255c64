"""Many executions at once on the DiscreteClock: each keeps its own timeline on shared virtual time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from clocks import DiscreteClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalEngine
from tests.integration.conftest import ROOT, request

# Many executions share this process (and Powertools' Metrics singleton) at once; in Lambda each
# container runs one invocation at a time, so these two warnings are artefacts of the local run.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Dimension 'AgentName' has already been added"),
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

WAKES = [5.0, 7.5, 9.0, 11.0, 12.5, 14.0]  # seconds each agent sleeps after its first dispatch


@pytest.fixture
def discrete() -> Iterator[tuple[DiscreteClock, LiveKitSimulator, LocalEngine]]:
    with DiscreteClock() as clock, LiveKitSimulator(clock) as sim:
        credentials = {"url": sim.url or "", "api_key": sim.api_key, "api_secret": sim.api_secret}
        with LocalEngine(clock, credentials, template_path=str(ROOT / "template.yaml")) as engine:
            sim.set_webhook(LocalApi(engine).deliver_webhook)
            yield clock, sim, engine
            sim.set_webhook(None)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_executions_started_together_each_see_their_own_agent_wake_on_time(
    discrete: tuple[DiscreteClock, LiveKitSimulator, LocalEngine],
) -> None:
    clock, sim, engine = discrete
    # Given six sleepy agents and one that never wakes, each dispatched by its own execution, the
    # executions started one virtual second apart (their waits overlap)
    started_at: dict[str, float] = {}
    arns: dict[str, str] = {}
    with clock.running():
        origin = clock.now()
        for index, wake in enumerate([*WAKES, None]):
            clock.sleep_until(origin + index)
            agent = f"agent-{index}"
            sim.set_agent(agent, "never" if wake is None else f"wake:{wake}")
            started_at[agent] = clock.now()
            arns[agent] = engine.start(request(f"room-{index}", agent, max_attempts=1, join_timeout_s=20))

    # When all of them run to the end
    results = dict(zip(arns, engine.wait_all(list(arns.values()), timeout_s=120), strict=True))

    # Then every sleepy agent is verified, joining its wake time after its own execution started
    # (on a clock that aged everyone by everyone's sleeps, later executions would see late joins)
    for index, wake in enumerate(WAKES):
        result = results[f"agent-{index}"]
        assert result.status == "SUCCEEDED", result.cause
        joined = _epoch(result.output["agent_joined_at"]) - started_at[f"agent-{index}"]
        assert wake <= joined <= wake + 0.5, (index, joined)
    # and the agent that never wakes is escalated once its own 20 s join timeout has passed
    never = results[f"agent-{len(WAKES)}"]
    assert never.status == "FAILED"
    assert never.error == "AgentNotVerified"
    # and the waits overlapped: the last join came far sooner than the waits one after another
    last_join = max(_epoch(results[f"agent-{i}"].output["agent_joined_at"]) for i in range(len(WAKES)))
    assert last_join - origin < sum(WAKES) / 2
