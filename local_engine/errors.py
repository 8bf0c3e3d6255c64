"""What the local engine raises of its own."""

from __future__ import annotations


class EngineClosing(RuntimeError):
    """A handler call, or AWS work on no handler's behalf, asked of the engine once it began to close."""
