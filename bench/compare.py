"""The workflow against the blocked poller teams run today: the same N dispatch scenarios, measured.

One process, virtual time (``DiscreteClock``: every execution keeps its own timeline, time moves only
when all of them wait). N scenarios (default 1,000, seeded): each starts at a random instant of the
same minute; 85 % of the agents cold-start for 10-20 s (uniform), 10 % never wake (a job stays
pending), 5 % have no worker (no job is ever assigned). Three variants run them:

  baseline   a blocked poller, as a Lambda runs it: CreateRoom, CreateDispatch, then ListParticipants
             every second for up to 120 s (the whole wait is one invocation, billed and in flight);
  polling    the workflow with webhooks off (template parameter LiveKitWebhooks=Disabled, when the
             template has it) and no webhook sent;
  webhooks   the workflow with LiveKit's webhooks delivered to POST /livekit/webhook.

The webhook path is the template's: API Gateway puts each POST on an SQS queue itself (an AWS
integration, no Lambda answers LiveKit), and an SQS event source mapping hands the queued events to
LiveKitWebhookFunction in batches (BatchSize 10) through a filter that lets only an agent's
participant_joined by (every other event is deleted unread and invokes nothing), with at most
LiveKitWebhookConcurrency (its ScalingConfig.MaximumConcurrency) functions in flight. So a delivery is
one API Gateway request and one SendMessage, but not one invocation: an invocation takes a batch of
the joins queued meanwhile.

Figures per variant: outcomes against the scenario's truth, detection lag (when the variant saw the
agent - the agent's joined_at), time to the first corrective action on a dispatch that never joins
(re-dispatch or escalation; the baseline can only give up), state transitions per execution (from
the execution histories), Lambda invocations, billed GB-seconds, concurrency-seconds and the peak of
Lambda executions in flight, LiveKit API calls, AWS requests, webhook deliveries (what LiveKit posted),
the events the filter dropped and the webhook invocations, and the cost per 1,000 dispatches at the
list prices in PRICES.

A verified dispatch's own share (the "per verified" figures): its execution's steps; of each webhook
invocation, 1/len(batch) per record of the batch about its room (a fraction: a batch is shared by the
dispatches whose joins it carried); the API Gateway requests of the deliveries about its room; and
their SQS requests (the run's sqs.* requests - SendMessage by API Gateway, ReceiveMessage and
DeleteMessage by the event source, ChangeMessageVisibility for a retry - apportioned per delivery).
Here each poll of the queue ends with one empty ReceiveMessage, counted (and so charged per delivery).
Not charged: a deployed event source also long-polls the queue while it is empty (ReceiveMessage with
a 20 s wait from a few pollers: with 5, some 650,000 requests, ~0.26 USD, a month, within SQS's free
tier of 1M requests; a fixed cost whatever the dispatches), and the KMS calls of the encrypted queue
(SQS caches its data key for the key reuse period: a few calls an hour, none per message).

Handlers take no virtual time; a Lambda's duration is the real time its handler ran here (loopback
LiveKit simulator, in-process moto), placed at the virtual instant it started. Real AWS and LiveKit
calls are slower, so the workflow's GB-seconds are also priced at an assumed 100 ms per invocation.
The peak in flight places each call the same way, except that a function fed by an event source with a
MaximumConcurrency runs in that many lanes: a call waits (its messages stay in the queue) until one of
them is free.

    python -m bench.compare [--n N] [--seed S] [--variants baseline,polling,webhooks] [--json PATH]
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.client

from bench.common import percentile, write_report
from bench.wait_latency import epoch, seen_at
from clocks import DiscreteClock
from livekit_sim import LiveKitSimulator
from local_engine import ExecutionResult, Invocation, LocalApi, LocalEngine

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "polling", "webhooks")

# AWS list prices, us-east-1, x86, on-demand, as published on the AWS pricing pages in 2025 (taken
# from those pages then; not re-checked on the day of a run: this machine has no internet access).
PRICES: dict[str, Any] = {
    "as_of": "2025 (AWS pricing pages, us-east-1); not re-checked when this run was made",
    "lambda_gb_second_usd": 0.0000166667,
    "lambda_request_usd": 0.20 / 1_000_000,
    "step_functions_standard_transition_usd": 0.025 / 1_000,
    "api_gateway_rest_request_usd": 3.50 / 1_000_000,
    "dynamodb_on_demand_write_unit_usd": 0.625 / 1_000_000,
    "dynamodb_on_demand_read_unit_usd": 0.125 / 1_000_000,
    "sns_publish_usd": 0.50 / 1_000_000,
    "eventbridge_custom_event_usd": 1.00 / 1_000_000,
    "secrets_manager_api_call_usd": 0.05 / 10_000,
    "sqs_standard_request_usd": 0.40 / 1_000_000,  # every 64 KB chunk of a request; webhooks are smaller
    "free_tiers": "ignored",
}
ASSUMED_INVOCATION_MS = 100  # a real handler: LiveKit Cloud and DynamoDB round trips, warm
BASELINE_MEMORY_MB = (128, 512)
POLL_EVERY_S, GIVE_UP_AFTER_S = 1.0, 120.0  # the blocked poller
_DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


@dataclass(frozen=True)
class Scenario:
    index: int
    offset_s: float  # when in the minute it starts
    kind: str  # "wake", "never" or "none"
    cold_start_s: float | None  # wake only

    @property
    def name(self) -> str:
        return f"s{self.index:04d}"

    @property
    def agent(self) -> str:
        return f"agent-{self.index:04d}"

    @property
    def behaviour(self) -> str:
        return f"wake:{self.cold_start_s:.3f}" if self.kind == "wake" else self.kind

    @property
    def truth(self) -> str:
        """What a faithful verifier concludes: verified, or the cause it escalates with."""
        return {"wake": "verified", "never": "not_joined", "none": "never_assigned"}[self.kind]


def scenarios(n: int, seed: int) -> list[Scenario]:
    rng = random.Random(seed)
    drawn = []
    for index in range(n):
        offset, pick = rng.uniform(0.0, 60.0), rng.random()
        if pick < 0.10:
            drawn.append(Scenario(index, offset, "never", None))
        elif pick < 0.15:
            drawn.append(Scenario(index, offset, "none", None))
        else:
            drawn.append(Scenario(index, offset, "wake", rng.uniform(10.0, 20.0)))
    return drawn


@dataclass
class Outcome:
    """What one variant concluded for one scenario, on the virtual clock."""

    scenario: Scenario
    concluded: str  # "verified", an escalation cause, or "gave_up" (baseline)
    started_at: float
    dispatched_at: float | None = None
    joined_at: float | None = None  # the agent's joined_at (LiveKit's clock)
    seen_at: float | None = None  # when the variant saw it
    first_correction_at: float | None = None  # re-dispatch or escalation (baseline: giving up)
    transitions: int = 0


@dataclass
class Lambda:
    started_at: float
    duration_s: float  # billed: virtual for the poller's sleeps plus real for calls
    memory_mb: int
    execution: str | None
    function: str = ""  # the template's logical id (the baseline's poller: none)
    share: float = 1.0  # the part of the invocation charged (a webhook batch is shared by its rooms)


@dataclass
class VariantRun:
    variant: str
    outcomes: list[Outcome] = field(default_factory=list)
    lambdas: list[Lambda] = field(default_factory=list)
    livekit_calls: int = 0
    aws_requests: Counter[str] = field(default_factory=Counter)
    # LiveKit webhook deliveries per room (= scenario name): each is one POST to API Gateway, whose
    # integration sends it to the webhook queue (one SendMessage), charged to the dispatch whose room
    # it is about. Whether it invokes anything is the event source's doing (below).
    webhook_deliveries: Counter[str] = field(default_factory=Counter)
    webhook_function: str = ""  # the event source's function (LiveKitWebhookFunction)
    # The webhook function's invocations, each as the rooms of the records its batch carried.
    webhook_batches: list[list[str]] = field(default_factory=list)
    webhook_filtered_out: int = 0  # queued events the filter deleted (they invoke nothing)
    # function -> the most of its executions in flight (its event source's MaximumConcurrency)
    lanes: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def webhook_records(self) -> int:
        """The records the webhook function's invocations carried."""
        return sum(len(batch) for batch in self.webhook_batches)

    @property
    def webhook_invocations(self) -> dict[str, float]:
        """The webhook function's invocations charged per room: of each batch, 1/len(batch) per
        record about the room (fractional)."""
        charged: dict[str, float] = {}
        for batch in self.webhook_batches:
            for room in batch:
                charged[room] = charged.get(room, 0.0) + 1 / len(batch)
        return charged

    @property
    def webhook_requests(self) -> int:
        """API Gateway requests of the webhook route: one per delivery."""
        return sum(self.webhook_deliveries.values())


# -- AWS request counting ---------------------------------------------------------------------------
_aws_counts: Counter[str] = Counter()
_aws_lock = threading.Lock()


@contextmanager
def counting_aws_requests() -> Iterator[Counter[str]]:
    """Count every boto3 API call made in this process ("service.Operation") while inside."""
    original = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        with _aws_lock:
            _aws_counts[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return original(client, operation, params)

    _aws_counts.clear()
    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield _aws_counts
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


# -- running the variants ---------------------------------------------------------------------------
def _progress(variant: str, started: float, total: int) -> Callable[[int, int], None]:
    last = [0.0]

    def report(done: int, _total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5 or done == total:
            last[0] = now
            print(f"  {variant:9} {done:5}/{total} finished ({now - started:6.1f} s)", file=sys.stderr)

    return report


def _start_all(
    clock: DiscreteClock, plan: list[Scenario], start: Callable[[Scenario], None], variant: str, wall: float
) -> float:
    """Start every scenario at its instant of the minute; returns the minute's origin."""
    step = max(1, len(plan) // 10)
    with clock.running():
        origin = clock.now()
        for count, scenario in enumerate(sorted(plan, key=lambda s: s.offset_s), start=1):
            clock.sleep_until(origin + scenario.offset_s)
            start(scenario)
            if count % step == 0 or count == len(plan):
                print(
                    f"  {variant:9} {count:5}/{len(plan)} started (virtual +{clock.now() - origin:4.1f} s, "
                    f"{time.monotonic() - wall:6.1f} s)",
                    file=sys.stderr,
                )
    return origin


def run_baseline(plan: list[Scenario]) -> VariantRun:
    from dispatch_verify.adapters.livekit import LiveKitClient
    from dispatch_verify.config import LiveKitCredentials

    run, wall = VariantRun("baseline"), time.monotonic()
    with DiscreteClock() as clock, LiveKitSimulator(clock) as sim:
        credentials = LiveKitCredentials(url=sim.url or "", api_key=sim.api_key, api_secret=sim.api_secret)
        client = LiveKitClient(credentials)
        lock, done = threading.Lock(), [0]

        def poller(scenario: Scenario) -> None:
            started, call_time = clock.now(), 0.0

            def timed(call: Callable[[], Any]) -> Any:
                nonlocal call_time
                before = time.perf_counter()
                try:
                    return call()
                finally:
                    call_time += time.perf_counter() - before

            outcome = Outcome(scenario, "gave_up", started)
            timed(lambda: client.create_room(scenario.name, None))
            timed(lambda: client.create_dispatch(scenario.name, scenario.agent, ""))
            outcome.dispatched_at = clock.now()
            while clock.now() - outcome.dispatched_at < GIVE_UP_AFTER_S:
                clock.sleep(POLL_EVERY_S)
                agents = [
                    p for p in timed(lambda: client.list_participants(scenario.name)) if p.kind == "AGENT"
                ]
                if agents:
                    outcome.concluded, outcome.seen_at = "verified", clock.now()
                    outcome.joined_at = min(p.joined_at or clock.now() for p in agents)
                    break
            else:
                outcome.first_correction_at = clock.now()  # all it can do: give up
            billed = clock.now() - started + call_time
            with lock:
                run.outcomes.append(outcome)
                run.lambdas.append(Lambda(started, billed, BASELINE_MEMORY_MB[0], scenario.name))
                done[0] += 1

        threads: list[threading.Thread] = []

        def start(scenario: Scenario) -> None:
            sim.set_agent(scenario.agent, scenario.behaviour)
            thread = clock.thread(poller, scenario)
            threads.append(thread)
            thread.start()

        report = _progress("baseline", wall, len(plan))
        _start_all(clock, plan, start, "baseline", wall)
        while any(thread.is_alive() for thread in threads):
            report(done[0], len(plan))
            time.sleep(0.5)
        report(len(plan), len(plan))
        client.close()
        run.livekit_calls = len(sim.calls)
    run.wall_s = time.monotonic() - wall
    return run


def run_workflow(variant: str, plan: list[Scenario]) -> VariantRun:
    run, wall = VariantRun(variant), time.monotonic()
    with counting_aws_requests() as aws, DiscreteClock() as clock, LiveKitSimulator(clock) as sim:
        credentials = {"url": sim.url or "", "api_key": sim.api_key, "api_secret": sim.api_secret}
        template = str(ROOT / "template.yaml")
        parameters = {"LiveKitWebhooks": "Enabled" if variant == "webhooks" else "Disabled"}
        with LocalEngine(clock, credentials, template_path=template, parameters=parameters) as engine:
            if variant == "webhooks":
                sim.set_webhook(LocalApi(engine).deliver_webhook)
            arns: dict[str, str] = {}

            def start(scenario: Scenario) -> None:
                sim.set_agent(scenario.agent, scenario.behaviour)
                request = {"room": scenario.name, "agent_name": scenario.agent, "request_id": scenario.name}
                arns[scenario.name] = engine.start(request, name=scenario.name)

            aws.clear()  # what the engine's set-up did is not the workflow's
            origin = _start_all(clock, plan, start, variant, wall)
            results = engine.wait_all(
                [arns[s.name] for s in plan], timeout_s=7200, on_progress=_progress(variant, wall, len(plan))
            )
            sim.set_webhook(None)
            run.aws_requests = Counter(aws)
            for record in sim.webhooks:
                run.webhook_deliveries[record.room] += record.deliveries
            for source in engine.queue_sources.values():
                run.lanes[source.target.name] = source.max_concurrency
                run.webhook_function = source.target.name
                run.webhook_filtered_out += source.filtered_out
                run.webhook_batches.extend(source.batches)
            calls: dict[str | None, list[Invocation]] = {}
            for invocation in sorted(engine.invocations, key=lambda i: i.started_at):
                calls.setdefault(invocation.execution_name, []).append(invocation)
            for scenario, result in zip(plan, results, strict=True):
                started_at = origin + scenario.offset_s
                run.outcomes.append(
                    _workflow_outcome(scenario, result, started_at, calls.get(scenario.name, []))
                )
            run.lambdas = [
                Lambda(i.started_at, i.duration_s, i.memory_mb, i.execution_name, i.function)
                for i in engine.invocations
            ]
            run.livekit_calls = len(sim.calls)
    run.wall_s = time.monotonic() - wall
    return run


def _workflow_outcome(
    scenario: Scenario, result: ExecutionResult, started_at: float, mine: list[Invocation]
) -> Outcome:
    """``mine``: the execution's handler calls, in the order they started."""
    outcome = Outcome(scenario, "internal", started_at, transitions=result.state_transitions())
    if result.status == "SUCCEEDED" and isinstance(result.output, dict):
        outcome.concluded = "verified"
        outcome.joined_at = epoch(result.output["agent_joined_at"])
        outcome.seen_at = seen_at(result)
    elif result.status == "FAILED":
        try:
            outcome.concluded = str(json.loads(result.cause or "{}").get("cause", "internal"))
        except ValueError:
            outcome.concluded = f"failed:{result.error}"
    else:
        outcome.concluded = result.status.lower()
    dispatches = [i.started_at for i in mine if i.function == "DispatchAgentFunction"]
    outcome.dispatched_at = dispatches[0] if dispatches else None
    corrections = [
        i.started_at for i in mine if i.function in ("RedispatchAgentFunction", "EscalateFunction")
    ]
    outcome.first_correction_at = corrections[0] if corrections else None
    return outcome


# -- figures ----------------------------------------------------------------------------------------
def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3),
    }


def placed(
    lambdas: list[Lambda], assumed_ms: int | None = None, lanes: dict[str, int] | None = None
) -> list[tuple[float, float]]:
    """Each call's (start, end) on the virtual clock, in the order they were made. Handlers take no
    virtual time, so each call lasts its real duration (or ``assumed_ms``) from its virtual start; one
    execution's calls follow each other (a step starts once the previous one has returned); a function
    with ``lanes`` (function name -> its event source's MaximumConcurrency) runs its calls in that many
    lanes: a call starts once one of them is free (its messages wait in the queue meanwhile)."""
    intervals: list[tuple[float, float]] = []
    ends: dict[str, float] = {}
    free: dict[str, list[float]] = {
        function: [-math.inf] * count for function, count in (lanes or {}).items() if count > 0
    }
    for item in sorted(lambdas, key=lambda item: item.started_at):
        duration = item.duration_s if assumed_ms is None else assumed_ms / 1000
        start = item.started_at
        if item.execution is not None:
            start = max(start, ends.get(item.execution, start))
        lane = free.get(item.function)
        if lane is not None:
            start = max(start, heapq.heappop(lane))  # the lane free soonest
            heapq.heappush(lane, start + duration)
        if item.execution is not None:
            ends[item.execution] = start + duration
        intervals.append((start, start + duration))
    return intervals


def peak_in_flight(
    lambdas: list[Lambda], assumed_ms: int | None = None, lanes: dict[str, int] | None = None
) -> int:
    """The most Lambda executions running at one instant, the calls placed as ``placed`` does."""
    intervals = placed(lambdas, assumed_ms, lanes)
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, step in edges:  # at the same instant an end (-1) sorts before a start (+1)
        current += step
        peak = max(peak, current)
    return peak


def _gb_seconds(lambdas: list[Lambda], memory_mb: int | None = None, assumed_ms: int | None = None) -> float:
    total = 0.0
    for item in lambdas:
        billed_ms = assumed_ms if assumed_ms is not None else math.ceil(item.duration_s * 1000)
        total += item.share * (memory_mb or item.memory_mb) / 1024 * billed_ms / 1000
    return total


def _aws_cost(run: VariantRun, n: int) -> dict[str, float]:
    """Per dispatch, in USD, of the AWS services other than Lambda and Step Functions."""
    requests = run.aws_requests
    writes = sum(
        v
        for k, v in requests.items()
        if k.split(".")[0] == "dynamodb" and k.split(".")[1] in _DYNAMODB_WRITES
    )
    reads = sum(
        v for k, v in requests.items() if k.split(".")[0] == "dynamodb" and k.split(".")[1] in _DYNAMODB_READS
    )
    return {
        "dynamodb": (
            writes * PRICES["dynamodb_on_demand_write_unit_usd"]
            + reads * PRICES["dynamodb_on_demand_read_unit_usd"]
        )
        / n,
        "sns": requests["sns.Publish"] * PRICES["sns_publish_usd"] / n,
        "eventbridge": requests["events.PutEvents"] * PRICES["eventbridge_custom_event_usd"] / n,
        "secrets_manager": requests["secretsmanager.GetSecretValue"]
        * PRICES["secrets_manager_api_call_usd"]
        / n,
        "api_gateway_webhooks": run.webhook_requests * PRICES["api_gateway_rest_request_usd"] / n,
        "sqs_webhooks": _sqs_requests(run) * PRICES["sqs_standard_request_usd"] / n,
    }


def _sqs_requests(run: VariantRun) -> int:
    """The run's SQS requests: the webhook queue's (API Gateway's SendMessage, the event source's
    ReceiveMessage and DeleteMessage, ChangeMessageVisibility for a retry)."""
    return sum(v for k, v in run.aws_requests.items() if k.split(".")[0] == "sqs")


def _cost_per_1000(
    lambdas: list[Lambda],
    transitions: int,
    count: int,
    other_per_dispatch: float,
    memory_mb: int | None = None,
    assumed_ms: int | None = None,
) -> float:
    if count == 0:
        return 0.0
    usd = (
        sum(item.share for item in lambdas) * PRICES["lambda_request_usd"]
        + _gb_seconds(lambdas, memory_mb, assumed_ms) * PRICES["lambda_gb_second_usd"]
        + transitions * PRICES["step_functions_standard_transition_usd"]
    )
    return round((usd / count + other_per_dispatch) * 1000, 4)


def figures(run: VariantRun) -> dict[str, Any]:
    n = len(run.outcomes)
    verified = [o for o in run.outcomes if o.concluded == "verified"]
    escalated = [o for o in run.outcomes if o.concluded != "verified"]
    matches = sum(1 for o in run.outcomes if o.concluded == o.scenario.truth)
    outcome_matches = sum(
        1 for o in run.outcomes if (o.concluded == "verified") == (o.scenario.truth == "verified")
    )
    lags = [o.seen_at - o.joined_at for o in verified if o.seen_at is not None and o.joined_at is not None]
    never_join = [o for o in run.outcomes if o.scenario.kind != "wake"]
    corrections = [
        o.first_correction_at - o.dispatched_at
        for o in never_join
        if o.first_correction_at is not None and o.dispatched_at is not None
    ]
    by_execution: dict[str | None, list[Lambda]] = {}
    for item in run.lambdas:
        by_execution.setdefault(item.execution, []).append(item)
    verified_lambdas = [item for o in verified for item in by_execution.get(o.scenario.name, [])]
    baseline = run.variant == "baseline"
    other = {} if baseline else _aws_cost(run, n)
    other_per_dispatch = sum(other.values())
    # A verified dispatch's own share (module docstring): its execution's steps; its fraction of the
    # webhook invocations whose batches carried events about its room (at the measured mean duration);
    # and its deliveries' API Gateway requests and SQS requests (the run's, apportioned per delivery).
    hooks = [item for item in run.lambdas if run.webhook_function and item.function == run.webhook_function]
    hook_s = statistics.fmean(item.duration_s for item in hooks) if hooks else 0.0
    hook_mb = hooks[0].memory_mb if hooks else 0
    charged = run.webhook_invocations
    hook_shares = {o.scenario.name: charged.get(o.scenario.name, 0.0) for o in verified}
    verified_hooks = [
        Lambda(0.0, hook_s, hook_mb, None, run.webhook_function, share)
        for share in hook_shares.values()
        if share > 0
    ]
    verified_deliveries = sum(run.webhook_deliveries.get(o.scenario.name, 0) for o in verified)
    sqs_per_delivery = _sqs_requests(run) / run.webhook_requests if run.webhook_requests else 0.0
    verified_other = (
        other_per_dispatch - other.get("api_gateway_webhooks", 0.0) - other.get("sqs_webhooks", 0.0)
    )
    if verified:
        verified_other += (
            verified_deliveries
            * (PRICES["api_gateway_rest_request_usd"] + sqs_per_delivery * PRICES["sqs_standard_request_usd"])
            / len(verified)
        )
    row: dict[str, Any] = {
        "variant": run.variant,
        "dispatches": n,
        "verified": len(verified),
        "escalated": len(escalated) if not baseline else 0,
        "gave_up": len(escalated) if baseline else 0,
        "match_truth": matches,
        "match_truth_outcome_only": outcome_matches,
        "concluded": dict(Counter(o.concluded for o in run.outcomes)),
        "detection_lag_s": _quantiles(lags),
        "first_corrective_action_s": {
            **_quantiles(corrections),
            "of": len(never_join),
            "taken": len(corrections),
        },
        "lambda_invocations_per_dispatch": round(len(run.lambdas) / n, 2),
        "billed_gb_s_per_dispatch": round(_gb_seconds(run.lambdas) / n, 4),
        "concurrency_s_per_dispatch": round(sum(item.duration_s for item in run.lambdas) / n, 4),
        "peak_lambdas_in_flight": peak_in_flight(run.lambdas, lanes=run.lanes),
        "livekit_calls_per_dispatch": round(run.livekit_calls / n, 2),
        "wall_s": round(run.wall_s, 1),
    }
    if baseline:
        row["billed_gb_s_per_dispatch"] = {
            f"{memory}MB": round(_gb_seconds(run.lambdas, memory_mb=memory) / n, 4)
            for memory in BASELINE_MEMORY_MB
        }
        row["cost_per_1000_usd"] = {
            f"{memory}MB": _cost_per_1000(run.lambdas, 0, n, 0.0, memory_mb=memory)
            for memory in BASELINE_MEMORY_MB
        }
        row["cost_per_1000_verified_usd"] = {
            f"{memory}MB": _cost_per_1000(verified_lambdas, 0, len(verified), 0.0, memory_mb=memory)
            for memory in BASELINE_MEMORY_MB
        }
        return row
    transitions = [o.transitions for o in run.outcomes]
    row["transitions_per_execution"] = {
        "all": round(statistics.fmean(transitions), 2),
        "verified": _mean([o.transitions for o in verified]),
        "escalated": _mean([o.transitions for o in escalated]),
        "escalated_max": max((o.transitions for o in escalated), default=None),
        "verified_by_cold_start_s": _by_cold_start(verified),
        "escalated_by_kind": {
            kind: _mean([o.transitions for o in escalated if o.scenario.kind == kind])
            for kind in ("never", "none")
        },
    }
    row[f"peak_lambdas_in_flight_at_{ASSUMED_INVOCATION_MS}ms"] = peak_in_flight(
        run.lambdas, ASSUMED_INVOCATION_MS, run.lanes
    )
    row["lanes"] = dict(run.lanes)
    row["aws_requests_per_dispatch"] = {k: round(v / n, 2) for k, v in sorted(run.aws_requests.items())}
    # API Gateway requests of the webhook route: one per delivery (the function is not behind it)
    row["webhook_requests_per_dispatch"] = round(run.webhook_requests / n, 2)
    row["webhooks"] = {
        "deliveries": run.webhook_requests,
        "filtered_out": run.webhook_filtered_out,
        "invocations": len(run.webhook_batches),
        "records": run.webhook_records,
        "records_per_invocation": round(run.webhook_records / len(run.webhook_batches), 2)
        if run.webhook_batches
        else None,
        "sqs_requests": _sqs_requests(run),
        "sqs_requests_per_delivery": round(sqs_per_delivery, 2),
    }
    row["cost_per_1000_usd"] = {
        "measured_durations": _cost_per_1000(run.lambdas, sum(transitions), n, other_per_dispatch),
        f"at_{ASSUMED_INVOCATION_MS}ms_per_invocation": _cost_per_1000(
            run.lambdas, sum(transitions), n, other_per_dispatch, assumed_ms=ASSUMED_INVOCATION_MS
        ),
        "other_services_per_1000": {k: round(v * 1000, 4) for k, v in other.items()},
    }
    verified_transitions = sum(o.transitions for o in verified)
    hook_invocations = sum(hook_shares.values())
    row["lambda_invocations_per_verified"] = {
        "steps": round(len(verified_lambdas) / len(verified), 2) if verified else None,
        "webhook_invocations": round(hook_invocations / len(verified), 2) if verified else None,
        "all": round((len(verified_lambdas) + hook_invocations) / len(verified), 2) if verified else None,
        "max": max(
            (
                round(len(by_execution.get(o.scenario.name, [])) + hook_shares[o.scenario.name], 2)
                for o in verified
            ),
            default=None,
        ),
    }
    row["webhook_deliveries_per_verified"] = (
        round(verified_deliveries / len(verified), 2) if verified else None
    )
    row["cost_per_1000_verified_usd"] = {
        "measured_durations": _cost_per_1000(
            verified_lambdas + verified_hooks, verified_transitions, len(verified), verified_other
        ),
        f"at_{ASSUMED_INVOCATION_MS}ms_per_invocation": _cost_per_1000(
            verified_lambdas + verified_hooks,
            verified_transitions,
            len(verified),
            verified_other,
            assumed_ms=ASSUMED_INVOCATION_MS,
        ),
    }
    return row


def _mean(values: list[int]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _by_cold_start(verified: list[Outcome]) -> dict[str, float | None]:
    buckets: dict[str, list[int]] = {}
    for o in verified:
        if o.scenario.cold_start_s is None:
            continue
        low = min(18, int(o.scenario.cold_start_s // 2 * 2))
        buckets.setdefault(f"{low}-{low + 2}", []).append(o.transitions)
    return {key: _mean(values) for key, values in sorted(buckets.items())}


# -- output -----------------------------------------------------------------------------------------
def targets(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Issues 6's and 14's targets, checked against the measured figures (only for the variants that ran)."""
    checks: list[dict[str, Any]] = []
    hooks, base = rows.get("webhooks"), rows.get("baseline")
    if hooks:
        lag = hooks["detection_lag_s"]["p50"]
        checks.append(
            {
                "target": "detection lag median <= 0.3 s with webhooks",
                "measured": lag,
                "met": lag is not None and lag <= 0.3,
            }
        )
        by_cold = hooks["transitions_per_execution"]["verified_by_cold_start_s"]
        firsts = [by_cold[k] for k in sorted(by_cold)][:1] + [by_cold[k] for k in sorted(by_cold)][-1:]
        worst = max((v for v in by_cold.values() if v is not None), default=None)
        checks.append(
            {
                "target": "transitions per verified dispatch <= 6 with webhooks, "
                "the same for 10 s and 20 s cold starts",
                "measured": {
                    "mean": hooks["transitions_per_execution"]["verified"],
                    "10-12 s": firsts[0] if firsts else None,
                    "18-20 s": firsts[-1] if firsts else None,
                    "worst bucket": worst,
                },
                "met": worst is not None and worst <= 6 and len(set(firsts)) == 1,
            }
        )
        escalated_max = hooks["transitions_per_execution"]["escalated_max"]
        checks.append(
            {
                "target": "transitions per escalation after 3 attempts <= 20 with webhooks (the most)",
                "measured": escalated_max,
                "met": escalated_max is not None and escalated_max <= 20,
            }
        )
        invocations = hooks["lambda_invocations_per_verified"]
        checks.append(
            {
                "target": "Lambda invocations per verified dispatch <= 6, webhook invocations included "
                "(its share of each batch; the most of any verified dispatch)",
                "measured": invocations,
                "met": invocations["max"] is not None and invocations["max"] <= 6,
            }
        )
        checks.append(
            {
                "target": "100 % of outcomes match the truth (webhooks)",
                "measured": f"{hooks['match_truth']}/{hooks['dispatches']}",
                "met": hooks["match_truth"] == hooks["dispatches"],
            }
        )
    if hooks and base:
        peak = max(
            hooks["peak_lambdas_in_flight"], hooks[f"peak_lambdas_in_flight_at_{ASSUMED_INVOCATION_MS}ms"]
        )
        ratio = peak / max(1, base["peak_lambdas_in_flight"])
        checks.append(
            {
                "target": "workflow peak Lambdas in flight <= 1/20 of the baseline's "
                "(the higher of measured and 100 ms calls; webhook calls within the event source's "
                "MaximumConcurrency)",
                "measured": f"{peak} vs {base['peak_lambdas_in_flight']} ({ratio:.3f})",
                "met": ratio <= 1 / 20,
            }
        )
        ours = hooks["cost_per_1000_verified_usd"]
        theirs = base["cost_per_1000_verified_usd"]["512MB"]
        for basis, value in ours.items():
            checks.append(
                {
                    "target": f"cost per 1,000 verified with webhooks <= 1.2x the 512 MB baseline ({basis})",
                    "measured": f"{value} vs {theirs} USD ({value / theirs:.2f}x)" if theirs else value,
                    "met": bool(theirs) and value <= 1.2 * theirs,
                }
            )
    polling = rows.get("polling")
    if polling:
        checks.append(
            {
                "target": "100 % of outcomes match the truth (polling)",
                "measured": f"{polling['match_truth']}/{polling['dispatches']}",
                "met": polling["match_truth"] == polling["dispatches"],
            }
        )
    return checks


def table(rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], key: str) -> str:
        value: Any = row
        for part in key.split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, dict):  # a dict: its entries have lines of their own
            return "-"
        return f"{value:g}" if isinstance(value, float) else str(value)

    lines = [
        ("verified", "verified"),
        ("escalated", "escalated"),
        ("gave up (no cause)", "gave_up"),
        ("match truth (cause too)", "match_truth"),
        ("detection lag p50 s", "detection_lag_s/p50"),
        ("detection lag p95 s", "detection_lag_s/p95"),
        ("1st corrective action p50 s", "first_corrective_action_s/p50"),
        ("1st corrective action p95 s", "first_corrective_action_s/p95"),
        ("transitions / execution", "transitions_per_execution/all"),
        ("  verified", "transitions_per_execution/verified"),
        ("  escalated", "transitions_per_execution/escalated"),
        ("  escalated, most", "transitions_per_execution/escalated_max"),
        ("Lambda invocations / dispatch", "lambda_invocations_per_dispatch"),
        ("  / verified, webhooks incl.", "lambda_invocations_per_verified/all"),
        ("    of which webhook", "lambda_invocations_per_verified/webhook_invocations"),
        ("  most of one verified", "lambda_invocations_per_verified/max"),
        ("webhook deliveries / verified", "webhook_deliveries_per_verified"),
        ("webhook events filtered out", "webhooks/filtered_out"),
        ("webhook invocations", "webhooks/invocations"),
        ("  records / invocation", "webhooks/records_per_invocation"),
        ("billed GB-s / dispatch", "billed_gb_s_per_dispatch"),
        ("  baseline at 128 / 512 MB", "billed_gb_s_per_dispatch/128MB"),
        ("", "billed_gb_s_per_dispatch/512MB"),
        ("concurrency-s / dispatch", "concurrency_s_per_dispatch"),
        ("peak Lambdas in flight", "peak_lambdas_in_flight"),
        (f"  at {ASSUMED_INVOCATION_MS} ms per call", f"peak_lambdas_in_flight_at_{ASSUMED_INVOCATION_MS}ms"),
        ("LiveKit calls / dispatch", "livekit_calls_per_dispatch"),
        ("USD / 1000 (measured ms)", "cost_per_1000_usd/measured_durations"),
        (
            f"USD / 1000 (at {ASSUMED_INVOCATION_MS} ms/call)",
            f"cost_per_1000_usd/at_{ASSUMED_INVOCATION_MS}ms_per_invocation",
        ),
        ("USD / 1000 baseline 128 MB", "cost_per_1000_usd/128MB"),
        ("USD / 1000 baseline 512 MB", "cost_per_1000_usd/512MB"),
        ("USD / 1000 verified (measured)", "cost_per_1000_verified_usd/measured_durations"),
        ("USD / 1000 verified 128 MB", "cost_per_1000_verified_usd/128MB"),
        ("USD / 1000 verified 512 MB", "cost_per_1000_verified_usd/512MB"),
        ("wall time s", "wall_s"),
    ]
    width = 32
    out = [f"{'':{width}}" + "".join(f"{row['variant']:>14}" for row in rows)]
    for label, key in lines:
        out.append(f"{label:{width}}" + "".join(f"{cell(row, key):>14}" for row in rows))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=summary)
    parser.add_argument("--n", type=int, default=1000, help="dispatch scenarios (default 1000)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated, of " + ", ".join(VARIANTS)
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown or not chosen:
        parser.error(
            f"unknown variant(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(VARIANTS)}"
        )
    if args.n < 1:
        parser.error("--n must be at least 1")
    plan = scenarios(args.n, args.seed)
    kinds = Counter(s.kind for s in plan)
    print(
        f"{args.n} dispatches (seed {args.seed}) started within one virtual minute: "
        f"{kinds['wake']} agents cold-start 10-20 s, {kinds['never']} never wake, "
        f"{kinds['none']} have no worker",
        file=sys.stderr,
    )
    rows: dict[str, dict[str, Any]] = {}
    for variant in chosen:
        print(f"{variant}:", file=sys.stderr)
        run = run_baseline(plan) if variant == "baseline" else run_workflow(variant, plan)
        rows[variant] = figures(run)
    print(table(list(rows.values())))
    checks = targets(rows)
    for check in checks:
        print(f"{'MET ' if check['met'] else 'MISS'} {check['target']}: {check['measured']}")
    print(f"prices: AWS list prices, {PRICES['as_of']}; free tiers ignored")
    report = {
        "n": args.n,
        "seed": args.seed,
        "scenario_kinds": dict(kinds),
        "clock": "virtual (DiscreteClock); Lambda durations are the handlers' real run time on this machine",
        "prices": PRICES,
        "variants": rows,
        "targets": checks,
    }
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
