"""Request -> CreateDispatch, timed: each function on the way in a process of its own, as Lambda runs it.

Each function of ``stack_view.chain_to_dispatch`` (the API, then the ASL's Lambda states up to
"Dispatch agent") runs in a fresh Python process with the environment the template gives it, in chain
order. The process times the import of its handler module (its cold start), then calls
``lambda_handler`` once per request: the first call is the cold start's first invocation, which pays
what the module left to first use (boto3, clients, the secret, the LiveKit client); the later ones
are a warm function's. A function that appears twice on the chain cold-starts once.

What the handlers talk to is real enough to cost what it costs, and local:
- AWS: moto in this process, behind an HTTP endpoint on 127.0.0.1 (``AWS_ENDPOINT_URL``), so the
  function's process imports boto3, builds its clients, signs and sends its requests for real: the
  template's DynamoDB tables (ledger, waits, webhook events, built from their definitions), the LiveKit
  secret in Secrets Manager (read through Powertools Parameters as deployed) and a state machine the
  API starts executions of. Any request moto refuses fails the run: a step that logs an AWS error and
  goes on would be timed doing less than it does when deployed;
- LiveKit: a ``LiveKitSimulator`` on real time serving HTTP on 127.0.0.1.
Each state's event is what Step Functions would pass: the execution's input (read back from what the
API started) through the state's ``Parameters``, and its output through ``ResultPath``/``OutputPath``.

Bytecode: as the artifact `make build` ships (``bench.bytecode.PRECOMPILED``: the dependencies and
functions/ as checked hash-based .pyc, through a cache prefix), as ``bench.startup``'s cold imports, so
the two agree; ``environment_base(bytecode.NO_BYTECODE)`` for the artifact plain `sam build` makes.

Not counted: Step Functions' own transitions and Lambda's invoke and sandbox set-up between the steps
(no local stand-in measures them), and network latency to AWS and LiveKit (localhost here). The
"Dispatch agent" call is timed to its return, so it includes the ledger write after CreateDispatch.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dispatch_verify import names

from bench import bytecode, stack_view
from bench.stack_view import Step

REGION, ACCOUNT = "us-east-1", "123456789012"
AGENT = "bench-agent"
# The function's process: time the handler's import, then each call; results to a file (the handlers
# log to stdout). Nothing is imported before the timed import that the handler would not import itself.
_INVOKE = """\
import importlib, sys, time
started = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter() - started
import json, types
handler = getattr(module, sys.argv[2])
with open(sys.argv[3]) as source:
    events = json.load(source)
context = types.SimpleNamespace(
    function_name=sys.argv[4], memory_limit_in_mb=256, aws_request_id="bench",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[4],
)
calls = []
for event in events:
    started = time.perf_counter()
    output = handler(event, context)
    calls.append({"s": time.perf_counter() - started, "output": output})
with open(sys.argv[5], "w") as sink:
    json.dump({"import_s": imported, "calls": calls}, sink)
"""


@dataclass
class StepTimes:
    """One function's figures over the chain's runs (seconds)."""

    state: str | None
    function: str
    imports: list[float] = field(default_factory=list)
    first_calls: list[float] = field(default_factory=list)
    warm_calls: list[float] = field(default_factory=list)


class _MotoEndpoint(ThreadingHTTPServer):
    """moto's responses over HTTP: each request is handed to moto's in-process dispatcher (active
    under ``mock_aws``) as the AWS URL its signature names (``Credential=.../region/service/...``)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MotoHandler)
        self.errors: list[str] = []  # what moto refused: a bench request the real stack would not see

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _MotoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.compat import HTTPHeaders
        from moto.core.models import botocore_stubber

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        scope = self.headers.get("Authorization", "").split("Credential=", 1)[-1].split("/")
        region, service = (scope[2], scope[3]) if len(scope) > 3 else (REGION, "unknown")
        headers = HTTPHeaders()
        for key, value in self.headers.items():
            headers[key] = value
        request = AWSPreparedRequest(
            method=self.command,
            url=f"https://{service}.{region}.amazonaws.com{self.path}",
            headers=headers,
            body=body,
            stream_output=False,
        )
        answered = botocore_stubber.process_request(request)
        status, out_headers, out_body = answered if answered else (404, {}, b"not mocked")
        data = out_body.encode() if isinstance(out_body, str) else bytes(out_body or b"")
        if int(status) >= 400:
            target = self.headers.get("X-Amz-Target") or f"{self.command} {self.path}"
            self.server.errors.append(f"{service} {target}: {int(status)} {data[:200]!r}")  # type: ignore[attr-defined]
        self.send_response(int(status))
        for key, value in (out_headers or {}).items():
            if key.lower() not in ("content-length", "server", "date"):
                self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


# The template's tables and the variable that names each in a function's environment.
TABLES = {
    names.LEDGER_TABLE: names.LEDGER_TABLE_NAME,
    names.WAIT_TABLE: names.WAIT_TABLE_NAME,
    names.WEBHOOK_EVENT_TABLE: names.WEBHOOK_EVENT_TABLE_NAME,
}


def _table(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A table's create_table arguments, from the template's definition."""
    properties = template["Resources"][logical_id]["Properties"]
    keys = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {key: properties[key] for key in keys if key in properties}


def _api_event(request: dict[str, Any]) -> dict[str, Any]:
    """The sample POST /dispatches proxy event (events/), carrying ``request`` as its body."""
    event: dict[str, Any] = json.loads((stack_view.ROOT / "events" / "api_post_dispatch.json").read_text())
    event["body"] = json.dumps(request)
    return event


def _path(document: Any, path: str) -> Any:
    """A reference path ("$", "$.a.b") into ``document``."""
    if path == "$":
        return document
    if not path.startswith("$."):
        raise ValueError(f"path {path!r} is not followed here")
    for key in path[2:].split("."):
        document = document[key]
    return document


def _parameters(template: Any, state_input: Any, context: dict[str, Any]) -> Any:
    """A state's ``Parameters`` (JSONPath): "key.$" values resolved against the input or ($$) context."""
    if isinstance(template, dict):
        resolved = {}
        for key, value in template.items():
            if key.endswith(".$"):
                source = context if value.startswith("$$") else state_input
                resolved[key[:-2]] = _path(source, value[1:] if value.startswith("$$") else value)
            else:
                resolved[key] = _parameters(value, state_input, context)
        return resolved
    if isinstance(template, list):
        return [_parameters(value, state_input, context) for value in template]
    return template


def _event_for(state: dict[str, Any], state_input: Any, context: dict[str, Any]) -> Any:
    """What a lambda:invoke state sends its function: ``Parameters.Payload`` over the input."""
    if "Arguments" in state or "Parameters" not in state:
        raise ValueError("only JSONPath lambda:invoke states (Parameters.Payload) are followed here")
    effective = _path(state_input, state.get("InputPath", "$"))
    return _parameters(state["Parameters"]["Payload"], effective, context)


def _output_of(state: dict[str, Any], state_input: Any, payload: Any) -> Any:
    """The state's output: lambda:invoke's result ``{"Payload": ...}`` through ResultSelector,
    ResultPath and OutputPath."""
    result: Any = {"Payload": payload, "StatusCode": 200}
    if "ResultSelector" in state:
        result = _parameters(state["ResultSelector"], result, {})
    result_path = state.get("ResultPath", "$")
    if result_path is None:
        merged = state_input
    elif result_path == "$":
        merged = result
    else:
        merged = json.loads(json.dumps(state_input))
        *parents, last = result_path[2:].split(".")
        target = merged
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = result
    return _path(merged, state.get("OutputPath", "$"))


def _run_function(
    step: Step, env: dict[str, str], events: list[Any], workdir: Path
) -> tuple[float, list[float], list[Any]]:
    """One fresh process: (import s, [call s...], [output...])."""
    events_path, out_path = workdir / "events.json", workdir / "out.json"
    events_path.write_text(json.dumps(events))
    module, handler = step.function.handler.rsplit(".", 1)
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script, the template's handler
        [
            sys.executable,
            "-c",
            _INVOKE,
            module,
            handler,
            str(events_path),
            step.function.logical_id,
            str(out_path),
        ],
        env=env,
        cwd=stack_view.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{step.function.logical_id} failed:\n{done.stderr[-4000:]}")
    result = json.loads(out_path.read_text())
    return (
        float(result["import_s"]),
        [float(call["s"]) for call in result["calls"]],
        [call["output"] for call in result["calls"]],
    )


def time_chain(runs: int, warm: int, base_env: dict[str, str]) -> tuple[list[Step], list[StepTimes]]:
    """``runs`` cold chains, each with 1 + ``warm`` requests; ``base_env``: what every function's
    environment has besides the template's (PYTHONPATH...)."""
    from moto import mock_aws

    from clocks import RealClock
    from livekit_sim import LiveKitSimulator

    template, asl = stack_view.load_template(), stack_view.load_asl()
    chain = stack_view.chain_to_dispatch(asl, template)
    times = {i: StepTimes(step.state, step.function.logical_id) for i, step in enumerate(chain)}
    endpoint = _MotoEndpoint()
    server = threading.Thread(target=endpoint.serve_forever, daemon=True)
    with mock_aws(), LiveKitSimulator(RealClock()) as sim, tempfile.TemporaryDirectory() as tmp:
        server.start()
        try:
            aws_env, machine_arn = _stack(template, sim, endpoint.url)
            for run in range(runs):
                endpoint.errors.clear()
                _one_chain(
                    run, warm, chain, template, asl, (base_env, aws_env), machine_arn, sim, times, Path(tmp)
                )
                if endpoint.errors:  # a step that logs and goes on would otherwise be timed doing less
                    raise RuntimeError("AWS (moto) refused bench requests:\n" + "\n".join(endpoint.errors))
        finally:
            endpoint.shutdown()
            endpoint.server_close()
    return chain, list(times.values())


def _stack(template: dict[str, Any], sim: Any, endpoint_url: str) -> tuple[dict[str, str], str]:
    """The AWS side in moto; what every function's environment gets to reach it."""
    import boto3

    session = boto3.session.Session(region_name=REGION)
    tables = {}
    for logical_id, variable in TABLES.items():
        if logical_id in template["Resources"]:
            tables[variable] = f"bench-{logical_id}"
            session.client("dynamodb").create_table(
                TableName=tables[variable], **_table(template, logical_id)
            )
    secret = session.client("secretsmanager").create_secret(
        Name="bench/livekit",
        SecretString=json.dumps({"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}),
    )
    machine = session.client("stepfunctions").create_state_machine(
        name="bench-dispatch-verify",
        definition=json.dumps({"StartAt": "Started", "States": {"Started": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
    )
    session.client("events").create_event_bus(Name="bench-bus")
    env = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        **tables,
        names.LIVEKIT_SECRET_ARN: secret["ARN"],
        names.STATE_MACHINE_ARN: machine["stateMachineArn"],
        names.EVENT_BUS_NAME: "bench-bus",
    }
    return env, str(machine["stateMachineArn"])


def _one_chain(
    run: int,
    warm: int,
    chain: list[Step],
    template: dict[str, Any],
    asl: dict[str, Any],
    envs: tuple[dict[str, str], dict[str, str]],
    machine_arn: str,
    sim: Any,
    times: dict[int, StepTimes],
    workdir: Path,
) -> None:
    import boto3

    sfn = boto3.session.Session(region_name=REGION).client("stepfunctions")
    tag = uuid.uuid4().hex[:8]
    requests = [
        {"room": f"bench-{run}-{k}-{tag}", "agent_name": AGENT, "idempotency_key": f"bench-{run}-{k}-{tag}"}
        for k in range(1 + warm)
    ]
    dispatches_before = _dispatches(sim)
    inputs: list[Any] = []
    executions: list[str] = []
    warm_in: dict[str, bool] = {}  # functions already started in this chain: warm from then on
    for index, step in enumerate(chain):
        base_env, aws_env = envs
        function_env = {
            **base_env,
            **stack_view.function_environment(template, step.function.logical_id),
            **aws_env,
        }
        if step.state is None:
            events = [_api_event(request) for request in requests]
        else:
            state = asl["States"][step.state]
            events = [
                _event_for(state, state_input, {"Execution": {"Name": name, "Input": requests[k]}})
                for k, (state_input, name) in enumerate(zip(inputs, executions, strict=True))
            ]
        imported, calls, outputs = _run_function(step, function_env, events, workdir)
        record = times[index]
        if warm_in.get(step.function.logical_id):
            record.warm_calls.extend(calls)  # the same function again: its instance is warm
        else:
            record.imports.append(imported)
            record.first_calls.append(calls[0])
            record.warm_calls.extend(calls[1:])
            warm_in[step.function.logical_id] = True
        if step.state is None:
            for output in outputs:
                if int(output.get("statusCode", 0)) not in (200, 201, 202):
                    raise RuntimeError(f"the API refused a bench request: {output}")
            started = sfn.list_executions(stateMachineArn=machine_arn, maxResults=1000)["executions"]
            by_name = {e["name"]: e["executionArn"] for e in started}
            executions = [json.loads(output["body"])["request_id"] for output in outputs]
            inputs = [
                json.loads(sfn.describe_execution(executionArn=by_name[name])["input"]) for name in executions
            ]
        else:
            state = asl["States"][step.state]
            inputs = [_output_of(state, i, o) for i, o in zip(inputs, outputs, strict=True)]
    sent = _dispatches(sim) - dispatches_before
    if sent != len(requests):
        raise RuntimeError(f"{len(requests)} requests, {sent} CreateDispatch calls reached the simulator")


def _dispatches(sim: Any) -> int:
    """CreateDispatch calls the simulator answered with success."""
    return sum(1 for method, _, status in sim.calls if method == "CreateDispatch" and status == 200)


def summary(chain: list[Step], times: list[StepTimes]) -> dict[str, Any]:
    """Medians per function and the chain's totals: cold = each function's first start (import + first
    call) and, for a function met again, its warm call; warm = every step's warm call."""
    rows = []
    cold_s = warm_s = 0.0
    seen: set[str] = set()
    for step, record in zip(chain, times, strict=True):
        warm_median = statistics.median(record.warm_calls) if record.warm_calls else None
        cold_start = step.function.logical_id not in seen
        seen.add(step.function.logical_id)
        row: dict[str, Any] = {
            "state": step.state or "(API: starts the execution)",
            "function": step.function.logical_id,
            "handler": step.function.short,
            "cold_start": cold_start,
            "import_s": round(statistics.median(record.imports), 4) if record.imports else None,
            "first_call_s": round(statistics.median(record.first_calls), 4) if record.first_calls else None,
            "warm_call_s": round(warm_median, 4) if warm_median is not None else None,
        }
        if cold_start:
            cold_s += statistics.median(record.imports) + statistics.median(record.first_calls)
        elif warm_median is not None:
            cold_s += warm_median
        if warm_median is None:
            raise ValueError("no warm calls measured: the chain needs at least one warm request")
        warm_s += warm_median
        rows.append(row)
    return {
        "steps": rows,
        "cold_starts": len(seen),
        "cold_starts_target": 2,
        "cold_starts_target_met": len(seen) <= 2,
        "cold_s": round(cold_s, 4),
        "warm_s": round(warm_s, 4),
    }


def environment_base(bytecode_mode: str = bytecode.PRECOMPILED) -> dict[str, str]:
    """What every function's process keeps of this one's environment: no AWS or Powertools settings
    (the template's and the runtime's replace them), PYTHONPATH to the package as Lambda ships it, and
    the bytecode of ``bytecode_mode`` (``bench.bytecode``: compiled on first use)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYDANTIC_"))}
    env["PYTHONPATH"] = str(stack_view.ROOT / "functions")
    env.update(bytecode.environment(bytecode_mode))
    env.pop("PYTHONSTARTUP", None)
    for name in (
        *names.TEMPLATE_ENVIRONMENT,
        names.LIVEKIT_URL,
        names.LIVEKIT_API_KEY,
        names.LIVEKIT_API_SECRET,
    ):
        env.pop(name, None)
    return env
