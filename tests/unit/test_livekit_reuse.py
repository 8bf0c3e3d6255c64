"""Warm invocations reuse one LiveKit client per credentials; a network error drops it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dispatch_verify.adapters import livekit
from dispatch_verify.config import LiveKitCredentials
from dispatch_verify.errors import LiveKitTransientError
from livekit import api

from clocks import RealClock
from livekit_sim import LiveKitSimulator


@pytest.fixture
def sim() -> Iterator[LiveKitSimulator]:
    with LiveKitSimulator(RealClock()) as simulator:
        yield simulator
    livekit.close_shared_clients()


def credentials_of(sim: LiveKitSimulator, secret: str | None = None) -> LiveKitCredentials:
    return LiveKitCredentials.model_validate(
        {"url": sim.url, "api_key": sim.api_key, "api_secret": secret or sim.api_secret}
    )


def test_two_invocations_with_the_same_credentials_share_one_client(sim: LiveKitSimulator) -> None:
    # Given two warm invocations with the same credentials
    sim.add_participant("room-1", "caller")

    # When each lists the participants through connect
    with livekit.connect(credentials_of(sim)) as first:
        first_seen = [p.identity for p in first.list_participants("room-1")]
    with livekit.connect(credentials_of(sim)) as second:
        second_seen = [p.identity for p in second.list_participants("room-1")]

    # Then both worked, on the same client (its session and connections kept between them)
    assert first_seen == second_seen == ["caller"]
    assert first is second


def test_rotated_credentials_get_a_new_client(sim: LiveKitSimulator) -> None:
    # Given a client for the current secret
    with livekit.connect(credentials_of(sim)) as before:
        pass

    # When the secret changes (a rotation)
    with livekit.connect(credentials_of(sim, secret="another-secret-of-32-characters!!")) as after:
        # Then another client is used, and the server refuses the old project's key with the new secret
        assert after is not before
        with pytest.raises(livekit.LiveKitPermanentError):
            after.list_participants("room-1")


def test_a_client_that_met_a_network_error_is_not_handed_out_again() -> None:
    # Given a client whose call failed on the network (nothing listens on its port)
    credentials = LiveKitCredentials.model_validate(
        {"url": "http://127.0.0.1:9", "api_key": "APIkey123", "api_secret": "s" * 32}
    )
    try:
        with pytest.raises(LiveKitTransientError), livekit.connect(credentials) as broken:
            broken.list_participants("room-1")

        # When the next invocation connects
        with livekit.connect(credentials) as fresh:
            # Then it gets a new client (the old one's connections may be stale)
            assert fresh is not broken
    finally:
        livekit.close_shared_clients()


def test_a_shared_client_still_speaks_the_official_protocol(sim: LiveKitSimulator) -> None:
    # Given a room created by the official client
    import asyncio

    async def create() -> None:
        async with api.LiveKitAPI(sim.url, sim.api_key, sim.api_secret) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name="room-2"))

    asyncio.run(create())

    # When the shared client creates a dispatch into it from two threads at once
    from concurrent.futures import ThreadPoolExecutor

    def dispatch(i: int) -> str:
        with livekit.connect(credentials_of(sim)) as port:
            return port.create_dispatch("room-2", f"agent-{i}", "").dispatch_id

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(dispatch, range(8)))

    # Then every call got its own dispatch
    assert len(set(ids)) == 8 and all(i.startswith("AD_") for i in ids)
