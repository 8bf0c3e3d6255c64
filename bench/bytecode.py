"""The bytecode a deployed function starts with, for the benchmarks' fresh processes.

The artifact is arm64 and cannot be imported here, so its bytecode state is emulated with a cache
prefix (``PYTHONPYCACHEPREFIX``: the import system then looks for every module's .pyc under that one
directory, and nowhere else) and ``PYTHONDONTWRITEBYTECODE=1`` (/var/task is read-only: nothing a
cold start compiles is kept). Two states:

* PRECOMPILED, as `make build` ships (tools/compile_build.py): the venv's site-packages and
  functions/ as checked hash-based .pyc (the importer hashes each source against its .pyc, as it does
  on Lambda), the standard library as timestamp-based .pyc, as the runtime's own installation has it;
* NO_BYTECODE, as plain `sam build` shipped: the standard library's .pyc only (the runtime's), every
  module of the function's own zip compiled at each import, ``livekit.api`` included.

Both prefixes live under .cache/pycache-prefix/ and are reused: a .pyc is made again only when its
source is newer (the first run compiles some 10,000 files, about a minute on 2 cores). This process's
environment (PYTHONDONTWRITEBYTECODE=1 here, and site-packages with pip's .pyc but functions/ with none)
matched neither state: the yardstick imported from bytecode and the handlers compiled ours.
"""

from __future__ import annotations

import fcntl
import os
import py_compile
import sys
import sysconfig
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = ROOT / ".cache" / "pycache-prefix"
PRECOMPILED = "precompiled (as `make build` ships)"
NO_BYTECODE = "no bytecode (as plain `sam build` shipped before)"
MODES = (PRECOMPILED, NO_BYTECODE)
_DIRECTORY = {PRECOMPILED: "precompiled", NO_BYTECODE: "no-bytecode"}
# Not imported by anything measured, and partly not compilable on purpose (the stdlib's tests).
_STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip"}
_HASH = py_compile.PycInvalidationMode.CHECKED_HASH
_TIMESTAMP = py_compile.PycInvalidationMode.TIMESTAMP


def stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def shipped() -> list[Path]:
    """What the function's zip holds: its dependencies (the venv's site-packages) and functions/."""
    paths = sysconfig.get_paths()
    return [*sorted({Path(paths["purelib"]), Path(paths["platlib"])}), ROOT / "functions"]


def cache_path(prefix: Path, source: Path) -> Path:
    """Where the import system looks for ``source``'s .pyc under ``prefix``
    (``importlib.util.cache_from_source`` with ``sys.pycache_prefix``): the source's absolute
    directory below the prefix, no __pycache__."""
    directory = Path(os.path.abspath(source.parent))
    return (
        prefix / directory.relative_to(directory.anchor) / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
    )


def _sources(top: Path, skip: set[str]) -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(top):
        subdirectories[:] = sorted(
            d for d in subdirectories if d != "__pycache__" and not (directory == str(top) and d in skip)
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory, name)


def _compile(batch: list[tuple[str, str, int]]) -> int:
    """Compile ``(source, pyc, mode)``; the number that failed (sources that are not Python 3.11:
    packages' templates and test data; the import system never loads them)."""
    failed = 0
    for source, pyc, mode in batch:
        try:
            py_compile.compile(
                source, cfile=pyc, doraise=True, invalidation_mode=py_compile.PycInvalidationMode(mode)
            )
        except (py_compile.PyCompileError, SyntaxError, ValueError, OSError):
            failed += 1
    return failed


Tree = tuple[Path, set[str], py_compile.PycInvalidationMode]  # top, its subdirectories to skip, mode


def trees() -> list[Tree]:
    """The runtime's standard library (timestamp-based, as installed) and what the zip ships
    (checked hash-based, as tools/compile_build.py makes it)."""
    return [(stdlib(), _STDLIB_SKIP, _TIMESTAMP)] + [(top, set(), _HASH) for top in shipped()]


def _stale(prefix: Path, compiled: list[Tree]) -> list[tuple[str, str, int]]:
    jobs = []
    for top, skip, mode in compiled:
        for source in _sources(top, skip):
            pyc = cache_path(prefix, source)
            try:
                if pyc.stat().st_mtime >= source.stat().st_mtime:
                    continue
            except FileNotFoundError:
                pass
            jobs.append((str(source), str(pyc), mode.value))
    return jobs


def precompile(prefix: Path | None = None, compiled: list[Tree] | None = None, *, log: bool = True) -> int:
    """Bring the PRECOMPILED prefix (or ``prefix`` with ``compiled``) up to date: what is new or changed
    since the last run. Returns the number of files compiled. One process at a time (a lock file):
    the suite's workers share it."""
    prefix = prefix or PREFIXES / _DIRECTORY[PRECOMPILED]
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jobs = _stale(prefix, trees() if compiled is None else compiled)
        if not jobs:
            return 0
        if log:
            print(f"  bytecode: compiling {len(jobs)} files into {prefix}", file=sys.stderr)
        workers = os.cpu_count() or 1
        batches = [jobs[i::workers] for i in range(workers)]
        if len(jobs) < 100:
            failed = _compile(jobs)
        else:
            with ProcessPoolExecutor(workers) as pool:
                failed = sum(pool.map(_compile, batches))
        if log and failed:
            print(f"  bytecode: {failed} files are not Python 3.11 (skipped)", file=sys.stderr)
        return len(jobs)


def _no_bytecode_prefix(precompiled: Path) -> Path:
    """The NO_BYTECODE prefix: the standard library's directory in it is the PRECOMPILED prefix's
    (a symbolic link), nothing else is there."""
    prefix = PREFIXES / _DIRECTORY[NO_BYTECODE]
    target = cache_path(precompiled, stdlib() / "x.py").parent
    link = cache_path(prefix, stdlib() / "x.py").parent
    if not link.is_symlink() or os.readlink(link) != str(target):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target, target_is_directory=True)
    return prefix


@cache
def environment(mode: str = PRECOMPILED) -> dict[str, str]:
    """The variables that give a fresh process ``mode``'s bytecode (compiled on first use)."""
    if mode not in MODES:
        raise ValueError(f"bytecode mode {mode!r} is none of {MODES}")
    precompiled = PREFIXES / _DIRECTORY[PRECOMPILED]
    precompile(precompiled)
    prefix = precompiled if mode == PRECOMPILED else _no_bytecode_prefix(precompiled)
    return {"PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": "1"}
