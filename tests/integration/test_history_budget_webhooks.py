"""The worst-case history model with webhooks expected (issue 13: the first look after a dispatch comes
at the poll interval, the later waits at the backstop), held to real histories through the real ASL."""

from __future__ import annotations

import pytest
from dispatch_verify.logic.history import worst_case_events
from dispatch_verify.models import Options

from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine
from tests.integration.conftest import escalation_of, request


@pytest.fixture
def livekit_webhooks() -> str:
    """The stack expects webhooks; none comes (the agent never joins), so every wait times out."""
    return "Enabled"


@pytest.mark.parametrize(
    "options",
    [
        # waits 2, 8, 2 per attempt: one more than ceil(12 / 8), the count before the first look
        {"join_timeout_s": 12, "poll_interval_s": 2, "webhook_backstop_s": 8, "max_attempts": 2},
        {"join_timeout_s": 9, "poll_interval_s": 3, "webhook_backstop_s": 3, "max_attempts": 1},
        {"join_timeout_s": 2, "poll_interval_s": 3, "webhook_backstop_s": 30, "max_attempts": 2},
    ],
)
def test_the_worst_case_model_with_webhooks_never_undercounts_a_real_history(
    engine: LocalEngine, sim: LiveKitSimulator, options: dict[str, int]
) -> None:
    # Given an agent that never comes, webhooks expected
    sim.set_agent("ghost", "never")

    # When the request runs through the real state machine
    result = engine.run(request(f"history-hooks-{options['join_timeout_s']}", "ghost", **options))

    # Then its history is what the model says at most, and not far below it
    predicted = worst_case_events(Options(**options), webhooks=True)
    assert escalation_of(result)["cause"] == "not_joined"
    assert len(result.history) <= predicted <= len(result.history) * 1.1
