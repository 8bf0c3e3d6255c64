"""Compile what `sam build` made (.aws-sam/build/) to hash-based bytecode, as Lambda cannot.

`sam build` (the python_pip builder) ships no .pyc at all, and Lambda's /var/task is read-only: every
cold start compiles every module it imports (livekit.api, aiohttp, protobuf, pydantic, Powertools,
ours) and throws the result away. Timestamp-based .pyc would not help: SAM zips every entry with the
same 1980 timestamp, so their recorded source mtime never matches (aws/aws-lambda-builders#924).
Hash-based ones (PEP 552, ``--invalidation-mode checked-hash``) are checked against the source's
hash, whatever the timestamps, and are used as long as the source they were made from is the one
shipped beside them.

Each function directory (``*Function``) is compiled by ``python -m compileall`` of the interpreter
given (``--python``, the Lambda runtime's version: the .pyc's magic number must be its own), with
the directory's path rewritten to /var/task (``-s DIR -p /var/task``): the file name inside each .pyc
is where Lambda unpacks it, not this machine's build path (the import system names a module loaded
from bytecode after its .py's real path anyway), and the nine copies' .pyc are the same bytes.
tools/check_build.py then checks every .py has its .pyc, up to date.

Standard library only: `python3 tools/compile_build.py --python PY313 [BUILD_DIR]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK_ROOT = "/var/task"  # where Lambda unpacks a function's zip


def function_directories(build: Path) -> list[Path]:
    return sorted(d for d in build.iterdir() if d.is_dir() and d.name.endswith("Function"))


def size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6


def compile_directory(python: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """``compileall`` over one function directory: every .py to __pycache__/*.cpython-3XY.pyc,
    hash-based and checked, named /var/task/... inside."""
    directory = directory.resolve()
    command = [
        python,
        "-I",  # no PYTHONPYCACHEPREFIX or PYTHONDONTWRITEBYTECODE from this environment
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "checked-hash",
        "-s",
        str(directory),
        "-p",
        TASK_ROOT,
        str(directory),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/compile_build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the Lambda runtime's Python (python3.13) to compile with (default: this one)",
    )
    args = parser.parse_args(argv)
    directories = function_directories(args.build) if args.build.is_dir() else []
    if not directories:
        print(f"{args.build}: no *Function directory (run `sam build`)", file=sys.stderr)
        return 1
    version = subprocess.run(  # noqa: S603 - the interpreter asked for
        [args.python, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    failed = 0
    print(f"hash-based bytecode ({version}, checked, paths as {TASK_ROOT}) in {args.build}")
    for directory in directories:
        before = size_mb(directory)
        started = time.perf_counter()
        done = compile_directory(args.python, directory)
        took = time.perf_counter() - started
        sources = sum(1 for _ in directory.rglob("*.py"))
        compiled = sum(1 for _ in directory.rglob(f"__pycache__/*.{version}.pyc"))
        print(
            f"  {directory.name:26} {compiled:5d} .pyc for {sources:5d} .py in {took:5.1f} s, "
            f"{before:5.1f} -> {size_mb(directory):5.1f} MB unzipped"
        )
        if done.returncode != 0:
            failed += 1
            print(
                f"PROBLEM: {directory.name}: compileall failed:\n{done.stdout}{done.stderr}", file=sys.stderr
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
