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
  listed in STUBS_REQUIRED_AT_RUNTIME, each of which a runtime requirement itself declares.

Standard library only: `python3 tools/check_build.py [BUILD_DIR]`.
"""

from __future__ import annotations

import io
import re
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


def main() -> int:
    build = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".aws-sam" / "build"
    directory = build / FUNCTION
    if not directory.is_dir():
        print(f"{directory}: no build (run `make build`)", file=sys.stderr)
        return 1
    problems: list[str] = []
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
    unzipped, zipped = size_mb(directory)

    print(f"artifact {directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory}")
    print(f"  requirements: {', '.join(f'{n}=={v}' for n, v in pinned.items())}")
    print(f"  boto3 {artifact.version('boto3')}, botocore {artifact.version('botocore')}")
    print(f"  compiled extensions: {extensions} (each must be AArch64)")
    for item in tolerated:
        print(f"  stubs a runtime requirement declares (kept): {item}")
    copies = f"one function of {1 + len(others)}, each a copy"
    print(f"  size: {unzipped:.1f} MB unzipped, {zipped:.1f} MB zipped ({copies})")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
