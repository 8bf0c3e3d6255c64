"""Lambda start-up, measured: each handler's cold import, and the warm per-call LiveKit overhead.

Cold: each handler module is imported in a fresh Python process (``PYTHONPATH=functions``, the
environment a deployed function has: region, Powertools variables, ``AWS_LAMBDA_FUNCTION_NAME``, so
the Tracer patches as it does in Lambda), timed with ``time.perf_counter`` around
``importlib.import_module``; the median of a few processes per handler. ``python -X importtime`` on
the slowest handler gives its five biggest top-level imports.

Warm: a ``LiveKitSimulator`` on real time serves HTTP on 127.0.0.1; one room holds an agent. Each
warm invocation is one ``ListParticipants`` through ``dispatch_verify.adapters.livekit``, three ways,
interleaved call by call: a new ``LiveKitClient`` (a new ``LiveKitAPI`` and aiohttp session) opened
and closed per call; one ``LiveKitClient`` created once and reused; and ``livekit.connect`` as the
handlers call it. Wall time with ``time.perf_counter``.

    python -m bench.startup [--calls N] [--cold-runs R] [--handler NAME ...] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dispatch_verify import names
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import SecretStr

from bench.common import percentile, write_report
from clocks import RealClock
from livekit_sim import LiveKitSimulator

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = (
    "prepare_request",
    "ensure_room",
    "dispatch_agent",
    "await_agent",
    "check_participants",
    "redispatch_agent",
    "dial_callee",
    "escalate",
    "record_outcome",
    "close_room",
    "api",
    "livekit_webhook",
)
# What template.yaml's Globals and the Lambda runtime put in a function's environment (no secrets:
# nothing is called at import time).
LAMBDA_ENV = {
    # names.TEMPLATE_ENVIRONMENT is what the template sets; the values here are stand-ins.
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "dispatch-verify-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "POWERTOOLS_SERVICE_NAME": "dispatch-verify",
    "POWERTOOLS_METRICS_NAMESPACE": "DispatchVerify",
    "LOG_LEVEL": "INFO",
    names.LIVEKIT_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:dispatch-verify/livekit",
    names.EVENT_BUS_NAME: "dispatch-verify",
    names.LEDGER_TABLE_NAME: "dispatch-verify-ledger",
}
_TIMED_IMPORT = (
    "import importlib, sys, time\n"
    "started = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(time.perf_counter() - started)\n"
)
WARM_VARIANTS = ("new client per call", "one client reused", "livekit.connect")
SERVERS = ("Nagle on (before)", "as shipped")
ROOM, AGENT = "bench-startup", "bench-agent"


def lambda_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(LAMBDA_ENV)
    env["PYTHONPATH"] = str(ROOT / "functions")
    env.pop("PYTHONSTARTUP", None)
    return env


def cold_import(handler: str, runs: int) -> dict[str, Any]:
    """Seconds to import the handler's module in ``runs`` fresh processes."""
    module = f"dispatch_verify.handlers.{handler}"
    times: list[float] = []
    for _ in range(runs):
        done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script and a handler name
            [sys.executable, "-c", _TIMED_IMPORT, module],
            env=lambda_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return {
        "handler": handler,
        "runs": runs,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
    }


def biggest_imports(handler: str, top: int = 5) -> list[dict[str, Any]]:
    """``python -X importtime``: the ``top`` packages (other than dispatch_verify) by cumulative time.

    A package's figure is its largest cumulative entry, i.e. where it was first imported, including
    whatever it imported first itself: the figures overlap and do not add up.
    """
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script and a handler name
        [sys.executable, "-X", "importtime", "-c", f"import dispatch_verify.handlers.{handler}"],
        env=lambda_env(),
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


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=summary)
    parser.add_argument("--calls", type=int, default=30, help="warm calls per variant (default 30)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per handler (default 5)")
    parser.add_argument(
        "--handler", action="append", choices=HANDLERS, help="cold-import only this one (repeatable)"
    )
    parser.add_argument("--no-breakdown", action="store_true", help="skip the -X importtime breakdown")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.cold_runs < 1:
        parser.error("--calls and --cold-runs must be at least 1")
    handlers = tuple(args.handler or HANDLERS)
    # The simulator's key pair is `livekit-server --dev`'s, shorter than PyJWT recommends.
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

    cold: list[dict[str, Any]] = []
    for handler in handlers:
        cold.append(cold_import(handler, args.cold_runs))
        print(f"  cold import {handler}: median {cold[-1]['median_s']:.3f} s", file=sys.stderr)
    slowest = max(cold, key=lambda row: row["median_s"])["handler"]
    breakdown = [] if args.no_breakdown else biggest_imports(slowest)
    print(f"  warm: {args.calls} calls per variant", file=sys.stderr)
    warm = warm_calls(args.calls, nagle=True) + warm_calls(args.calls, nagle=False)
    ratios = {server: round(ratio(warm, server), 2) for server in SERVERS}

    print(
        f"cold import in a fresh process, median of {args.cold_runs} (PYTHONPATH=functions, Lambda env, "
        f"Python {sys.version.split()[0]})"
    )
    print(f"{'handler':20} {'median s':>9} {'min s':>7} {'max s':>7}")
    for row in cold:
        print(f"{row['handler']:20} {row['median_s']:9.3f} {row['min_s']:7.3f} {row['max_s']:7.3f}")
    if breakdown:
        print(f"biggest imports of {slowest} (-X importtime, cumulative, overlapping):")
        for item in breakdown:
            print(f"  {item['package']:24} {item['cumulative_s']:7.3f} s")
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
        "cold_runs": args.cold_runs,
        "cold": cold,
        "biggest_imports": {"handler": slowest, "packages": breakdown} if breakdown else None,
        "warm_call": "ListParticipants",
        "warm_calls": args.calls,
        "warm": warm,
        "warm_median_ratio_new_over_reused": ratios,
    }
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
