"""Lambda start-up, measured: each handler's cold import against ``import livekit.api``, request ->
CreateDispatch cold and warm, and the warm per-call LiveKit overhead.

Cold import: each handler module of template.yaml, and ``livekit.api`` as the yardstick, imported in
fresh Python processes, each handler right after a fresh ``livekit.api``, round by round, so the
machine's load falls on all alike (``PYTHONPATH=functions``; the environment the template and the
Lambda runtime give the function, ``LAMBDA_TASK_ROOT`` included, so Powertools decides on tracing as
it does when deployed), timed with ``time.perf_counter`` and ``time.process_time`` around
``importlib.import_module``; the median of ``--cold-runs`` processes per handler.
Each process has the bytecode the deployed artifact has (``bench.bytecode``), yardstick and handlers
alike: PRECOMPILED, as `make build` ships it (dependencies and functions/ as checked hash-based .pyc);
then, for the absolute gain, ``--no-bytecode-runs`` rounds of NO_BYTECODE, as plain `sam build`
shipped it (every module of the zip compiled at each cold start).
Each handler's ratio to ``livekit.api``'s median of the same run is checked against issue 14's target
(1.5x), on the PRECOMPILED figures, on wall time and on the process's CPU time (on a shared machine
the wall time also holds waits for other work; the CPU time is the import's own work).
``python -X importtime`` on the handler with the worst ratio gives its five biggest top-level imports.

Request -> CreateDispatch: see ``bench/cold_path.py`` (the API and each Lambda state up to "Dispatch
agent", each in a fresh process against moto and the LiveKit simulator over HTTP; a cold start is
charged its import and its first call, a warm one its handler call).

Warm: a ``LiveKitSimulator`` on real time serves HTTP on 127.0.0.1; one room holds an agent. Each
warm invocation is one ``ListParticipants`` through ``dispatch_verify.adapters.livekit``, three ways,
interleaved call by call: a new ``LiveKitClient`` (a new ``LiveKitAPI`` and aiohttp session) opened
and closed per call; one ``LiveKitClient`` created once and reused; and ``livekit.connect`` as the
handlers call it. Wall time with ``time.perf_counter``.

    python -m bench.startup [--cold-runs R] [--no-bytecode-runs R] [--handler NAME ...]
                            [--env NAME=VALUE ...] [--chain-runs N] [--chain-warm K] [--no-chain]
                            [--calls N] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jwt.warnings import InsecureKeyLengthWarning
from pydantic import SecretStr

from bench import bytecode, cold_path, stack_view
from bench.common import percentile, write_report
from clocks import RealClock
from livekit_sim import LiveKitSimulator

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "livekit.api"  # the yardstick: what talking to LiveKit costs any Python function
TARGET_RATIO = 1.5  # issue 14: every handler's cold import at most 1.5x the yardstick's
# Wall time, and this process's CPU time: on a shared machine the wall time also holds the waits for
# other work's processes, the CPU time only the import's own work.
_TIMED_IMPORT = (
    "import importlib, sys, time\n"
    "started, cpu = time.perf_counter(), time.process_time()\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(time.perf_counter() - started, time.process_time() - cpu)\n"
)
WARM_VARIANTS = ("new client per call", "one client reused", "livekit.connect")
SERVERS = ("Nagle on (before)", "as shipped")
ROOM, AGENT = "bench-startup", "bench-agent"


def handlers() -> dict[str, stack_view.Function]:
    """The template's Python functions by handler module name ("dispatch_agent")."""
    return {function.short: function for function in stack_view.functions(stack_view.load_template())}


def lambda_env(
    function: stack_view.Function | None,
    overrides: dict[str, str] | None = None,
    bytecode_mode: str = bytecode.PRECOMPILED,
) -> dict[str, str]:
    """A deployed function's environment (template and runtime, stand-ins for resource names) over
    this process's (AWS and Powertools settings removed), with ``bytecode_mode``'s bytecode, then
    ``overrides``. ``None``: the first function's, for the yardstick."""
    template = stack_view.load_template()
    function = function or stack_view.functions(template)[0]
    env = cold_path.environment_base(bytecode_mode)
    env.update(stack_view.function_environment(template, function.logical_id))
    env.update(overrides or {})
    return env


def cold_imports(
    functions: list[stack_view.Function],
    runs: int,
    overrides: dict[str, str],
    bytecode_mode: str = bytecode.PRECOMPILED,
) -> list[dict[str, Any]]:
    """Seconds to import the yardstick and each handler module in fresh processes: ``runs`` rounds,
    each importing every handler right after a fresh import of the yardstick, so the yardstick's
    median spans the whole run's load and each handler's samples sit beside some of it. The first
    row is the yardstick's; each row's ratios are its medians over the yardstick's (wall, CPU).
    Every process has ``bytecode_mode``'s bytecode."""
    wall: dict[str, list[float]] = {BASELINE: [], **{f.module: [] for f in functions}}
    cpu: dict[str, list[float]] = {module: [] for module in wall}
    for _ in range(runs):
        for function in functions:
            for module in (BASELINE, function.module):
                done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script and a module name
                    [sys.executable, "-c", _TIMED_IMPORT, module],
                    env=lambda_env(function, overrides, bytecode_mode),
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall_s, cpu_s = done.stdout.strip().splitlines()[-1].split()
                wall[module].append(float(wall_s))
                cpu[module].append(float(cpu_s))
    base_wall, base_cpu = statistics.median(wall[BASELINE]), statistics.median(cpu[BASELINE])
    rows = []
    for module, function in [(BASELINE, None), *((f.module, f) for f in functions)]:
        median, cpu_median = statistics.median(wall[module]), statistics.median(cpu[module])
        rows.append(
            {
                "handler": function.short if function else BASELINE,
                "module": module,
                "runs": len(wall[module]),
                "median_s": round(median, 4),
                "min_s": round(min(wall[module]), 4),
                "max_s": round(max(wall[module]), 4),
                "cpu_median_s": round(cpu_median, 4),
                "ratio": round(median / base_wall, 2),
                "cpu_ratio": round(cpu_median / base_cpu, 2),
            }
        )
    return rows


def biggest_imports(
    function: stack_view.Function, overrides: dict[str, str], top: int = 5
) -> list[dict[str, Any]]:
    """``python -X importtime``: the ``top`` packages (other than dispatch_verify) by cumulative time.

    A package's figure is its largest cumulative entry, i.e. where it was first imported, including
    whatever it imported first itself: the figures overlap and do not add up.
    """
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script and a handler name
        [sys.executable, "-X", "importtime", "-c", f"import {function.module}"],
        env=lambda_env(function, overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|", 2)
        package = name.strip().split(".")[0]
        if package not in ("dispatch_verify", "site", "encodings"):
            by_package[package] = max(by_package.get(package, 0), int(cumulative))
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return [{"package": package, "cumulative_s": round(us / 1e6, 4)} for package, us in ranked]


def _with_nagle(sim: LiveKitSimulator) -> None:
    """This simulator only: its connections keep Nagle's algorithm, as the simulator did before
    ``disable_nagle_algorithm``. Its handler writes a response's headers and its body in two sends; on
    a kept-alive connection the second then waits for the client's delayed ACK, about 40 ms. Only the
    running server object is changed.
    """
    server = sim._server  # the benchmark's own simulator
    assert server is not None
    base = server.RequestHandlerClass
    server.RequestHandlerClass = type("NagleHandler", (base,), {"disable_nagle_algorithm": False})


def warm_calls(calls: int, *, nagle: bool) -> list[dict[str, Any]]:
    """Per-call wall time of a warm invocation's ListParticipants, three ways, interleaved."""
    from dispatch_verify.adapters import livekit
    from dispatch_verify.config import LiveKitCredentials

    server = SERVERS[0] if nagle else SERVERS[1]
    times: dict[str, list[float]] = {variant: [] for variant in WARM_VARIANTS}
    first_s: dict[str, float] = {}
    with LiveKitSimulator(RealClock()) as sim:
        if nagle:
            _with_nagle(sim)
        credentials = LiveKitCredentials(
            url=sim.url or "", api_key=sim.api_key, api_secret=SecretStr(sim.api_secret)
        )
        sim.add_participant(ROOM, "agent-1", kind="AGENT", attributes={"lk.agent.name": AGENT})
        created = time.perf_counter()
        reused = livekit.LiveKitClient(credentials)  # a warm Lambda's client, made at its first call

        def new_client_per_call() -> int:
            client = livekit.LiveKitClient(credentials)
            try:
                return len(client.list_participants(ROOM))
            finally:
                client.close()

        def one_client_reused() -> int:
            return len(reused.list_participants(ROOM))

        def through_connect() -> int:
            with livekit.connect(credentials) as port:
                return len(port.list_participants(ROOM))

        run = {
            "new client per call": new_client_per_call,
            "one client reused": one_client_reused,
            "livekit.connect": through_connect,
        }
        try:
            for variant in WARM_VARIANTS:  # the first call of each (the reused one: with its creation)
                started = created if variant == "one client reused" else time.perf_counter()
                found = run[variant]()
                first_s[variant] = time.perf_counter() - started
                if found != 1:
                    raise RuntimeError(f"{variant}: {found} participants, expected 1")
            for _ in range(calls):
                for variant in WARM_VARIANTS:
                    started = time.perf_counter()
                    found = run[variant]()
                    times[variant].append(time.perf_counter() - started)
                    if found != 1:
                        raise RuntimeError(f"{variant}: {found} participants, expected 1")
        finally:
            reused.close()
    return [
        {
            "server": server,
            "variant": variant,
            "calls": len(times[variant]),
            "median_ms": round(statistics.median(times[variant]) * 1000, 3),
            "p95_ms": round(percentile(times[variant], 0.95) * 1000, 3),
            "mean_ms": round(statistics.fmean(times[variant]) * 1000, 3),
            "first_call_ms": round(first_s[variant] * 1000, 3),
        }
        for variant in WARM_VARIANTS
    ]


def ratio(rows: list[dict[str, Any]], server: str) -> float:
    """Median per call, a new client each call over one client reused (above 1: reuse is faster)."""
    by_variant = {row["variant"]: row for row in rows if row["server"] == server}
    return float(
        by_variant["new client per call"]["median_ms"] / by_variant["one client reused"]["median_ms"]
    )


def traced(function: stack_view.Function, overrides: dict[str, str]) -> bool:
    """Whether the handlers trace (Powertools' Tracer, X-Ray patching) in this environment, asked of
    dispatch_verify.observability in a process with it."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dispatch_verify import observability as o; print(o.tracer.powertools is not None)",
        ],
        env=lambda_env(function, overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1] == "True"


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n\n")[0]
    known = handlers()
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=summary)
    parser.add_argument("--calls", type=int, default=30, help="warm calls per variant (default 30)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per handler (default 5)")
    parser.add_argument(
        "--no-bytecode-runs",
        type=int,
        default=3,
        help="fresh processes per handler with no bytecode, as plain `sam build` ships (default 3; 0: none)",
    )
    parser.add_argument(
        "--handler", action="append", choices=sorted(known), help="cold-import only this one (repeatable)"
    )
    parser.add_argument(
        "--env",
        action="append",
        type=_setting,
        default=[],
        metavar="NAME=VALUE",
        help="set in every function's environment over the template's (a what-if; repeatable)",
    )
    parser.add_argument(
        "--chain-runs", type=int, default=3, help="cold request -> CreateDispatch chains (default 3)"
    )
    parser.add_argument("--chain-warm", type=int, default=5, help="warm requests per chain (default 5)")
    parser.add_argument("--no-chain", action="store_true", help="skip request -> CreateDispatch")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the -X importtime breakdown")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.cold_runs < 1 or args.chain_runs < 1 or args.chain_warm < 1:
        parser.error("--calls, --cold-runs, --chain-runs and --chain-warm must be at least 1")
    if args.no_bytecode_runs < 0:
        parser.error("--no-bytecode-runs must be at least 0")
    overrides = dict(args.env)
    chosen = [known[name] for name in (args.handler or known)]
    # The simulator's key pair is `livekit-server --dev`'s, shorter than PyJWT recommends.
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

    for mode in bytecode.MODES:  # compiled once, before anything is timed
        bytecode.environment(mode)
    print(
        f"  cold imports: {len(chosen)} handlers and {BASELINE}, {args.cold_runs} runs, "
        f"{bytecode.PRECOMPILED}",
        file=sys.stderr,
    )
    baseline, *cold = cold_imports(chosen, args.cold_runs, overrides)
    no_bytecode: dict[str, Any] | None = None
    if args.no_bytecode_runs:
        print(f"  cold imports: {args.no_bytecode_runs} runs, {bytecode.NO_BYTECODE}", file=sys.stderr)
        plain_baseline, *plain = cold_imports(chosen, args.no_bytecode_runs, overrides, bytecode.NO_BYTECODE)
        precompiled_s = {row["handler"]: row["median_s"] for row in [baseline, *cold]}
        for row in [plain_baseline, *plain]:
            row["gain_s"] = round(row["median_s"] - precompiled_s[row["handler"]], 4)
        plain_worst = max(plain, key=lambda row: row["ratio"])
        no_bytecode = {
            "mode": bytecode.NO_BYTECODE,
            "runs": args.no_bytecode_runs,
            "baseline": plain_baseline,
            "cold": plain,
            "worst": plain_worst["handler"],
            "worst_ratio": plain_worst["ratio"],
        }
    worst = max(cold, key=lambda row: row["ratio"])
    worst_cpu = max(cold, key=lambda row: row["cpu_ratio"])
    target_met, target_met_cpu = worst["ratio"] <= TARGET_RATIO, worst_cpu["cpu_ratio"] <= TARGET_RATIO
    tracing = traced(chosen[0], overrides)
    breakdown = [] if args.no_breakdown else biggest_imports(known[worst["handler"]], overrides)
    chain: dict[str, Any] | None = None
    if not args.no_chain:
        print(f"  request -> CreateDispatch: {args.chain_runs} cold chains", file=sys.stderr)
        base = {**cold_path.environment_base(), **overrides}
        steps, times = cold_path.time_chain(args.chain_runs, args.chain_warm, base)
        chain = {"runs": args.chain_runs, "warm_requests": args.chain_warm, **cold_path.summary(steps, times)}
    print(f"  warm: {args.calls} calls per variant", file=sys.stderr)
    warm = warm_calls(args.calls, nagle=True) + warm_calls(args.calls, nagle=False)
    ratios = {server: round(ratio(warm, server), 2) for server in SERVERS}

    settings = " ".join(f"{k}={v}" for k, v in overrides.items()) or "none"
    print(
        f"cold import in a fresh process, median of {args.cold_runs} (PYTHONPATH=functions, the template's "
        f"environment and Lambda's, Python {sys.version.split()[0]}; tracing {'on' if tracing else 'off'}; "
        f"--env {settings}); bytecode {bytecode.PRECOMPILED}"
    )
    print(
        f"{'module':20} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'x ' + BASELINE:>14} "
        f"{'CPU s':>7} {'CPU x':>6}"
    )
    for row in [baseline, *cold]:
        print(
            f"{row['handler']:20} {row['runs']:4d} {row['median_s']:9.3f} {row['min_s']:7.3f} "
            f"{row['max_s']:7.3f} {row['ratio']:14.2f} {row['cpu_median_s']:7.3f} {row['cpu_ratio']:6.2f}"
        )
    print(
        f"target: every handler at most {TARGET_RATIO}x {BASELINE} -> "
        f"wall: {'met' if target_met else 'NOT met'} (worst {worst['handler']} {worst['ratio']:.2f}x); "
        f"CPU: {'met' if target_met_cpu else 'NOT met'} "
        f"(worst {worst_cpu['handler']} {worst_cpu['cpu_ratio']:.2f}x)"
    )
    if no_bytecode is not None:
        print(
            f"cold import, {bytecode.NO_BYTECODE}: median of {no_bytecode['runs']} (every module of the zip "
            f"compiled at each cold start, {BASELINE} included; gain: this median less the precompiled one)"
        )
        print(
            f"{'module':20} {'runs':>4} {'median s':>9} {'x ' + BASELINE:>14} {'CPU s':>7} {'CPU x':>6} "
            f"{'gain s':>7}"
        )
        for row in [no_bytecode["baseline"], *no_bytecode["cold"]]:
            print(
                f"{row['handler']:20} {row['runs']:4d} {row['median_s']:9.3f} {row['ratio']:14.2f} "
                f"{row['cpu_median_s']:7.3f} {row['cpu_ratio']:6.2f} {row['gain_s']:7.3f}"
            )
    if breakdown:
        print(f"biggest imports of {worst['handler']} (-X importtime, cumulative, overlapping):")
        for item in breakdown:
            print(f"  {item['package']:24} {item['cumulative_s']:7.3f} s")
    if chain is not None:
        print(
            f"request -> CreateDispatch: median of {chain['runs']} cold chains, warm: median of "
            f"{chain['runs'] * chain['warm_requests']} requests (fresh process per function; moto and the "
            "LiveKit simulator over HTTP on 127.0.0.1)"
        )
        print(f"{'state':28} {'function':24} {'import s':>9} {'first s':>8} {'warm s':>7}")
        for step in chain["steps"]:
            imported = f"{step['import_s']:9.3f}" if step["cold_start"] else f"{'(warm)':>9}"
            first = f"{step['first_call_s']:8.3f}" if step["cold_start"] else f"{'':>8}"
            print(f"{step['state']:28} {step['function']:24} {imported} {first} {step['warm_call_s']:7.3f}")
        cold_verdict = "met" if chain["cold_starts_target_met"] else "NOT met"
        print(
            f"cold: {chain['cold_s']:.3f} s with {chain['cold_starts']} cold starts before CreateDispatch "
            f"(target <= {chain['cold_starts_target']}: {cold_verdict}); warm: {chain['warm_s']:.3f} s"
        )
    print(f"warm per-call overhead: ListParticipants, simulator on 127.0.0.1, {args.calls} calls per variant")
    print(f"{'simulator':12} {'variant':20} {'median ms':>10} {'p95 ms':>8} {'first ms':>9}")
    for row in warm:
        print(
            f"{row['server']:12} {row['variant']:20} {row['median_ms']:10.2f} {row['p95_ms']:8.2f} "
            f"{row['first_call_ms']:9.2f}"
        )
    for server, value in ratios.items():
        print(f"median ratio new client per call / one client reused, simulator {server}: {value:.2f}")

    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "python": sys.version.split()[0],
        "env_overrides": overrides,
        "tracing": tracing,
        "cold_runs": args.cold_runs,
        "bytecode": bytecode.PRECOMPILED,
        "baseline": baseline,
        "cold": cold,
        "target": {
            "ratio": TARGET_RATIO,
            "met": target_met,
            "worst": worst["handler"],
            "met_cpu": target_met_cpu,
            "worst_cpu": worst_cpu["handler"],
        },
        "no_bytecode": no_bytecode,
        "biggest_imports": {"handler": worst["handler"], "packages": breakdown} if breakdown else None,
        "request_to_create_dispatch": chain,
        "warm_call": "ListParticipants",
        "warm_calls": args.calls,
        "warm": warm,
        "warm_median_ratio_new_over_reused": ratios,
    }
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
