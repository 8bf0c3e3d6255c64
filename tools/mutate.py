"""Mutation testing of the decision code: does a spec fail when a decision is changed?

    python tools/mutate.py                      # every mutant (make mutate)
    python tools/mutate.py --sample 60 --seed 1 # a seeded sample, for a quick look
    python tools/mutate.py --list               # the mutants, without running them

One change at a time, made on the syntax tree of a copy of the tree (never on the working tree):
comparison swaps (``<`` to ``<=``, ``==`` to ``!=``, ``in`` to ``not in``...), ``True``/``False``
swapped, integer constants +1 and -1, ``return x`` to ``return None``, conditions negated (and
``not`` dropped), ``min``/``max`` and ``any``/``all`` swapped, one element dropped from a constant
set, tuple, list or dict, ``or``/``and`` swapped. The files: functions/dispatch_verify/logic/,
models.py (validators, bounds, defaults), the LiveKit error mapping in adapters/livekit.py
(``livekit_error``, ``dial_error``, ``network_error`` and the code sets they read) and what
ports/livekit.py says a job's status and a participant's attributes and states mean, and
recording.py (which step records an outcome, and how). Logging calls
are not mutated: what they say is not a decision.

Each mutant runs against the specs that executed the changed lines in a traced run of the suite
(tools/mutate_trace.py, per spec, so "coverage contexts"): fastest first, stopping at the first
failure. Lines that run only at import (a class body's ``Field`` bounds and defaults, module
constants) belong to no spec, and pydantic-core checks a bound without running a line of the file:
they run against every unit spec.
The specs that only compare docs/openapi.json with the code are left out (``DOCUMENT_SPECS``):
regenerating the document would silence them. A mutant is killed when a spec fails, the suite
cannot be collected, or the run exceeds its time limit; it survives when every spec passes.
Equivalent mutants (no spec could tell them apart from the code) are listed with a reason in
tools/mutation-equivalents.txt and left out of the score.

Why not a maintained tool: mutmut 3 skips functions with more than one decorator (every pydantic
validator here) and class-level ``Field`` bounds; cosmic-ray 8 has no min/max, any/all or
element-dropping operators and runs one test command for every mutant, not the specs that execute
the line; mutatest and mutpy are unmaintained (2022, 2019).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mutate_operators import Mutant, mutants_of

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutation-equivalents.txt"
CACHE = ROOT / ".cache" / "mutate"

LOGIC = "functions/dispatch_verify/logic"
MODELS = "functions/dispatch_verify/models.py"
LIVEKIT = "functions/dispatch_verify/adapters/livekit.py"
PORT = "functions/dispatch_verify/ports/livekit.py"
RECORDING = "functions/dispatch_verify/recording.py"  # the deciding step's record of the outcome
# adapters/livekit.py: only the error mapping (the rest is I/O, exercised against the simulator);
# ports/livekit.py: only what a job's and a participant's values mean (Job.ended, agent_names).
REGIONS: dict[str, tuple[str, ...] | None] = {
    LIVEKIT: ("livekit_error", "dial_error", "network_error", "_AUTH_CODES", "_INVALID_CODES"),
    PORT: ("Job", "Participant", "AGENT_NAME_ATTRIBUTES", "PRESENT_STATES"),
}
SPEC_PATHS = ("tests/unit", "tests/integration", "tests/statemachine")
UNIT_SPECS = "tests/unit/"  # the specs a line run only at import is tried against
BUDGET_S = 90.0  # a mutant's specs, fastest first, up to this much of their traced time
# Specs that compare docs/openapi.json with the code: they fail for any change of a bound, and
# `make openapi` silences them, so they do not count as killing a mutant.
DOCUMENT_SPECS = (
    "tests/unit/test_openapi.py::test_the_committed_openapi_document_is_what_the_code_generates",
    "tests/integration/test_api_schema.py",  # requests generated from docs/openapi.json
    "tests/statemachine/test_api_template.py::test_the_api_routes_are_the_documented_operations",
)


# -- the mutants ---------------------------------------------------------------------------------


def target_files(root: Path) -> list[str]:
    logic = sorted(str(p.relative_to(root)) for p in (root / LOGIC).glob("*.py") if p.name != "__init__.py")
    return [*logic, MODELS, LIVEKIT, PORT, RECORDING]


# -- equivalents ----------------------------------------------------------------------------------


def read_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``{mutant id: reason}``: one a line, ``<id>  # <reason>``; blank lines and ``#`` lines skipped."""
    found: dict[str, str] = {}
    if not path.exists():
        return found
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        mutant, sep, reason = line.partition("  # ")
        if not sep or not reason.strip():
            raise SystemExit(f"{path}:{number}: an equivalent needs a reason: '<id>  # <reason>'")
        found[mutant.strip()] = reason.strip()
    return found


# -- the copy of the tree --------------------------------------------------------------------------


def snapshot(dest: Path, *, worktree: bool, commit: str = "HEAD") -> str:
    """Lay the tree into ``dest``: ``commit``, or (``worktree``) the working files, tracked and
    untracked but not ignored. Returns what was copied, for the report."""
    head = _git("rev-parse", "--short", commit)
    if worktree:
        files = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        for name in filter(None, files):
            source = ROOT / name
            if source.is_file():
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        dirty = " with uncommitted changes" if _git("status", "--porcelain") else ""
        described = f"the working tree at {head}{dirty}"
    else:
        archive = subprocess.run(  # noqa: S603 - git on our own repository
            ["git", "archive", head],  # noqa: S607 - git from PATH, as make runs it
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        described = f"commit {head}"
    translated = ROOT / ".cache" / "sam-translate"  # SAM's translations, keyed by content: reused
    if translated.is_dir():
        shutil.copytree(translated, dest / ".cache" / "sam-translate", dirs_exist_ok=True)
    return described


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - git on our own repository
        ["git", *args],  # noqa: S607 - git from PATH, as make runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def tree_digest(copy_root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(copy_root.rglob("*")):
        if path.is_file() and ".cache" not in path.parts:
            digest.update(str(path.relative_to(copy_root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _environment(copy_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of the same size and second must not reuse a .pyc
    env["PYTHONPATH"] = os.pathsep.join([str(copy_root / "tools"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    sam = ROOT / ".venv-sam" / "bin" / "python"
    if sam.exists():
        env.setdefault("DISPATCH_VERIFY_SAM_PYTHON", str(sam))
    return env


# -- the traced run -------------------------------------------------------------------------------


@dataclass
class Trace:
    """Per spec: the target lines it executed, its duration, and whether it passed unmutated."""

    lines: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # spec -> path -> lines
    duration: dict[str, float] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def specs_for(self, mutant: Mutant, budget_s: float) -> tuple[list[str], bool, bool]:
        """The passing specs that executed the mutant's lines, fastest first; else (lines run only at
        import: a class body's bounds and defaults) every unit spec.
        Cut where their traced time passes ``budget_s``. Also says whether they were found by line and
        whether the list was cut."""
        span = set(range(mutant.line, mutant.end_line + 1))
        found = [s for s, by_path in self.lines.items() if span & by_path.get(mutant.path, set())]
        by_line = bool(found)
        if not found:
            # pydantic-core checks a Field's bounds: no line of the file runs, so every unit spec counts
            found = [s for s in self.lines if s.startswith(UNIT_SPECS)]
        ordered = sorted(
            (s for s in found if s not in self.failing), key=lambda s: (self.duration.get(s, 0.0), s)
        )
        kept: list[str] = []
        spent = 0.0
        for spec in ordered:
            spent += self.duration.get(spec, 0.0)
            if kept and spent > budget_s:
                return kept, by_line, True
            kept.append(spec)
        return kept, by_line, False


def traced_run(copy_root: Path, files: list[str], jobs: int) -> Trace:
    out = copy_root / ".cache" / "mutate-trace"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = _environment(copy_root)
    env["MUTATE_TRACE_FILES"] = os.pathsep.join(str(copy_root / f) for f in files)
    env["MUTATE_TRACE_OUT"] = str(out)
    command = [sys.executable, "-m", "pytest", "-p", "mutate_trace", "-q", "-p", "no:cacheprovider"]
    command += ["-n", str(jobs)] if jobs > 1 else []
    command += [*_exclusions(), *SPEC_PATHS]
    started = time.monotonic()
    completed = subprocess.run(  # noqa: S603 - pytest on the copy, our own arguments
        command, cwd=copy_root, env=env, capture_output=True, text=True, check=False
    )
    tail = completed.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"traced run: {tail[0]} ({time.monotonic() - started:.0f} s)", flush=True)
    trace = Trace()
    for part in out.glob("trace-*.json"):
        for spec, entry in json.loads(part.read_text()).items():
            by_path: dict[str, set[int]] = {}
            for path, lines in entry.get("lines", {}).items():
                by_path[str(Path(path).relative_to(copy_root))] = set(lines)
            trace.lines[spec] = by_path
            trace.duration[spec] = entry.get("duration", 0.0)
            if not entry.get("passed", True):
                trace.failing.add(spec)
    if not trace.lines:
        raise SystemExit(
            f"the traced run recorded nothing:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return trace


def _exclusions() -> list[str]:
    args: list[str] = []
    for spec in DOCUMENT_SPECS:
        args += ["--deselect", spec] if "::" in spec else ["--ignore", spec]
    return args


def _save(trace: Trace, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "lines": {s: {p: sorted(ls) for p, ls in by.items()} for s, by in trace.lines.items()},
        "duration": trace.duration,
        "failing": sorted(trace.failing),
    }
    path.write_text(json.dumps(document))


def _load(path: Path) -> Trace:
    document = json.loads(path.read_text())
    return Trace(
        lines={s: {p: set(ls) for p, ls in by.items()} for s, by in document["lines"].items()},
        duration=document["duration"],
        failing=set(document["failing"]),
    )


# -- running the mutants ---------------------------------------------------------------------------


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed, survived, timeout, no_specs, error
    specs: int
    seconds: float
    by_line: bool
    killer: str = ""
    cut: bool = False  # its specs were cut at the budget


class ForkServer:
    """tools/mutate_server.py running in one copy of the tree: pytest's start-up paid once."""

    def __init__(self, copy_root: Path) -> None:
        self.root = copy_root
        self.process = subprocess.Popen(  # noqa: S603 - our own server, in the copy
            [sys.executable, str(Path(__file__).with_name("mutate_server.py"))],
            cwd=copy_root,
            env=_environment(copy_root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def pytest(self, args: list[str], timeout: float) -> tuple[int, bool, str]:
        """Exit status, whether it timed out, and its output."""
        out = self.root.parent / f"{self.root.name}-out.txt"
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"args": args, "out": str(out), "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        return answer["rc"], answer["timed_out"], out.read_text(errors="replace")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def run_mutant(server: ForkServer, mutant: Mutant, specs: list[str], by_line: bool, trace: Trace) -> Result:
    if not specs:
        return Result(mutant, "no_specs", 0, 0.0, by_line)
    copy_root = server.root
    target = copy_root / mutant.path
    original = target.read_bytes()
    args = copy_root.parent / f"{copy_root.name}-specs.txt"  # pytest reads @file: one spec a line
    args.write_text("\n".join(specs) + "\n")
    limit = 60 + 3 * sum(trace.duration.get(s, 1.0) for s in specs)
    command = [
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-o",
        "addopts=",
        "-p",
        "no:xdist",
        f"@{args}",
    ]
    started = time.monotonic()
    try:
        target.write_bytes(mutant.apply(original))
        returncode, timed_out, output = server.pytest(command, limit)
    finally:
        target.write_bytes(original)
        args.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    if timed_out:
        return Result(mutant, "timeout", len(specs), seconds, by_line)
    if returncode == 0:
        return Result(mutant, "survived", len(specs), seconds, by_line)
    broken_import = returncode == 4 and "found no collectors" in output  # its module failed to import
    if returncode in (1, 2) or broken_import:  # a spec failed, or the mutant broke an import
        killer = next((line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
        return Result(mutant, "killed", len(specs), seconds, by_line, killer)
    return Result(
        mutant, "error", len(specs), seconds, by_line, f"exit {returncode}: {output.strip()[-400:]}"
    )


def _check_applies(root: Path, mutants: list[Mutant]) -> None:
    """Every mutant must still parse: a replacement that breaks the syntax is a bug of this tool."""
    sources = {m.path: (root / m.path).read_bytes() for m in mutants}
    for mutant in mutants:
        try:
            ast.parse(mutant.apply(sources[mutant.path]))
        except SyntaxError as exc:
            raise SystemExit(f"{mutant.id}: the mutant does not parse ({exc})") from None


# -- the report -----------------------------------------------------------------------------------


def report(
    results: list[Result], equivalents: dict[str, str], described: str, seconds: float, sampled: str
) -> int:
    per_file: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        per_file[result.mutant.path].append(result)
    print(f"\nmutation testing of {described}{sampled}: {len(results)} mutants in {seconds / 60:.1f} min\n")
    header = f"{'file':<52} {'mutants':>7} {'equiv':>5} {'killed':>6} {'surv':>5} {'score':>7}"
    print(header)
    print("-" * len(header))
    total_killed = total_scored = total_equivalent = 0
    for path in sorted(per_file):
        rows = per_file[path]
        equivalent = [r for r in rows if r.mutant.id in equivalents]
        scored = [r for r in rows if r.mutant.id not in equivalents]
        killed = sum(r.status in ("killed", "timeout") for r in scored)
        survived = len(scored) - killed
        total_killed, total_scored = total_killed + killed, total_scored + len(scored)
        total_equivalent += len(equivalent)
        score = f"{100 * killed / len(scored):.1f}%" if scored else "-"
        print(f"{path:<52} {len(rows):>7} {len(equivalent):>5} {killed:>6} {survived:>5} {score:>7}")
    print("-" * len(header))
    total_score = 100 * total_killed / total_scored if total_scored else 100.0
    print(
        f"{'total':<52} {len(results):>7} {total_equivalent:>5} {total_killed:>6} "
        f"{total_scored - total_killed:>5} {total_score:>6.1f}%"
    )
    survivors = [
        r for r in results if r.status not in ("killed", "timeout") and r.mutant.id not in equivalents
    ]
    if survivors:
        print(f"\nsurvivors ({len(survivors)}):")
        for r in survivors:
            how = "" if r.by_line else ", run at import: every unit spec"
            how += ", cut at the budget" if r.cut else ""
            note = f" [{r.status}]" if r.status != "survived" else ""
            print(f"  {r.mutant.id}{note}  ({r.specs} specs{how})")
    cut = [r for r in results if r.cut]
    cut_killed = sum(r.status in ("killed", "timeout") for r in cut)
    print(f"\nmutants whose specs were cut at the budget: {len(cut)} ({cut_killed} killed all the same)")
    print(f"mutants of lines run only at import (every unit spec): {sum(not r.by_line for r in results)}")
    seen_ids = {r.mutant.id for r in results}
    matched = [m for m in equivalents if m in seen_ids]
    print(f"\nequivalent mutants excluded: {len(matched)} (tools/mutation-equivalents.txt)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sample", type=int, help="run N mutants drawn at random (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--worktree", action="store_true", help="mutate the working files, not a commit")
    parser.add_argument("--commit", default="HEAD", help="the commit to mutate (default HEAD)")
    parser.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds of specs a mutant runs against ({BUDGET_S:g})",
    )
    parser.add_argument("--files", nargs="*", help="only these files (paths as in the report)")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--ids", type=Path, help="only the mutants whose ids this file lists, one a line")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--trace", type=Path, help="reuse this traced run (a file in .cache/mutate/)")
    options = parser.parse_args(argv)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="mutate-"))
    try:
        copies = [workdir / f"tree-{i}" for i in range(max(1, options.jobs))]
        described = snapshot(copies[0], worktree=options.worktree, commit=options.commit)
        files = target_files(copies[0])
        if options.files:
            files = [f for f in files if f in options.files]
        mutants = [m for f in files for m in mutants_of(f, (copies[0] / f).read_text(), REGIONS.get(f))]
        _check_applies(copies[0], mutants)
        equivalents = read_equivalents()
        stale = sorted(set(equivalents) - {m.id for m in mutants}) if not options.files else []
        sampled = ""
        if options.sample and options.sample < len(mutants):
            sampled = f" (a sample of {options.sample} of {len(mutants)} mutants, seed {options.seed})"
            mutants = sorted(random.Random(options.seed).sample(mutants, options.sample), key=lambda m: m.id)
        if options.ids:
            wanted = {line.strip() for line in options.ids.read_text().splitlines() if line.strip()}
            mutants = [m for m in mutants if m.id in wanted]
            sampled += f" (the {len(mutants)} mutants listed in {options.ids.name})"
        if options.list:
            for mutant in mutants:
                mark = "  [equivalent]" if mutant.id in equivalents else ""
                print(f"{mutant.id}: {mutant.replacement}{mark}")
            print(f"{len(mutants)} mutants")
            return 0
        for extra in copies[1:]:
            shutil.copytree(copies[0], extra)
        digest = tree_digest(copies[0])
        cached = options.trace or CACHE / f"trace-{digest}.json"
        if cached.exists():
            trace = _load(cached)
            print(f"traced run: reused {cached}", flush=True)
        else:
            trace = traced_run(copies[0], target_files(copies[0]), options.jobs)
            _save(trace, cached)
        if trace.failing:
            print(f"specs failing unmutated, left out: {len(trace.failing)}", flush=True)
        to_run = [m for m in mutants if m.id not in equivalents]
        results = [Result(m, "equivalent", 0, 0.0, True) for m in mutants if m.id in equivalents]
        servers = [ForkServer(tree) for tree in copies]
        free = list(servers)
        done = 0

        def one(mutant: Mutant) -> Result:
            server = free.pop()
            try:
                specs, by_line, cut = trace.specs_for(mutant, options.budget)
                result = run_mutant(server, mutant, specs, by_line, trace)
                result.cut = cut
                return result
            finally:
                free.append(server)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(copies)) as pool:
            for result in pool.map(one, to_run):
                done += 1
                results.append(result)
                if result.status != "killed":
                    detail = f"\n    {result.killer}" if result.status == "error" else ""
                    print(f"[{done}/{len(to_run)}] {result.status}: {result.mutant.id}{detail}", flush=True)
                elif done % 25 == 0:
                    print(f"[{done}/{len(to_run)}] ...", flush=True)
        for server in servers:
            server.close()
        if options.json:
            options.json.write_text(
                json.dumps(
                    [
                        {
                            "id": r.mutant.id,
                            "status": r.status,
                            "specs": r.specs,
                            "seconds": round(r.seconds, 2),
                        }
                        for r in results
                    ],
                    indent=1,
                )
            )
        for entry in stale:
            print(f"tools/mutation-equivalents.txt: no such mutant (the code moved?): {entry}")
        return report(results, equivalents, described, time.monotonic() - started, sampled)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
