"""The built artifact ships hash-based bytecode: tools/compile_build.py makes it, tools/check_build.py
checks that every .py has its up-to-date .pyc, and Lambda's Python uses it from a zip with no dates.

Each spec builds a small artifact of its own (two function directories of a package and a module);
the bytecode is the runtime's, so a Python 3.13 is needed (found as the Makefile finds it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"


def _check_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_build", TOOLS / "check_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PY313 = _check_build().find_python313()
pytestmark = pytest.mark.skipif(
    PY313 is None,
    reason="no Python 3.13 (pyenv's versions/3.13*, or python3.13 on PATH): the runtime's bytecode",
)
SOURCES = {
    "shop/__init__.py": "",
    "shop/prices.py": "def total(items):\n    return sum(items)\n",
    "shop/handler.py": "from shop.prices import total\n\ndef handle(event):\n    return total(event)\n",
    "single.py": "def fail():\n    raise ValueError('from single')\n",
}
FUNCTIONS = ("DispatchApiFunction", "OtherFunction")


def artifact(tmp_path: Path) -> Path:
    """A build directory: two function directories holding the same sources, as `sam build` makes."""
    build = tmp_path / "build"
    for function in FUNCTIONS:
        for relative, text in SOURCES.items():
            path = build / function / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return build


def run_tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOLS / name), *map(str, args)], capture_output=True, text=True, check=False
    )


def compiled(tmp_path: Path) -> Path:
    build = artifact(tmp_path)
    done = run_tool("compile_build.py", "--python", str(PY313), build)
    assert done.returncode == 0, done.stderr
    return build


def check(build: Path) -> subprocess.CompletedProcess[str]:
    return run_tool("check_build.py", "--python", str(PY313), "--only-bytecode", build)


def test_the_compiled_artifact_passes_the_check(tmp_path: Path) -> None:
    # Given an artifact as `sam build` leaves it: no .pyc at all
    build = artifact(tmp_path)
    # Then the check fails, naming the sources without bytecode
    before = check(build)
    assert before.returncode == 1
    assert (
        "PROBLEM: DispatchApiFunction/shop/prices.py: no __pycache__/prices.cpython-313.pyc" in before.stderr
    )

    # When it is compiled
    done = run_tool("compile_build.py", "--python", str(PY313), build)

    # Then each function directory has a .pyc per .py, and the check passes
    assert done.returncode == 0, done.stderr
    for function in FUNCTIONS:
        assert f"{function:26}     4 .pyc for     4 .py" in done.stdout
    after = check(build)
    assert after.returncode == 0, after.stderr
    assert f"bytecode: {len(SOURCES) * len(FUNCTIONS)} .py in 2 function directories" in after.stdout


def test_a_changed_source_makes_its_pyc_stale(tmp_path: Path) -> None:
    # Given a compiled artifact, then one byte of one source changed in one function
    build = compiled(tmp_path)
    source = build / "OtherFunction" / "shop" / "prices.py"
    source.write_bytes(source.read_bytes().replace(b"sum", b"max"))

    # When it is checked
    done = check(build)

    # Then it fails on that file, and only that one
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1
    assert problems[0].startswith(
        "PROBLEM: OtherFunction/shop/prices.py: __pycache__/prices.cpython-313.pyc is stale"
    )


def test_a_missing_pyc_fails_the_check(tmp_path: Path) -> None:
    # Given a compiled artifact, then one .pyc deleted
    build = compiled(tmp_path)
    (build / "DispatchApiFunction" / "__pycache__" / "single.cpython-313.pyc").unlink()

    # When / Then: the check fails on that file
    done = check(build)
    assert done.returncode == 1
    assert "PROBLEM: DispatchApiFunction/single.py: no __pycache__/single.cpython-313.pyc" in done.stderr


def test_a_timestamp_based_pyc_fails_the_check(tmp_path: Path) -> None:
    # Given a compiled artifact, then one module recompiled the default way (source mtime in the header)
    build = compiled(tmp_path)
    source = build / "DispatchApiFunction" / "shop" / "handler.py"
    subprocess.run([str(PY313), "-I", "-m", "py_compile", str(source)], check=True)

    # When / Then: timestamps do not survive SAM's zip; the check says what is wrong with it
    done = check(build)
    assert done.returncode == 1
    assert (
        "PROBLEM: DispatchApiFunction/shop/handler.py: __pycache__/handler.cpython-313.pyc is not "
        "hash-based and checked (flags 0b00, not 0b11)"
    ) in done.stderr


def test_another_pythons_hash_is_not_the_runtimes() -> None:
    # The source hash is keyed with the interpreter's magic number: the check computes it with 3.13
    code = "import importlib.util; print(importlib.util.source_hash(b'x = 1\\n').hex())"
    theirs = subprocess.run([str(PY313), "-I", "-c", code], capture_output=True, text=True, check=True)
    ours = importlib.util.source_hash(b"x = 1\n").hex()
    assert (theirs.stdout.strip() == ours) is (sys.version_info[:2] == (3, 13))


def test_lambdas_python_uses_the_bytecode_from_a_zip_with_no_dates(tmp_path: Path) -> None:
    # Given a compiled function zipped as SAM zips it (every entry dated 1980) and unpacked to a
    # read-only-like task root with those dates
    build = compiled(tmp_path)
    function = build / "DispatchApiFunction"
    package = tmp_path / "function.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in function.rglob("*") if p.is_file()):
            archive.writestr(zipfile.ZipInfo(path.relative_to(function).as_posix()), path.read_bytes())
    task = tmp_path / "task"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(task)
    nineteen_eighty = 315532800
    for path in task.rglob("*"):
        os.utime(path, (nineteen_eighty, nineteen_eighty))

    # When a module is imported there (no bytecode written, as on /var/task), verbose
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(task), "PYTHONDONTWRITEBYTECODE": "1"}
    script = "import shop.handler, single\nprint(shop.handler.handle([1, 2]))\nsingle.fail()"
    done = subprocess.run(
        [str(PY313), "-v", "-c", script], env=env, capture_output=True, text=True, check=False
    )

    # Then every module of ours came from its .pyc, none compiled from source
    assert done.stdout.strip() == "3"
    for relative in SOURCES:
        pyc = task / Path(relative).parent / "__pycache__" / f"{Path(relative).stem}.cpython-313.pyc"
        assert f"# code object from '{pyc}'" in done.stderr
    assert "bytecode is stale" not in done.stderr
    # And a traceback names the source where it is (the loader sets co_filename from the .py's path;
    # the /var/task name in the .pyc only keeps the build machine's paths out of the artifact)
    assert f'File "{task / "single.py"}", line 2, in fail' in done.stderr
