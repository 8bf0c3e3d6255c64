"""The local engine: the real ASL on moto's Step Functions interpreter, the real handlers in-process.

``LocalEngine`` starts moto, builds in it what CloudFormation would make of the template (the CloudFormation
SAM's own translator produces, local_engine/stack.py), runs each handler as its function's role with IAM
enforced by moto (local_engine/credentials.py), bridges
moto's Lambda invokes and waits to the handlers and the shared clock (local_engine/moto_bridge.py), and
keeps what the handlers print. Everything it changes (environment, sys.path, sys.stdout/stderr,
logging streams, the steps' clock, moto's internals) is restored on exit.

It refuses what AWS refuses, with AWS's error (the numbers are in local_engine/moto_bridge.py):

- a state's input after Parameters, its output, or a task's result over 256 KB (262,144 bytes of
  UTF-8 JSON): the execution fails with ``States.DataLimitExceeded``, which neither a Retrier nor a
  Catcher on ``States.ALL`` matches (only one that names it); ``States.ALL`` skips ``States.Runtime``
  too;
- a history of 25,000 events: the execution fails with ``States.Runtime``, "The execution reached the
  maximum number of history events (25000).", as its 25,000th event (``history_event_limit`` lowers
  the number for a spec);
- an execution name used on the state machine in the last 90 days (of the engine's clock) after its
  execution closed, or a running one's with another input: ``ExecutionAlreadyExists`` (the same name
  and input while it runs returns that execution);
- a Lambda invoke over 6,291,456 bytes: ``RequestEntityTooLargeException`` (413); a response over
  6,291,556 bytes: a function error ``Function.ResponseSizeTooLarge``, which is the task's error;
- an SNS message over 262,144 bytes: ``InvalidParameter`` "Invalid parameter: Message too long";
  PutEvents entries over 262,144 bytes in all: ``ValidationException`` "Total size of the entries in
  the request is over the limit.";
- a DynamoDB item over 400 KB (409,600 bytes): ``ValidationException`` "Item size has exceeded the
  maximum allowed size" (PutItem), "Item size to update has exceeded the maximum allowed size"
  (UpdateItem).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.credentials import ReadOnlyCredentials
from moto import mock_aws

from clocks import Clock, VirtualClock
from local_engine import credentials  # the module: its names read as credentials.acting_as
from local_engine.aws_faults import AwsFaults
from local_engine.errors import EngineClosing
from local_engine.moto_bridge import (
    HISTORY_EVENT_LIMIT,
    LambdaTarget,
    MotoBridge,
    OutputCapture,
    add_aws_managed_policies,
    iam_enforced,
    policies_allow,
    role_policy_documents,
)
from local_engine.queues import QueueEventSource
from local_engine.stack import (
    ACCOUNT_ID,
    PLACEHOLDER_ARN,
    Stack,
    Translated,
    code_path,
    function_environment,
    managed_policy_arns,
    provision,
    translate,
)

_POLL_S = 0.02  # real time between two looks at a running execution
_WAIT_ALL_POLL_S = 0.5  # real time between two looks at many running executions
_CAPTURE = "local-engine-capture"
_DRAIN_S = 10.0  # how long closing waits for handler calls in flight


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    output: Any  # the parsed output (a dict for our workflow), None unless SUCCEEDED
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]

    def lambda_invocations(self) -> int:
        """Handler calls, retries included."""
        kinds = {"LambdaFunctionScheduled", "TaskScheduled"}
        return sum(
            1
            for event in self.history
            if event["type"] in kinds
            and (event["type"] == "LambdaFunctionScheduled"
                 or event.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda")
        )  # fmt: skip

    def state_transitions(self) -> int:
        """States entered (what Standard workflows bill)."""
        return len(self.states_entered())

    def states_entered(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if event["type"].endswith("StateEntered")
        ]


@dataclass(frozen=True)
class Invocation:
    """One handler call, by Step Functions or beside it (the API behind API Gateway)."""

    function: str  # the template's logical id
    memory_mb: int
    started_at: float  # on the engine's clock
    duration_s: float  # real seconds the handler ran (handlers take no virtual time)
    execution_name: str | None  # the execution whose task it was (None: an API call)
    failed: bool


class LocalEngine:
    def __init__(
        self,
        clock: Clock,
        livekit: dict[str, str] | None,
        *,
        template_path: str | Path = "template.yaml",
        region: str = "us-east-1",
        capture_lambda_output: bool = True,
        parameters: dict[str, str] | None = None,
        history_event_limit: int = HISTORY_EVENT_LIMIT,
    ) -> None:
        self.clock = clock
        self.history_event_limit = history_event_limit
        self.region = region
        self.template_path = Path(template_path)
        self.translated: Translated | None = None
        self.lambda_output: list[str] = []
        self.state_machine_arn = ""
        self.stack: Stack | None = None
        self.secret_arn: str | None = None
        self._livekit = livekit
        self._capture_output = capture_lambda_output
        self._parameters = dict(parameters or {})
        self._targets: dict[str, LambdaTarget] = {}
        self._notifications: list[dict[str, Any]] = []
        self._bus_events: list[dict[str, Any]] = []
        self._queues: dict[str, str] = {}
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self._handlers_lock = threading.Lock()
        # The stack's SQS event source mappings, by queue URL (local_engine/queues.py).
        self.queue_sources: dict[str, QueueEventSource] = {}
        self.api_integration_credentials: dict[str, ReadOnlyCredentials] = {}
        self._output_lock = threading.Lock()
        self._in_flight = threading.Condition()
        self._calls, self._closing = 0, False
        self._exit = ExitStack()
        self.invocations: list[Invocation] = []  # every handler call, in the order they ended
        self._invocations_lock = threading.Lock()
        # AWS's own faults (throttling, service errors, PutEvents' failed entries), aimed by a test
        # or the chaos run at one execution; see local_engine/aws_faults.py.
        self.aws_faults = AwsFaults()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LocalEngine:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        saved_env = dict(os.environ)
        self._exit.callback(_restore_environ, saved_env)
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_SESSION_TOKEN="testing",
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
        )
        mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }
        )
        mock.start()
        self._exit.callback(mock.stop)
        self.aws_faults.install()
        self._exit.callback(self.aws_faults.uninstall)
        # Every boto3 session made from here on signs with ContextCredentials (local_engine/credentials.py).
        self._exit.enter_context(credentials.environment_credentials_per_call())
        # One botocore session for every engine of the process: it keeps the parsed service models.
        self.session = boto3.Session(botocore_session=_botocore_session(), region_name=self.region)
        self.sfn = self.session.client("stepfunctions")

        self.translated = translated = self._with_secret(
            translate(self.template_path, self._parameters, region=self.region)
        )
        add_aws_managed_policies(ACCOUNT_ID, self.region, managed_policy_arns(translated))
        self.stack = stack = provision(translated, self.session)
        self.state_machine_arn = next(iter(stack.state_machines.values()), "")
        self._subscribe_capture_queues(stack)
        self._act_as_admin()
        sts = self.session.client("sts")
        for lid, name in stack.physical("AWS::Lambda::Function").items():
            code = str(code_path(stack, lid))
            if code not in sys.path:
                sys.path.insert(0, code)
                self._exit.callback(sys.path.remove, code)
            props = stack.properties[lid]
            env = function_environment(stack, lid)
            self._targets[name] = LambdaTarget(
                name=name,
                arn=stack.attributes[(lid, "Arn")],
                handler=props["Handler"],
                timeout_s=int(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                environment=env,
                role_arn=props["Role"],
                credentials=_assumed(sts, props["Role"], name),
            )
            os.environ.update(env)

        machine_credentials = self._state_machine_credentials(sts)  # assumed before IAM is enforced
        self.api_integration_credentials = self._api_integration_credentials(sts)
        for props in stack.of_type("AWS::Lambda::EventSourceMapping").values():
            source = QueueEventSource(self, props)
            self.queue_sources[source.queue_url] = source
        self._use_clock_in_steps()
        if self._capture_output:
            capture = OutputCapture()
            capture.start()
            self._exit.callback(capture.stop)
            self._capture: OutputCapture | None = capture
        else:
            self._capture = None
        # From here on each handler call signs as its function's role, and moto refuses what the
        # role's policies do not allow; Step Functions invokes a function only if its role may.
        self._exit.enter_context(iam_enforced())
        bridge = MotoBridge(
            self.clock,
            self._targets.get,
            around=self._around_handler,
            may_invoke=self._may_invoke,
            history_event_limit=self.history_event_limit,
            integration_credentials=machine_credentials,
        )
        bridge.install()
        self._exit.callback(bridge.uninstall)
        self.bridge = bridge
        self._exit.callback(self._stop_running_executions)  # first thing on exit, bridge still in place

    def _state_machine_credentials(self, sts: Any) -> ReadOnlyCredentials | None:
        """The state machine role's keys: Step Functions calls SNS and EventBridge (its service
        integrations) as that role, so moto checks the role's policies for them."""
        machines = self.stack.of_type("AWS::StepFunctions::StateMachine") if self.stack else {}
        for name, props in machines.items():
            return _assumed(sts, str(props["RoleArn"]), name[:64])
        return None

    def _api_integration_credentials(self, sts: Any) -> dict[str, ReadOnlyCredentials]:
        """The keys of each role an API Gateway AWS integration names as its ``credentials`` (the
        webhook's SendMessage to SQS): API Gateway acts as that role, so moto checks its policies."""
        roles: set[str] = set()
        for props in self.stack.of_type("AWS::ApiGateway::RestApi").values() if self.stack else []:
            for operations in (props.get("Body") or {}).get("paths", {}).values():
                for operation in operations.values():
                    role = (operation.get("x-amazon-apigateway-integration") or {}).get("credentials")
                    if isinstance(role, str) and role.startswith("arn:aws:iam::"):
                        roles.add(role)
        return {role: _assumed(sts, role, "apigateway") for role in sorted(roles)}

    def _with_secret(self, translated: Translated) -> Translated:
        """Store the LiveKit credentials in Secrets Manager, and put the secret's ARN where the
        translation holds the placeholder of the parameter that names it."""
        if self._livekit is None:
            return translated
        created = self.session.client("secretsmanager").create_secret(
            Name="dispatch-verify/livekit", SecretString=json.dumps(self._livekit)
        )
        self.secret_arn = str(created["ARN"])
        return translated.replace(PLACEHOLDER_ARN, self.secret_arn)

    def _act_as_admin(self) -> None:
        """The engine and the tests act as an administrator (an IAM user allowed everything): with IAM
        enforced, a request must come from someone moto's IAM knows."""
        iam = self.session.client("iam")
        iam.create_user(UserName="local-engine-admin")
        everything = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="local-engine-admin", PolicyName="everything", PolicyDocument=json.dumps(everything)
        )
        key = iam.create_access_key(UserName="local-engine-admin")["AccessKey"]
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        boto3.DEFAULT_SESSION = None  # one made earlier holds moto's fake keys (mock_aws restores it)
        self.session = boto3.Session(botocore_session=_botocore_session(), region_name=self.region)
        self.sfn = self.session.client("stepfunctions")

    def _may_invoke(self, function_arn: str) -> str | None:
        """None if the state machine's role allows lambda:InvokeFunction on the function, else the
        role's ARN (Step Functions invokes with that role)."""
        machines = self.stack.of_type("AWS::StepFunctions::StateMachine") if self.stack else {}
        for props in machines.values():
            role_arn = str(props["RoleArn"])
            if not policies_allow(
                role_policy_documents(ACCOUNT_ID, role_arn), "lambda:InvokeFunction", function_arn
            ):
                return role_arn
        return None

    def _subscribe_capture_queues(self, stack: Stack) -> None:
        sqs = self.session.client("sqs")
        for kind in ("notifications", "bus-events"):
            self._queues[kind] = sqs.create_queue(QueueName=f"{_CAPTURE}-{kind}")["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{_CAPTURE}"
        sns, events = self.session.client("sns"), self.session.client("events")
        for topic_arn in stack.topics.values():
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=f"{arn}-notifications")
        for bus in stack.buses.values():
            rule = json.dumps({"account": [ACCOUNT_ID]})
            events.put_rule(Name=_CAPTURE, EventBusName=bus, EventPattern=rule, State="ENABLED")
            target = {"Id": "capture", "Arn": f"{arn}-bus-events"}
            events.put_targets(Rule=_CAPTURE, EventBusName=bus, Targets=[target])

    def _use_clock_in_steps(self) -> None:
        try:  # cached secrets would outlive this engine's moto (and its credentials)
            from aws_lambda_powertools.utilities import parameters

            parameters.clear_caches()  # type: ignore[no-untyped-call]
            self._exit.callback(parameters.clear_caches)
        except ImportError:
            pass
        try:
            from dispatch_verify import clock as step_clock
        except ImportError:  # a template whose handlers do not use the shared clock
            return
        step_clock.set_clock(self.clock.now)
        self._exit.callback(step_clock.reset_clock)

    @contextmanager
    def handler_call(self, target: LambdaTarget) -> Iterator[None]:
        """Wrap a call of ``target``'s handler made outside Step Functions (the API behind API
        Gateway): its environment, its output kept in ``lambda_output``, closing waits for it, and a
        callback wait's virtual clock stands still meanwhile (the bridge's ``handler_running``)."""
        with self.bridge.handler_running(), self._around_handler(target, None):
            yield

    @contextmanager
    def _around_handler(self, target: LambdaTarget, event: Any) -> Iterator[None]:
        """Every handler call, Step Functions' (``event`` its payload) or the API's (``event`` None):
        its environment, its output, closing waits for it, and it is recorded in ``invocations``."""
        with self.outside_call():  # no handler may start once moto and the environment are going away
            started, started_real, failed = self.clock.now(), time.perf_counter(), False
            try:
                os.environ.update(target.environment)
                with credentials.acting_as(target.credentials):
                    if self._capture is None:
                        yield
                    else:
                        with self._capture.capturing(self._keep_output):
                            yield
            except BaseException:
                failed = True
                raise
            finally:
                duration_s = time.perf_counter() - started_real
                invocation = Invocation(
                    target.name, target.memory_mb, started, duration_s, _execution_name(event), failed
                )
                with self._invocations_lock:
                    self.invocations.append(invocation)

    def _keep_output(self, lines: list[str]) -> None:
        with self._output_lock:
            self.lambda_output.extend(lines)

    def _stop_running_executions(self) -> None:
        """Executions are threads in moto: stop them, and let handler calls in flight finish, so that
        none reaches AWS after the mock and the fake credentials are gone."""
        with self._in_flight:
            self._closing = True
        for execution_arn in self._running_arns():
            self._stop_execution(execution_arn)
        with self._in_flight:
            self._in_flight.wait_for(lambda: self._calls == 0, timeout=_DRAIN_S)

    def _stop_execution(self, execution_arn: str) -> None:
        for _ in range(100):
            try:
                self.sfn.stop_execution(executionArn=execution_arn, cause="local engine closed")
                return
            except AttributeError:  # moto: the execution's worker has not set up its environment yet
                time.sleep(_POLL_S)

    @property
    def closing(self) -> bool:
        return self._closing

    @contextmanager
    def outside_call(self) -> Iterator[None]:
        """Work that reaches moto: every handler call (``_around_handler``), and what the engine does
        on no handler's behalf (API Gateway queueing a webhook, SQS making a message visible again).
        Refused once the engine is closing (``EngineClosing``), and waited for by the closing, so that
        none reaches AWS after moto is gone."""
        with self._in_flight:
            if self._closing:
                raise EngineClosing("the local engine is closing")
            self._calls += 1
        try:
            yield
        finally:
            with self._in_flight:
                self._calls -= 1
                self._in_flight.notify_all()

    def handler(self, target: LambdaTarget) -> Callable[[dict[str, Any], Any], Any]:
        """``target``'s handler function, its module imported once (one execution environment)."""
        with self._handlers_lock:
            if target.handler not in self._handlers:
                module_name, _, attribute = target.handler.rpartition(".")
                self._handlers[target.handler] = getattr(importlib.import_module(module_name), attribute)
            return self._handlers[target.handler]

    def queued(self, queue_url: str) -> None:
        """A message was sent to ``queue_url``: its event source, if the stack has one, polls now."""
        source = self.queue_sources.get(queue_url)
        if source is not None:
            source.poll()

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` once ``seconds`` have passed on the engine's clock (unless it is closing):
        a sleeping actor on a ``DiscreteClock``; on a ``VirtualClock``, whose sleep would move the
        shared time at once, when others move it past that instant (announced as a horizon); on
        real time, a sleeping thread."""

        def act() -> None:
            if self._closing:
                return
            with contextlib.suppress(EngineClosing):  # closed meanwhile: nothing left to do
                action()

        if isinstance(self.clock, VirtualClock):
            due, fired = self.clock.now() + seconds, threading.Event()

            def on_time(now: float) -> None:
                if now >= due and not fired.is_set():
                    fired.set()
                    unsubscribe()
                    remove_horizon()
                    threading.Thread(target=act, daemon=True).start()  # not in the thread that moved time

            unsubscribe = self.clock.subscribe(on_time)
            remove_horizon = self.clock.add_horizon(lambda: None if fired.is_set() else due)
            return

        def wait_then_act() -> None:
            self.clock.sleep(seconds)
            act()

        make = getattr(self.clock, "thread", None)  # a DiscreteClock counts its actors
        thread = (
            make(wait_then_act) if make is not None else threading.Thread(target=wait_then_act, daemon=True)
        )
        thread.start()

    def function(self, logical_id: str) -> LambdaTarget:
        """A function of the stack as the engine runs it: handler string, resolved environment, role.
        Functions are named after their logical ids."""
        return self._targets[logical_id]

    def functions(self) -> list[LambdaTarget]:
        return list(self._targets.values())

    def heartbeat_input(self) -> dict[str, Any]:
        """The input the stack's schedule (``AWS::Scheduler::Schedule``) sends the state machine, as
        CloudFormation created it. (Not read back from moto's Scheduler: with IAM enforced, moto
        miscomputes the SigV4 signature of its GetSchedule.)"""
        assert self.stack is not None
        schedules = self.stack.of_type("AWS::Scheduler::Schedule")
        if len(schedules) != 1:
            raise LookupError(f"the stack has {len(schedules)} schedules, not one")
        (target,) = (props["Target"] for props in schedules.values())
        if target["Arn"] != self.state_machine_arn:
            raise LookupError(f"the schedule targets {target['Arn']}, not the state machine")
        parsed = json.loads(target["Input"])
        assert isinstance(parsed, dict)
        return parsed

    # -- executions ---------------------------------------------------------------------------
    def start(self, input: dict[str, Any], name: str | None = None) -> str:
        name = name or f"local-{uuid.uuid4().hex[:12]}"
        started = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(input)
        )
        return str(started["executionArn"])

    def wait(
        self,
        execution_arn: str,
        timeout_s: float = 60.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExecutionResult:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            finished = described["status"] != "RUNNING"
            if on_event is not None or finished:  # a long history is costly to fetch: only if needed
                history = self._history(execution_arn)
                for event in history[seen:]:
                    if on_event is not None:
                        on_event(event)
                seen = len(history)
                if finished:
                    return _result(execution_arn, described, history)
            if time.monotonic() > deadline:
                history = self._history(execution_arn)
                last = history[-1]["type"] if history else "no events"
                raise TimeoutError(
                    f"execution {execution_arn} still RUNNING after {timeout_s:.0f} s of real time "
                    f"({len(history)} history events, last {last}; clock at {self.clock.now():.1f})"
                )
            time.sleep(_POLL_S)

    def wait_all(
        self,
        execution_arns: list[str],
        timeout_s: float = 600.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[ExecutionResult]:
        """Wait for many executions (listing the running ones, not describing each), then return
        their results in the order given. ``on_progress(finished, total)`` after each look."""
        deadline = time.monotonic() + timeout_s
        wanted = set(execution_arns)
        while True:
            running = wanted & self._running_arns()
            if on_progress is not None:
                on_progress(len(wanted) - len(running), len(wanted))
            if not running:
                return [self.wait(arn) for arn in execution_arns]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(running)} of {len(wanted)} executions still RUNNING after {timeout_s:.0f} s "
                    f"of real time (clock at {self.clock.now():.1f})"
                )
            time.sleep(_WAIT_ALL_POLL_S)

    def _running_arns(self) -> set[str]:
        arns: set[str] = set()
        for machine_arn in self.stack.state_machines.values() if self.stack else []:
            kwargs: dict[str, Any] = {"stateMachineArn": machine_arn, "statusFilter": "RUNNING"}
            while True:
                page = self.sfn.list_executions(**kwargs)
                arns.update(execution["executionArn"] for execution in page["executions"])
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        return arns

    def run(
        self,
        input: dict[str, Any],
        name: str | None = None,
        timeout_s: float = 60.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExecutionResult:
        return self.wait(self.start(input, name=name), timeout_s=timeout_s, on_event=on_event)

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    # -- what the workflow sent out -------------------------------------------------------------
    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages published to the template's topics, oldest first."""
        for body in self._drain("notifications"):
            attributes = {
                key: attr.get("Value") for key, attr in (body.get("MessageAttributes") or {}).items()
            }
            self._notifications.append(
                {
                    "topic_arn": body.get("TopicArn"),
                    "subject": body.get("Subject"),
                    "message": _maybe_json(body.get("Message")),
                    "attributes": attributes,
                }
            )
        return list(self._notifications)

    def bus_events(self) -> list[dict[str, Any]]:
        """EventBridge events put on the template's buses, as a rule target receives them."""
        for event in self._drain("bus-events"):
            event["detail"] = _maybe_json(event.get("detail"))
            self._bus_events.append(event)
        return list(self._bus_events)

    def _drain(self, kind: str) -> list[dict[str, Any]]:
        sqs, url = self.session.client("sqs"), self._queues[kind]
        bodies: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@functools.cache
def _assumed(sts: Any, role_arn: str, session_name: str) -> ReadOnlyCredentials:
    """``role_arn``'s keys, assumed through STS (before IAM is enforced: moto then checks trust
    policies, which name AWS services, not the engine's administrator)."""
    keys = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return ReadOnlyCredentials(keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"])


def _botocore_session() -> botocore.session.Session:
    return credentials.resolve_per_call(botocore.session.get_session())


def _result(execution_arn: str, described: dict[str, Any], history: list[dict[str, Any]]) -> ExecutionResult:
    output = described.get("output")
    return ExecutionResult(
        execution_arn=execution_arn,
        status=described["status"],
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        history=history,
    )


def _execution_name(event: Any) -> str | None:
    """The execution a task's payload names (``$$.Execution.Name``); None for an API call."""
    name = event.get("execution_name") if isinstance(event, dict) else None
    return name if isinstance(name, str) else None


def _maybe_json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _restore_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)
