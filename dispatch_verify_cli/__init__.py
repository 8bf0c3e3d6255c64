"""The installed ``dispatch-verify`` command: ``run`` and ``heartbeat`` (the workflow on the local
engine, against any LiveKit server), ``demo``, ``sim`` (the LiveKit simulator) and ``api``."""

from dispatch_verify_cli.main import main

__all__ = ["main"]
