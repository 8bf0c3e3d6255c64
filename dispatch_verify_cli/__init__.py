"""The installed ``dispatch-verify`` command: ``run`` and ``heartbeat`` (the workflow on the local
engine, against any LiveKit server), ``demo``, ``sim`` (the LiveKit simulator) and ``api``."""

from dispatch_verify_cli.main import execution_budget_s, main
from dispatch_verify_cli.progress import describe, printer

__all__ = ["describe", "execution_budget_s", "main", "printer"]
