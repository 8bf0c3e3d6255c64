"""Check what `sam build` made (.aws-sam/build/) before it is deployed; print the artifact's size.

Every function has CodeUri functions/, so SAM builds the package once and copies it to one directory
per function. This script checks one of them (the API function's) and that the others hold the same
files:

* every requirement of functions/requirements.txt at its pinned version, and the packages its extras
  bring (aws-lambda-powertools[tracer,parser]);
* boto3 and botocore exactly as pinned, and botocore inside the range that boto3 requires (the
  artifact's SDK shadows the runtime's: it must be the one the tests run);
* every compiled extension built for arm64 (ELF machine AArch64), as the template's Architectures;
* no type stubs: no ``*-stubs`` package, no ``mypy_boto3*``, no ``types-*`` distribution, except those
  listed in STUBS_REQUIRED_AT_RUNTIME, each of which a runtime requirement itself declares;
* in every function directory, every .py beside its ``__pycache__/<stem>.cpython-313.pyc`` as
  tools/compile_build.py makes them: the runtime's magic number, hash-based and checked (PEP 552 flags
  0b11), the hash of the .py shipped (a .pyc of other source is stale: Lambda would compile the module
  at every cold start), and the source named /var/task/... as Lambda unpacks it. The hash is keyed with
  the interpreter's magic number (3.11's ``importlib.util.source_hash`` of the same bytes is not
  3.13's), so it is computed by the runtime's Python: ``--python`` (default: this one if it is 3.13,
  else pyenv's newest 3.13, else python3.13 on PATH, as the Makefile finds it).

Standard library only: `python3 tools/check_build.py [--python PY313] [--only-bytecode] [BUILD_DIR]`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "functions" / "requirements.txt"
FUNCTION = "DispatchApiFunction"
AARCH64 = 183  # ELF e_machine
# Stub distributions that a runtime requirement pulls in, and which distribution declares them: pip
# installs what a package requires, and `sam build` has no way to leave one out.
STUBS_REQUIRED_AT_RUNTIME = {
    "types-protobuf": {"livekit-api", "livekit-protocol"},  # both list it in Requires-Dist
    "wrapt": {"aws-xray-sdk"},  # wrapt's own wheel carries wrapt-stubs/ beside wrapt/
}
RUNTIME = (3, 13)  # the template's Runtime: python3.13
TASK_ROOT = "/var/task"
HASH_BASED_CHECKED = 0b11  # PEP 552: bit 0 hash-based, bit 1 check_source
# Run by the runtime's Python with the sources' paths on stdin: what it makes of each .py and its .pyc
# (its magic number and cache tag, the source's hash keyed as it keys it, the .pyc's 16-byte header and
# the file name inside). The comparisons are check_bytecode's.
_BYTECODE_READER = """\
import importlib.util, json, marshal, sys
files = []
for source in json.load(sys.stdin):
    with open(source, "rb") as handle:
        digest = importlib.util.source_hash(handle.read()).hex()
    pyc = importlib.util.cache_from_source(source)
    try:
        with open(pyc, "rb") as handle:
            compiled = handle.read()
    except FileNotFoundError:
        files.append([digest, None, None])
        continue
    name = None
    if compiled[:4] == importlib.util.MAGIC_NUMBER:
        try:
            name = marshal.loads(compiled[16:]).co_filename
        except (EOFError, ValueError, TypeError):
            pass
    files.append([digest, compiled[:16].hex(), name])
magic, tag = importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag
json.dump({"magic": magic, "tag": tag, "files": files}, sys.stdout)
"""
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(?:\[(?P<extras>[^\]]+)\])?==(?P<version>\S+)$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    """The distribution a ``Requires-Dist`` line names, normalized."""
    return normalize(re.split(r"[\s(<>=!~\[;]", spec.strip(), maxsplit=1)[0])


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


class Artifact:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.metadata = {}
        self.owner: dict[str, str] = {}  # top-level name -> distribution
        for info in directory.glob("*.dist-info"):
            meta = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
            name = normalize(meta["Name"])
            self.metadata[name] = meta
            record = info / "RECORD"
            if record.exists():
                for line in record.read_text(encoding="utf-8").splitlines():
                    top = line.split(",", 1)[0].split("/", 1)[0]
                    self.owner.setdefault(top, name)

    def version(self, name: str) -> str | None:
        meta = self.metadata.get(normalize(name))
        return None if meta is None else str(meta["Version"])

    def requires(self, name: str) -> list[str]:
        meta = self.metadata.get(normalize(name))
        return [] if meta is None else list(meta.get_all("Requires-Dist") or [])


def requirement_lines() -> list[re.Match[str]]:
    found = []
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = REQUIREMENT.match(line)
        if match is None:
            raise SystemExit(f"functions/requirements.txt: not pinned as name==version: {line!r}")
        found.append(match)
    return found


def check_requirements(artifact: Artifact, problems: list[str]) -> dict[str, str]:
    pinned = {}
    for req in requirement_lines():
        name, wanted = req["name"], req["version"]
        pinned[normalize(name)] = wanted
        have = artifact.version(name)
        if have != wanted:
            problems.append(f"{name}: requirements.txt pins {wanted}, the artifact has {have or 'nothing'}")
        for extra in (req["extras"] or "").split(","):
            extra = extra.strip()
            for line in artifact.requires(name):
                spec, _, marker = line.partition(";")
                if re.search(rf"extra\s*==\s*['\"]{re.escape(extra)}['\"]", marker):
                    dependency = requirement_name(spec)
                    if extra and artifact.version(dependency) is None:
                        problems.append(f"{name}[{extra}] requires {dependency}: not in the artifact")
    return pinned


def check_sdk(artifact: Artifact, pinned: dict[str, str], problems: list[str]) -> None:
    for name in ("boto3", "botocore"):
        if name not in pinned:
            problems.append(f"{name} is not pinned in functions/requirements.txt")
    botocore = artifact.version("botocore")
    for line in artifact.requires("boto3"):
        spec = line.split(";", 1)[0]
        if re.match(r"botocore\s*[(<>=]", spec) and botocore:
            for op, bound in re.findall(r"(>=|<=|==|<|>)\s*([0-9][0-9.a-z]*)", spec):
                have, limit = version_tuple(botocore), version_tuple(bound)
                ok = {
                    ">=": have >= limit,
                    "<=": have <= limit,
                    "==": have == limit,
                    "<": have < limit,
                    ">": have > limit,
                }[op]
                if not ok:
                    problems.append(f"botocore {botocore} is outside boto3's range ({spec.strip()})")


def check_architecture(directory: Path, problems: list[str]) -> int:
    extensions = [p for p in directory.rglob("*.so*") if p.is_file()]
    for path in extensions:
        header = path.read_bytes()[:20]
        if header[:4] != b"\x7fELF":
            continue
        machine = int.from_bytes(header[18:20], "little")
        if machine != AARCH64:
            problems.append(f"{path.relative_to(directory)}: ELF machine {machine}, not AArch64")
    if not extensions:
        problems.append("no compiled extension at all (pydantic_core should have one)")
    return len(extensions)


def check_no_stubs(artifact: Artifact, problems: list[str]) -> list[str]:
    tolerated = []
    for entry in sorted(p.name for p in artifact.directory.iterdir()):
        stub = entry.endswith("-stubs") or entry.startswith("mypy_boto3")
        if entry.endswith(".dist-info"):
            dist = normalize(entry.rsplit("-", 1)[0])
            stub = dist.startswith(("types-", "mypy-boto3")) or dist.endswith("-stubs")
        if not stub:
            continue
        unowned = normalize(entry.rsplit("-", 1)[0] if entry.endswith(".dist-info") else entry)
        dist = artifact.owner.get(entry, unowned)
        declared_by = {
            name
            for name in STUBS_REQUIRED_AT_RUNTIME.get(dist, set())
            if any(requirement_name(r) == dist for r in artifact.requires(name))
        }
        if declared_by:
            tolerated.append(f"{entry} ({dist}, required by {', '.join(sorted(declared_by))})")
        else:
            problems.append(f"type stubs in the artifact: {entry} ({dist})")
    return tolerated


def size_mb(directory: Path) -> tuple[float, float]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(directory))
    return unzipped / 1e6, len(buffer.getvalue()) / 1e6


def find_python313() -> str | None:
    """The runtime's Python as the Makefile finds it: this one if it is 3.13, else pyenv's newest 3.13,
    else python3.13 on PATH."""
    if sys.version_info[:2] == RUNTIME:
        return sys.executable
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = sorted(
        Path(root).glob("versions/3.13*/bin/python3.13"),
        key=lambda p: version_tuple(p.parent.parent.name),
    )
    return str(found[-1]) if found else shutil.which("python3.13")


def check_bytecode(directories: list[Path], python: str, problems: list[str]) -> dict[str, object]:
    """Every .py of ``directories`` has its up-to-date, checked hash-based .pyc of ``python``'s
    version, naming the source as /var/task/... (each directory is a function's /var/task)."""
    sources = [(directory, path) for directory in directories for path in sorted(directory.rglob("*.py"))]
    done = subprocess.run(  # noqa: S603 - the runtime's interpreter, a fixed script
        [python, "-I", "-c", _BYTECODE_READER],
        input=json.dumps([str(path.resolve()) for _, path in sources]),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        problems.append(f"{python} could not read the bytecode: {done.stderr.strip()[-2000:]}")
        return {"sources": len(sources), "tag": "?", "pyc_mb": 0.0}
    read = json.loads(done.stdout)
    magic, tag = bytes.fromhex(read["magic"]), read["tag"]
    bad: list[str] = []
    for (directory, path), (digest, header_hex, name) in zip(sources, read["files"], strict=True):
        where = f"{directory.name}/{path.relative_to(directory).as_posix()}"
        pyc = f"__pycache__/{path.stem}.{tag}.pyc"
        if header_hex is None:
            bad.append(f"{where}: no {pyc}")
            continue
        header = bytes.fromhex(header_hex)
        flags = int.from_bytes(header[4:8], "little")
        expected_name = f"{TASK_ROOT}/{path.relative_to(directory).as_posix()}"
        if header[:4] != magic:
            bad.append(f"{where}: {pyc} has magic number {header[:4].hex()}, not {tag}'s {magic.hex()}")
        elif flags != HASH_BASED_CHECKED:
            bad.append(f"{where}: {pyc} is not hash-based and checked (flags {flags:#04b}, not 0b11)")
        elif header[8:16].hex() != digest:
            bad.append(
                f"{where}: {pyc} is stale (made from other source: hash {header[8:16].hex()}, not {digest})"
            )
        elif name != expected_name:
            bad.append(f"{where}: {pyc} names its source {name!r}, not {expected_name!r}")
    shown = 20
    problems.extend(bad[:shown])
    if len(bad) > shown:
        problems.append(f"... and {len(bad) - shown} more .py without an up-to-date {tag} .pyc")
    pyc_bytes = sum(p.stat().st_size for d in directories[:1] for p in d.rglob(f"__pycache__/*.{tag}.pyc"))
    return {"sources": len(sources), "tag": tag, "pyc_mb": pyc_bytes / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/check_build.py", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("build", nargs="?", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--python", default=None, help="the runtime's Python, python3.13 (default: found)")
    parser.add_argument(
        "--only-bytecode", action="store_true", help="check the function directories' bytecode only"
    )
    args = parser.parse_args(argv)
    build: Path = args.build
    python = args.python or find_python313()
    functions = (
        sorted(d for d in build.iterdir() if d.is_dir() and d.name.endswith("Function"))
        if build.is_dir()
        else []
    )
    if args.only_bytecode:
        if not functions or python is None:
            print(
                f"{build}: no *Function directory" if not functions else "no python3.13 (--python)",
                file=sys.stderr,
            )
            return 1
        problems: list[str] = []
        bytecode = check_bytecode(functions, python, problems)
        print(f"bytecode: {bytecode['sources']} .py in {len(functions)} function directories of {build}")
        for problem in problems:
            print(f"PROBLEM: {problem}", file=sys.stderr)
        return 1 if problems else 0
    directory = build / FUNCTION
    if not directory.is_dir():
        print(f"{directory}: no build (run `make build`)", file=sys.stderr)
        return 1
    problems = []
    artifact = Artifact(directory)
    pinned = check_requirements(artifact, problems)
    check_sdk(artifact, pinned, problems)
    extensions = check_architecture(directory, problems)
    tolerated = check_no_stubs(artifact, problems)
    listing = sorted(p.name for p in directory.iterdir())
    others = [d for d in build.iterdir() if d.is_dir() and d.name.endswith("Function") and d != directory]
    for other in others:
        if sorted(p.name for p in other.iterdir()) != listing:
            problems.append(f"{other.name} does not hold the same packages as {FUNCTION}")
    if python is None:
        problems.append("no python3.13 to check the bytecode with (--python /path/to/python3.13)")
        bytecode: dict[str, object] = {"sources": 0, "tag": "?", "pyc_mb": 0.0}
    else:
        bytecode = check_bytecode([directory, *others], python, problems)
    unzipped, zipped = size_mb(directory)

    print(f"artifact {directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory}")
    print(f"  requirements: {', '.join(f'{n}=={v}' for n, v in pinned.items())}")
    print(f"  boto3 {artifact.version('boto3')}, botocore {artifact.version('botocore')}")
    print(f"  compiled extensions: {extensions} (each must be AArch64)")
    for item in tolerated:
        print(f"  stubs a runtime requirement declares (kept): {item}")
    print(
        f"  bytecode: {bytecode['sources']} .py in {1 + len(others)} functions checked for an up-to-date "
        f"hash-based {bytecode['tag']} .pyc ({float(bytecode['pyc_mb']):.1f} MB of .pyc per function)"
    )
    copies = f"one function of {1 + len(others)}, each a copy"
    print(f"  size: {unzipped:.1f} MB unzipped, {zipped:.1f} MB zipped ({copies})")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
