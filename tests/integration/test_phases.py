"""A SIP flow follows its phases through GET (issue 13 item 5): "agent in, dialling" is told apart from
"still waiting for the agent". Real time, so that GET can look while the call rings (2 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dispatch_verify.client import DispatchClient

from clocks import RealClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalApiServer, LocalEngine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client() -> Iterator[DispatchClient]:
    clock = RealClock()
    with LiveKitSimulator(clock, agents={"sleepy": "wake:2"}) as sim:
        credentials = {"url": sim.url or "", "api_key": sim.api_key, "api_secret": sim.api_secret}
        template = str(ROOT / "template.yaml")
        with (
            LocalEngine(
                clock, credentials, template_path=template, parameters={"LiveKitWebhooks": "Disabled"}
            ) as engine,
            LocalApiServer(LocalApi(engine)) as server,
        ):
            yield DispatchClient(server.url)


def test_a_call_request_goes_from_waiting_for_the_agent_to_dialling_to_verified(
    client: DispatchClient,
) -> None:
    # Given an agent that wakes 2 s after its dispatch, and a callee who answers after 2 s of ringing
    accepted = client.start(
        "phase-room",
        "sleepy",
        options={"poll_interval_s": 1, "join_timeout_s": 20},
        sip={"trunk_id": "ST_simtrunk", "call_to": "+15550100123", "participant_identity": "callee"},
    )

    # When a backend follows it every 0.1 s until it ends
    seen: list[str | None] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = client.get(accepted.request_id)
        if view.status != "running":
            break
        if not seen or seen[-1] != view.phase:
            seen.append(view.phase)
        time.sleep(0.1)

    # Then it waited for the agent, then dialled (the agent in), then ended verified with the call
    assert view.status == "verified" and view.sip is not None and view.sip.answered is True
    assert "waiting_for_agent" in seen and "dialling" in seen
    assert seen.index("waiting_for_agent") < seen.index("dialling")
    assert seen[-1] in ("dialling", "recording")
    assert view.phase is None
