"""The benchmarks' fresh processes start with the deployed artifact's bytecode (bench.bytecode)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from bench import bytecode, cold_path

IMPORTS = "import dispatch_verify.handlers.dispatch_agent, livekit.api"


def loaded(mode: str) -> tuple[list[str], list[str]]:
    """``python -v``'s word on the modules a handler and the yardstick import: (compiled from source,
    loaded from a .pyc)."""
    env = {**cold_path.environment_base(mode), "LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-v", "-c", IMPORTS],
        env=env,
        cwd=bytecode.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    codes = [
        line.removeprefix("# code object from ")
        for line in done.stderr.splitlines()
        if "code object from" in line
    ]
    return [c for c in codes if not c.endswith(".pyc'")], [c for c in codes if c.endswith(".pyc'")]


def test_precompiled_every_module_comes_from_bytecode() -> None:
    # Given the processes' environment as `make build` ships the functions
    compiled, from_pyc = loaded(bytecode.PRECOMPILED)

    # Then nothing is compiled at import: dependencies, ours, the standard library
    assert compiled == []
    prefix = bytecode.environment(bytecode.PRECOMPILED)["PYTHONPYCACHEPREFIX"]
    assert any("/functions/dispatch_verify/handlers/dispatch_agent." in path for path in from_pyc)
    assert any("/site-packages/livekit/api/" in path for path in from_pyc)
    assert all(path.startswith(f"'{prefix}/") for path in from_pyc)


def test_with_no_bytecode_only_the_runtimes_standard_library_is_compiled() -> None:
    # Given the processes' environment as plain `sam build` ships the functions
    compiled, from_pyc = loaded(bytecode.NO_BYTECODE)

    # Then the zip's modules (ours and the dependencies, livekit.api included) are compiled at import,
    # the standard library (the runtime's, with its .pyc) is not
    stdlib = str(bytecode.stdlib())
    assert any(path.endswith("/dispatch_verify/handlers/dispatch_agent.py") for path in compiled)
    assert any("/site-packages/livekit/api/" in path for path in compiled)
    assert not any(path.startswith(stdlib) for path in compiled)
    assert from_pyc and all(stdlib.lstrip("/") in path for path in from_pyc)


def test_the_prefix_holds_what_the_import_system_looks_for(tmp_path: Path) -> None:
    # Given a source, When its .pyc's place under a prefix is asked of bench.bytecode and of Python
    source = tmp_path / "pkg" / "mod.py"
    code = "import importlib.util, sys; print(importlib.util.cache_from_source(sys.argv[1]))"
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "prefix")}
    python = subprocess.run(
        [sys.executable, "-c", code, str(source)], env=env, capture_output=True, text=True
    )

    # Then they agree
    assert python.stdout.strip() == str(bytecode.cache_path(tmp_path / "prefix", source))


def test_the_prefix_is_compiled_once_then_again_for_a_changed_source(tmp_path: Path) -> None:
    # Given a tree of two modules and a prefix of this spec's own (the benchmarks' is left alone)
    prefix, tree = tmp_path / "prefix", tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("")
    source = tree / "pkg" / "mod.py"
    source.write_text("x = 1\n")
    compiled: list[bytecode.Tree] = [(tree, set(), bytecode._HASH)]

    # When it is compiled, Then both are; and a second time, neither
    assert bytecode.precompile(prefix, compiled, log=False) == 2
    assert bytecode.precompile(prefix, compiled, log=False) == 0
    header = bytecode.cache_path(prefix, source).read_bytes()[:16]
    assert int.from_bytes(header[4:8], "little") == 0b11  # hash-based, checked
    assert header[8:16] == importlib.util.source_hash(b"x = 1\n")

    # When one source changes, Then it alone is compiled again, with its new hash
    source.write_text("x = 2\n")
    later = bytecode.cache_path(prefix, source).stat().st_mtime + 1
    os.utime(source, (later, later))
    assert bytecode.precompile(prefix, compiled, log=False) == 1
    assert bytecode.cache_path(prefix, source).read_bytes()[8:16] == importlib.util.source_hash(b"x = 2\n")
