"""pytest plugin for tools/mutate.py: which spec executes which line of the mutated files.

Loaded with ``-p mutate_trace`` (tools/ on PYTHONPATH). ``MUTATE_TRACE_FILES`` lists the files to
watch (absolute paths, separated by os.pathsep); ``MUTATE_TRACE_OUT`` is a directory where each
process (an xdist worker or the only one) writes ``trace-<worker>.json``:
``{nodeid: {"lines": {path: [line, ...]}, "duration": s, "passed": bool}}``. Lines run at import
time (a class body's ``Field`` bounds) belong to no spec: tools/mutate.py maps those by file.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

_WATCHED = frozenset(p for p in os.environ.get("MUTATE_TRACE_FILES", "").split(os.pathsep) if p)
_OUT = os.environ.get("MUTATE_TRACE_OUT", "")
_results: dict[str, dict[str, Any]] = {}
_current: dict[str, set[int]] | None = None


def _local(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line" and _current is not None:
        _current.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
    return _local


def _global(frame: FrameType, event: str, arg: Any) -> Any:
    if frame.f_code.co_filename in _WATCHED:
        if _current is not None:  # the def line itself, as coverage counts it
            _current.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
        return _local
    return None


def pytest_configure(config: pytest.Config) -> None:
    # On for the whole session, so that threads started by session fixtures (the local engine runs
    # Lambda steps in threads) are traced too; lines count only while a spec runs.
    if _WATCHED:
        threading.settrace(_global)
        sys.settrace(_global)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _current
    _current = {}
    started = time.perf_counter()
    if _WATCHED and sys.gettrace() is not _global:  # another tool (a debugger) took it over
        sys.settrace(_global)
    try:
        yield
    finally:
        lines, _current = _current, None
        entry = _results.setdefault(item.nodeid, {"passed": True})
        entry["lines"] = {path: sorted(found) for path, found in lines.items()}
        entry["duration"] = round(time.perf_counter() - started, 4)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed or report.skipped:  # neither can kill a mutant
        _results.setdefault(report.nodeid, {})["passed"] = False


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _OUT:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(_OUT, f"trace-{worker}.json").write_text(json.dumps(_results))
