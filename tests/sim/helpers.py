"""Helpers for the simulator's specification: the official client and raw HTTP."""

from __future__ import annotations

import asyncio
import datetime
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from livekit import api

from livekit_sim import LiveKitSimulator

KEY, SECRET = "devkey", "secret"
T = TypeVar("T")


def lk(sim: LiveKitSimulator, fn: Callable[[api.LiveKitAPI], Awaitable[T]], *, secret: str = SECRET) -> T:
    """Run ``fn`` with the official client pointed at the simulator."""

    async def go() -> T:
        async with api.LiveKitAPI(sim.url, KEY, secret) as client:
            return await fn(client)

    return asyncio.run(go())


def server_error(
    sim: LiveKitSimulator, fn: Callable[[api.LiveKitAPI], Awaitable[Any]], **kw: Any
) -> api.ServerError:
    """Run ``fn`` and return the ServerError it must raise."""
    with pytest.raises(api.ServerError) as caught:
        lk(sim, fn, **kw)
    return caught.value


def dispatch(sim: LiveKitSimulator, room: str, agent: str, metadata: str = "") -> Any:
    req = api.CreateAgentDispatchRequest(agent_name=agent, room=room, metadata=metadata)
    return lk(sim, lambda c: c.agent_dispatch.create_dispatch(req))


def list_dispatch(sim: LiveKitSimulator, room: str) -> list[Any]:
    return lk(sim, lambda c: c.agent_dispatch.list_dispatch(room))


def participants(sim: LiveKitSimulator, room: str) -> list[Any]:
    res = lk(sim, lambda c: c.room.list_participants(api.ListParticipantsRequest(room=room)))
    return list(res.participants)


def agents_named(sim: LiveKitSimulator, room: str, agent: str) -> list[Any]:
    return [
        p
        for p in participants(sim, room)
        if p.kind == api.ParticipantInfo.Kind.AGENT and p.attributes.get("lk.agent.name") == agent
    ]


def token(ttl_s: float = 600, **grants: Any) -> str:
    tok = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(**grants))
    return tok.with_ttl(datetime.timedelta(seconds=ttl_s)).to_jwt()


def post(
    sim: LiveKitSimulator, path: str, body: Any, *, auth: str | None, content_type: str = "application/json"
) -> tuple[int, str, bytes]:
    """POST raw bytes (or JSON for a dict) to ``path``; returns status, Content-Type, body."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = auth
    req = urllib.request.Request(sim.url + path, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - local simulator URL
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()
