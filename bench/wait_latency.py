"""How late does the workflow notice a joined agent? Webhooks against polling only, measured.

For each run an agent sleeps a random 5-15 s (seeded) after its first dispatch; the workflow waits
with a 3 s poll interval. The detection lag is the time from the agent's join (its ``joined_at`` on
the simulator's clock) to the "Check participants" that saw it, i.e. the workflow leaving its wait.
Two variants, the same scenarios: the simulator's webhooks delivered to ``POST /livekit/webhook``,
and every webhook dropped (polling only).

On the virtual clock (default) a waiting callback task moves time straight to the simulator's next
event, and handlers take no virtual time, so the webhook variant's lag there is the workflow's own
steps only (no network, no Lambda latency). ``--real`` runs fewer scenarios on wall time (agents
sleeping 1-3 s, 2 s poll interval): there the lag includes the simulator's 20 ms tick, the webhook
handler and moto's Step Functions.

    python -m bench.wait_latency [--runs N] [--seed S] [--real] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import percentile, write_report
from clocks import RealClock, VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, LocalApi, LocalEngine

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("webhooks", "polling only")


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def seen_at(result: ExecutionResult) -> float:
    """When the verifying "Check participants" ran (its check.checked_at)."""
    for event in reversed(result.history):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Check participants":
            return epoch(json.loads(details["output"])["check"]["checked_at"])
    raise ValueError("no Check participants in the history")


def woken_by_webhook(result: ExecutionResult) -> bool:
    """Did the last "Await agent" end by the webhook's SendTaskSuccess?"""
    for event in reversed(result.history):
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == "Check participants":
            wake = json.loads(details["input"]).get("wake") or {}
            return bool(wake.get("by") == "webhook")
    return False


def run_variant(variant: str, sleeps: list[float], *, real: bool, poll_s: int) -> dict[str, Any]:
    clock: Any = RealClock() if real else VirtualClock()
    lags: list[float] = []
    by_webhook = 0
    started = time.monotonic()
    with LiveKitSimulator(clock) as sim:
        credentials = {"url": sim.url or "", "api_key": sim.api_key, "api_secret": sim.api_secret}
        # Polling only: the stack is told not to expect webhooks (else it waits its webhook backstop).
        parameters = {} if variant == "webhooks" else {"LiveKitWebhooks": "Disabled"}
        template = str(ROOT / "template.yaml")
        with LocalEngine(clock, credentials, template_path=template, parameters=parameters) as engine:
            sim.set_webhook(LocalApi(engine).deliver_webhook, drop=0.0 if variant == "webhooks" else 1.0)
            for index, sleep_s in enumerate(sleeps):
                agent = f"agent-{index}"
                sim.set_agent(agent, f"wake:{sleep_s:.3f}")
                payload = {
                    "room": f"bench-{variant.split()[0]}-{index}",
                    "agent_name": agent,
                    "options": {"poll_interval_s": poll_s, "join_timeout_s": 60, "max_attempts": 1},
                }
                result = engine.run(payload, timeout_s=180)
                if result.status != "SUCCEEDED" or result.output is None:
                    raise RuntimeError(f"{variant} run {index}: {result.status} {result.cause}")
                lags.append(seen_at(result) - epoch(result.output["agent_joined_at"]))
                by_webhook += woken_by_webhook(result)
                line = f"  {variant:13} run {index + 1:3}/{len(sleeps)}: lag {lags[-1]:6.3f} s"
                print(f"{line} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
            sim.set_webhook(None)
    return {
        "variant": variant,
        "runs": len(lags),
        "median_s": round(statistics.median(lags), 3),
        "p95_s": round(percentile(lags, 0.95), 3),
        "max_s": round(max(lags), 3),
        "mean_s": round(statistics.fmean(lags), 3),
        "waits_ended_by_webhook": by_webhook,
        "wall_s": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.wait_latency", description=summary)
    parser.add_argument("--runs", type=int, default=None, help="scenarios per variant (30 virtual, 8 real)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--real", action="store_true", help="wall time instead of the virtual clock")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (8 if args.real else 30)
    if runs < 1:
        parser.error("--runs must be at least 1")
    rng = random.Random(args.seed)
    low, high, poll_s = (1.0, 3.0, 2) if args.real else (5.0, 15.0, 3)
    sleeps = [rng.uniform(low, high) for _ in range(runs)]
    clock_name = "real time" if args.real else "virtual clock"
    print(
        f"detection lag: agent join -> workflow leaves its wait; {runs} runs per variant, agents asleep "
        f"{low:.0f}-{high:.0f} s (seed {args.seed}), poll interval {poll_s} s, {clock_name}",
        file=sys.stderr,
    )
    rows = [run_variant(variant, sleeps, real=args.real, poll_s=poll_s) for variant in VARIANTS]
    print(f"{'variant':13} {'runs':>5} {'median s':>9} {'p95 s':>7} {'max s':>7} {'by webhook':>11}")
    for row in rows:
        print(
            f"{row['variant']:13} {row['runs']:5} {row['median_s']:9.3f} {row['p95_s']:7.3f} "
            f"{row['max_s']:7.3f} {row['waits_ended_by_webhook']:11}"
        )
    report = {
        "clock": "real" if args.real else "virtual",
        "poll_interval_s": poll_s,
        "agent_sleep_s": [low, high],
        "seed": args.seed,
        "variants": rows,
    }
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
