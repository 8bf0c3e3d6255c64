"""Each handler call signs its AWS requests with its own function's role, as on Lambda.

On Lambda a function gets its execution role's credentials in its environment. Here every handler
runs in one process, so the environment cannot tell them apart: the credentials that botocore reads
from the environment become ``ContextCredentials``, which sign each request with the role of the
handler call in progress (``acting_as``), and with the environment's own keys (the engine's, the
tests') everywhere else. Clients created once and reused across calls (as the steps do) therefore
still sign as the role of whichever call uses them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import botocore.credentials
import botocore.session
from botocore.credentials import Credentials, ReadOnlyCredentials

_acting: ContextVar[ReadOnlyCredentials | None] = ContextVar("acting_as_role", default=None)


class ContextCredentials(Credentials):  # type: ignore[misc]  # botocore ships no type hints
    """Credentials resolved at signing time: the acting role's, else the environment's."""

    def __init__(self) -> None:  # nothing stored: every read looks again
        self.method = "env"

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        acting = _acting.get()
        if acting is not None:
            return acting
        return ReadOnlyCredentials(
            os.environ.get("AWS_ACCESS_KEY_ID", ""),
            os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            os.environ.get("AWS_SESSION_TOKEN") or None,
        )

    @property
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @property
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @property
    def token(self) -> str | None:
        token = self.get_frozen_credentials().token
        return None if token is None else str(token)


class ContextProvider(botocore.credentials.CredentialProvider):  # type: ignore[misc]
    """A credential provider for a long-lived botocore session (the engine's, shared by every engine
    of the process): it caches the credentials it resolves first, so they must be these."""

    METHOD = "local-engine-context"

    def load(self) -> Credentials:
        return ContextCredentials()


def resolve_per_call(session: botocore.session.Session) -> botocore.session.Session:
    """``session`` with ``ContextCredentials`` first in its credential chain."""
    session.get_component("credential_provider").insert_before("env", ContextProvider())
    return session


@contextmanager
def acting_as(credentials: ReadOnlyCredentials | None) -> Iterator[None]:
    """AWS requests made in this context (this thread, and tasks it starts) sign with ``credentials``."""
    token = _acting.set(credentials)
    try:
        yield
    finally:
        _acting.reset(token)


@contextmanager
def environment_credentials_per_call() -> Iterator[None]:
    """While inside, botocore's environment credentials are ``ContextCredentials``."""
    original: Callable[..., object] = botocore.credentials.EnvProvider.load

    def load(provider: botocore.credentials.EnvProvider) -> Credentials | None:
        found = original(provider)
        return ContextCredentials() if found is not None else None

    botocore.credentials.EnvProvider.load = load
    try:
        yield
    finally:
        botocore.credentials.EnvProvider.load = original
