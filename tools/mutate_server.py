"""A pytest fork server for tools/mutate.py: the third-party imports paid once, a fork per mutant.

Started in a copy of the tree (its working directory). It imports pytest and the heavy libraries the
specs use, never the project's own modules, then reads one JSON request a line on stdin,
``{"args": [...], "out": path, "timeout": s}``: a child forked for it runs ``pytest.main(args)`` with
its output in ``out`` and imports the project's modules afresh, so it sees the mutated file on disk.
The answer, one JSON line on stdout: ``{"rc": exit status, "timed_out": bool}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

# What every spec's conftest imports anyway (no module of the project's, which the mutants change).
PRELOAD = (
    "pytest",
    "pydantic",
    "boto3",
    "botocore",
    "moto",
    "livekit.api",
    "aws_lambda_powertools",
    "aiohttp",
    "yaml",
)


def main() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a library a spec may not need
            __import__(name)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(run(request["args"], request["out"], float(request["timeout"]))), flush=True)


def run(args: list[str], out: str, timeout: float) -> dict[str, object]:
    pid = os.fork()
    if pid == 0:  # the child: pytest with its output in a file, then out without cleanup
        code = 3
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.setpgid(0, 0)  # its own group: a timeout ends whatever it started too
            import pytest

            code = int(pytest.main(args))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"rc": os.waitstatus_to_exitcode(status), "timed_out": False}
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"rc": -9, "timed_out": True}
        time.sleep(0.02)


if __name__ == "__main__":
    main()
