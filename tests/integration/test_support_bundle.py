"""The escalation bundle as LiveKit support needs it: which project (host), which room (sid), which job
on which dispatch, when each stale dispatch was deleted, and the cause in a sentence."""

from __future__ import annotations

from urllib.parse import urlsplit

from livekit_sim import LiveKitSimulator
from local_engine import LocalEngine
from tests.integration.conftest import escalation_of, request


def test_a_bundle_names_the_host_the_room_sid_each_dispatchs_jobs_and_when_a_stale_one_was_deleted(
    sim: LiveKitSimulator, engine: LocalEngine
) -> None:
    # Given an agent whose worker takes every job but whose entrypoint hangs (the job RUNNING, no agent)
    sim.set_agent("hung-agent", "hang")

    # When a dispatch is verified with two short attempts
    bundle = escalation_of(
        engine.run(request("room-support", "hung-agent", join_timeout_s=6, max_attempts=2))
    )

    # Then the bundle names the LiveKit host and the room's sid as LiveKit knows them
    assert bundle["livekit_host"] == urlsplit(sim.url).hostname
    assert bundle["room_sid"] == sim.world.rooms["room-support"].info.sid
    # each dispatch with the jobs seen on it, the stale first one deleted at a time, the last live
    first, second = bundle["dispatches"]
    assert first["deleted"] is True and first["deleted_at"].endswith("Z")
    assert second["deleted"] is False and second["deleted_at"] is None
    assert first["job_states"] and second["job_states"]
    assert {j["job_id"] for j in first["job_states"]}.isdisjoint(j["job_id"] for j in second["job_states"])
    assert all(j["status"] == "JS_RUNNING" for d in (first, second) for j in d["job_states"])
    # and the cause in a sentence that points at the agent's entrypoint (the worker took the job)
    assert bundle["cause"] == "not_joined"
    assert "entrypoint" in bundle["explanation"]
