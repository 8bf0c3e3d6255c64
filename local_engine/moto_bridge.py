"""The only module that reaches into moto's internals. Written against moto==5.2.5 exactly (pinned in
pyproject.toml): every name below is private to moto and may move in any release.

Touch points, all installed by ``MotoBridge.install`` and restored by ``uninstall``:

- ``moto.awslambda_simple.models.LambdaSimpleBackend.invoke`` (the Lambda backend moto uses with
  ``{"lambda": {"use_docker": False}}``) calls the real handler in-process. A handler exception is a
  Lambda *function error* (``X-Amz-Function-Error: Unhandled`` and an ``errorType`` payload), which
  moto's Step Functions interpreter turns into the ASL error name that ``Retry``/``Catch`` match.
- ``WaitFunction._wait_interval`` (Wait states) sleeps on the shared clock.
- the ``time`` module seen by ``retrier_decl`` (retry back-off) is a shim whose ``sleep`` is the clock's.
- hook, off by default: the ``time`` seen by ``state_task_service_callback`` (the 0.5 s poll of
  ``.sync`` tasks).
- on a virtual clock (one with ``advance``), the timeout of ``.waitForTaskToken`` tasks ("Await
  agent": ``TimeoutSeconds``/``TimeoutSecondsPath``) runs on the clock: ``ExecutionState.
  _evaluate_with_timeout`` of such a task waits on a ``_ClockEvent`` (through the ``threading`` that
  ``execute_state`` sees), which, once the task's handler has returned and while no other runs,
  moves the clock to the next event the clock's horizons announce (so the simulator's join, and
  its webhook, happen on time) or by ``_CALLBACK_MAX_STEP_S`` towards the deadline;
  ``StateTaskServiceCallback._wait_for_task_token_timeout`` ends at the same deadline. On a real
  clock both stay moto's own (real time). ``SendTaskSuccess`` ends either wait at once.

- on a ``DiscreteClock`` (many executions at once), instead of the above: every thread of an
  execution is an actor of the clock (``ExecutionWorker.start``, ``program``'s and ``execute_state``'s
  ``Thread``), a task's timeout and a program's join wait on the clock (their ``threading``), and a
  ``.waitForTaskToken`` task's wait for its token is a clock event that ``CallbackEndpoint.notify``
  (SendTaskSuccess/Failure) and ``interrupt_all`` set.
- for speed, on any clock: ``ExecutionWorker._get_evaluation_entrypoint`` parses each definition
  once (moto parses the ASL for every execution), ``lambda_eval_utils.boto_client_for`` is
  cached per region (moto builds a boto3 client for every Lambda task), and the ``parse`` of
  ``asl.utils.json_path`` and of ``result_path`` keeps each JSONPath parsed (moto builds ply's tables
  for every path a state reads, most of a Pass state's cost).

AWS's walls (``_enforce_walls``; the numbers are this module's constants), each refused as AWS does:

- 256 KB of state data: the ``is_within_size_quota`` that ``state``, ``state_task_lambda`` and
  ``state_task_service`` import counts compact UTF-8 JSON and allows exactly 262,144 bytes; the
  ``_verify_size_quota`` of ``StateTaskLambda`` and ``StateTaskService`` checks a Lambda task's
  payload (not moto's whole Invoke response) and leaves a task state's output to
  ``CommonStateField``'s check; ``Parargs._eval_body`` checks a state's input after Parameters;
  ``ErrorEqualsDecl._eval_body`` keeps ``States.ALL`` from matching States.DataLimitExceeded and
  States.Runtime (a name still matches itself).
- 25,000 history events: ``EventManager.add_event`` refuses any event but an execution's end once the
  next would be number ``history_event_limit``; the execution fails with States.Runtime as that event.
  ``StepFunctionResponse.get_execution_history`` pages (``maxResults``, ``nextToken``,
  ``reverseOrder``) instead of serialising every event each call.
- execution names: ``BaseExecutionWorkerCommunication._reflect_execution_status`` notes the clock's
  time an execution closed, and ``StateMachine._handle_name_input_idempotency`` first forgets the
  executions closed more than 90 days (of the clock) ago, so that their names are free again.
- Lambda's 6 MB: checked in the bridge's ``invoke`` (request and response); the ``sys`` seen by
  ``moto.awslambda.responses`` hides moto's rough ``getsizeof`` check.
- ``SNSBackend.publish`` counts a message's bytes (moto counts characters); ``EventsBackend.put_events``
  refuses entries over 256 KB in all; ``dynamo_type.LimitedSizeDict.__setitem__`` refuses an item
  over 409,600 bytes (moto: 405,000, and an attribute being replaced counted twice).

``OutputCapture`` (no moto involved) keeps what handlers print or log, as Lambda keeps a function's
stdout/stderr in its log instead of a terminal.

Not bridged (real time even on a virtual clock): ``TimeoutSeconds`` of other tasks (Lambda calls
that run in real time anyway), ``HeartbeatSeconds``, and Wait states with ``Timestamp``/``TimestampPath``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import io
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import jsonpath_ng.ext.parser
import jsonpath_ng.parser
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError
from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError
from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    HistoryEventType,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils, state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_aws_sdk,
    state_task_service_callback,
    state_task_service_events,
    state_task_service_sns,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.utils import TMP_THREADS

from clocks import Clock, DiscreteClock

MOTO_VERSION = "5.2.5"
# AWS's walls (see "AWS's walls" below): what AWS refuses, refused here with AWS's error.
STATE_DATA_LIMIT_BYTES = 262_144  # a state's input (after Parameters) or output, UTF-8 JSON
HISTORY_EVENT_LIMIT = 25_000  # events in one execution's history, the ExecutionFailed included
EXECUTION_NAME_RETENTION_S = 90 * 86_400  # a closed execution's name stays taken this long
LAMBDA_REQUEST_LIMIT_BYTES = 6_291_456  # a synchronous invoke's payload
LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_556  # its response (the number Lambda's own error names)
SNS_MESSAGE_LIMIT_BYTES = 262_144  # a Publish's message, UTF-8
EVENTS_ENTRIES_LIMIT_BYTES = 262_144  # a PutEvents call's entries, as EventBridge counts them
DYNAMODB_ITEM_LIMIT_BYTES = 409_600  # an item: attribute names and values
_INTERPRETER_LOG = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
_WAIT_SLICE_S = 1.0  # a Wait sleeps in slices so that StopExecution ends it within a slice
CALLBACK_SLICE_S = 0.1  # real seconds between two looks of a callback task's inner wait
_CALLBACK_GRACE_S = 0.002  # real seconds between two looks at a callback wait's event
_QUIET_S = 0.02  # real seconds after a handler call before a callback wait moves the clock
_CALLBACK_MAX_STEP_S = 1.0  # virtual seconds a callback wait moves at most at a time
_NO_HANDLER_S = 1.0  # real seconds a callback wait waits for its task's handler to run
_STOPPED_WAIT_MARGIN_S = 30.0
_callback_wait = threading.local()  # set while a .waitForTaskToken task's timeout is being set up


class _AccessDenied(JsonRESTError):
    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


class _RequestTooLarge(JsonRESTError):
    code = 413

    def __init__(self, size: int) -> None:
        super().__init__(
            "RequestEntityTooLargeException",
            f"{size} byte payload is too large for the RequestResponse invocation type "
            f"(limit {LAMBDA_REQUEST_LIMIT_BYTES} bytes)",
        )


@dataclass(frozen=True)
class LambdaTarget:
    """What the bridge needs to run one function of the template."""

    name: str
    arn: str
    handler: str  # "package.module.function"
    timeout_s: int = 3
    memory_mb: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    role_arn: str = ""
    credentials: Any = None  # botocore ReadOnlyCredentials of the role, assumed (None: the caller's)


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s  # Lambda timeouts are wall time
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The payload Lambda returns for an unhandled exception."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__.tb_next if exc.__traceback__ else None),
    }


def function_name_of(name_or_arn: str) -> str:
    """``Fn``, ``Fn:qualifier``, ``arn:aws:lambda:r:a:function:Fn[:qualifier]`` → ``Fn``."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":")[0]


class _ClockTime:
    """Stands in for the ``time`` module inside one moto module: ``sleep`` is the clock's."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _ClockEvent:
    """A ``threading.Event`` whose ``wait(timeout)`` counts the timeout on a virtual clock.

    While no handler runs (and none ended in the last ``_QUIET_S`` of real time, so that moto can
    take in what it did, e.g. a SendTaskSuccess), the clock moves straight to the next thing that
    happens: the earliest event the clock's horizons announce (the simulator's next join, whose
    webhook may end the wait), else the deadline. A handler runs in real time: the clock stands still.
    """

    def __init__(self, bridge: MotoBridge) -> None:
        self._bridge = bridge
        self._event = threading.Event()
        self._calls_before = bridge.calls_ended()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return self._event.wait()
        clock = self._bridge.clock
        deadline = clock.now() + timeout
        started = time.monotonic()
        while not self._event.wait(_CALLBACK_GRACE_S):
            if self._bridge.busy() or not self._task_handler_returned(started):
                continue
            now = clock.now()
            if now >= deadline:
                return self._event.is_set()
            step = min(deadline - now, _CALLBACK_MAX_STEP_S)
            next_event_at = getattr(clock, "next_event_at", lambda: None)()
            if next_event_at is not None:
                step = min(step, max(0.0, next_event_at - now))
            clock.sleep(step)
        return True

    def _task_handler_returned(self, started: float) -> bool:
        """The task's own Lambda (which records the token) has run: time may pass for the wait. One
        execution at a time runs on a virtual clock, so the next call to end is that one (or, for a
        task that invokes no Lambda, give up waiting for it after ``_NO_HANDLER_S``)."""
        if self._bridge.calls_ended() > self._calls_before:
            return True
        return time.monotonic() - started > _NO_HANDLER_S


class _TimeoutThreading:
    """The ``threading`` module as ``execute_state`` sees it: ``Event()`` is a ``_ClockEvent`` while a
    ``.waitForTaskToken`` task sets up its timeout (on this thread), the real one otherwise."""

    def __init__(self, bridge: MotoBridge) -> None:
        self._bridge = bridge

    def Event(self) -> Any:
        if getattr(_callback_wait, "active", False):
            return _ClockEvent(self._bridge)
        return threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class _DiscreteThreading:
    """The ``threading`` module as ``execute_state`` and ``program`` see it on a ``DiscreteClock``: their
    threads are actors of the clock, a task's timeout event and a program's join count on it."""

    def __init__(self, clock: DiscreteClock) -> None:
        self._clock = clock

    def Event(self) -> Any:
        return self._clock.event()

    def Thread(self, target: Callable[..., object], args: tuple[Any, ...] = (), daemon: bool = True,
               **_: Any) -> threading.Thread:  # fmt: skip
        return self._clock.thread(target, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


_endpoint_events_lock = threading.Lock()
_parse_lock = threading.Lock()
_programs: dict[str, Any] = {}


def _parsed_program(worker: Any) -> Any:
    """``ExecutionWorker._get_evaluation_entrypoint``, parsed once per definition: moto parses the ASL
    (ANTLR) for every execution, the biggest cost of starting one. The program's components keep no
    per-execution state (that lives in the execution's ``Environment``), so executions share it."""
    definition = worker._evaluation_details.state_machine_details.definition
    with _parse_lock:
        program = _programs.get(definition)
        if program is None:
            program = _programs[definition] = AmazonStateLanguageParser.parse(definition)[0]
        return program


# -- AWS's walls ---------------------------------------------------------------------------------
_DATA_LIMIT = StatesErrorNameType.StatesStatesDataLimitExceeded
_TERMINAL_EVENTS = frozenset(
    {
        HistoryEventType.ExecutionSucceeded,
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
    }
)
# States.ALL matches every error but these two (AWS: "can't catch States.DataLimitExceeded or
# States.Runtime"); a Retrier or Catcher that names one still matches it.
_NOT_MATCHED_BY_ALL = frozenset({_DATA_LIMIT.to_name(), StatesErrorNameType.StatesRuntime.to_name()})
_STATES_ALL = StatesErrorName(typ=StatesErrorNameType.StatesALL)
_STATES_TASK_FAILED = StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)


def _json_default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def state_data_size(value: Any) -> int:
    """Bytes of a state's data as Step Functions counts them: its JSON, compact, in UTF-8. (moto
    counts ``json.dumps`` with spaces and ``\\u`` escapes, and refuses exactly 256 KB.)"""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return len(text.encode("utf-8"))


def _within_state_data_limit(value: Any) -> bool:
    return state_data_size(value) <= STATE_DATA_LIMIT_BYTES


def _error_equals(decl: Any, env: Any) -> None:
    """``ErrorEqualsDecl._eval_body`` as AWS matches: by name, else ``States.ALL`` for any error but
    States.DataLimitExceeded and States.Runtime, else ``States.TaskFailed`` for a task's own errors."""
    error_name = env.stack.pop()
    names = decl.error_names
    if error_name in names:
        matched = True
    elif getattr(error_name, "error_name", None) in _NOT_MATCHED_BY_ALL:
        matched = False
    elif _STATES_ALL in names:
        matched = True
    else:
        matched = _STATES_TASK_FAILED in names and not isinstance(error_name, StatesErrorName)
    env.stack.append(matched)


def _state_name(env: Any) -> str:
    try:
        return str(env.states.context_object.context_object_data["State"]["Name"])
    except (AttributeError, KeyError, TypeError):
        return str(env.next_state_name)


def _parameters_too_large(env: Any) -> FailureEventException:
    cause = (
        f"The state/task '{_state_name(env)}' provided parameters with a size exceeding the maximum "
        "number of bytes service limit."
    )
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=_DATA_LIMIT),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's own way
                taskFailedEventDetails=TaskFailedEventDetails(error=_DATA_LIMIT.to_name(), cause=cause)
            ),
        )
    )


# What ``FailureEvent`` reads of an environment, for a failure raised where none is at hand.
_NO_ENVIRONMENT: Any = SimpleNamespace(
    next_state_name=None, event_history_context=SimpleNamespace(source_event_id=0)
)


_EVENTS_FROM_ERROR = state_task_service_events.StateTaskServiceEvents._from_error


def _events_error(task: Any, env: Any, ex: Exception) -> Any:
    """An EventBridge error as the state's error ``EventBridge.<Code>`` (moto's interpreter makes every
    one but FailedEntry a ``States.Runtime``, which no Retry or Catch on ``States.ALL`` matches: an
    execution AWS would let its Retry handle would fail outright)."""
    if not isinstance(ex, ClientError):
        return _EVENTS_FROM_ERROR(task, env, ex)
    error = f"EventBridge.{ex.response['Error']['Code']}"
    cause = f"{ex.response['Error'].get('Message', '')} (Service: EventBridge, Status Code: " + (
        f"{ex.response['ResponseMetadata'].get('HTTPStatusCode')})"
    )
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(error),
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(
            taskFailedEventDetails=TaskFailedEventDetails(
                error=error, cause=cause, resource=task._get_sfn_resource(),
                resourceType=task._get_sfn_resource_type(),
            )
        ),
    )  # fmt: skip


class _HistoryLimitReached(FailureEventException):
    """The execution's history is full: it fails with States.Runtime, its ExecutionFailed the last
    event allowed. Raised by every other event that would be added, so that a state catching the
    failure (and adding its own failure event) raises it again, up to the program."""

    def __init__(self, limit: int) -> None:
        self.details = ExecutionFailedEventDetails(
            error=StatesErrorNameType.StatesRuntime.to_name(),
            cause=f"The execution reached the maximum number of history events ({limit}).",
        )
        super().__init__(
            failure_event=FailureEvent(
                env=_NO_ENVIRONMENT,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.TaskFailed,  # not terminal: adding it raises again
                event_details=EventDetails(executionFailedEventDetails=self.details),  # type: ignore[typeddict-item]
            )
        )

    def get_execution_failed_event_details(self) -> ExecutionFailedEventDetails:
        return self.details  # moto would prefix a States.Runtime cause with the state's name


class _ExactLambdaSize:
    """``sys`` as moto's Lambda responses see it: their rough response size check
    (``sys.getsizeof(payload) > 6000000``) gives way to the bridge's exact one."""

    @staticmethod
    def getsizeof(_value: object, _default: int = 0) -> int:
        return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


def _lambda_payload(response: Any) -> Any:
    return response.get("Payload") if isinstance(response, dict) else response


def _task_size_check(
    verify_state_output: Callable[..., None],
    verify_result: Callable[..., None],
    result_of: Callable[[Any], Any],
) -> Callable[[Any, Any, Any], None]:
    """A task state's ``_verify_size_quota``: moto's task states check their output with their
    result's check (and its wording, which names the resource); here the output is checked as any
    state's (naming the state), and a Lambda task's result is its payload, not the whole response."""

    def verify(task: Any, env: Any, value: Any) -> None:
        if value == env.states._states_data["input"]:  # the state's output
            verify_state_output(task, env, value)
        else:
            verify_result(task, env, result_of(value))

    return verify


def _execution_history_page(response: Any) -> Any:
    """``StepFunctionResponse.get_execution_history`` with ``maxResults`` (100 unless given),
    ``nextToken`` and ``reverseOrder``; only the page is copied and serialised."""
    from moto.core.responses import ActionResult

    execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
    manager = getattr(getattr(execution.exec_worker, "env", None), "event_manager", None)
    events: list[Any] = []
    if manager is not None:  # None: the execution has not started yet
        with manager._mutex:
            events = list(manager._history_event_list)
    if response._get_param("reverseOrder"):
        events.reverse()
    start, size = int(response._get_param("nextToken") or 0), int(response._get_param("maxResults") or 100)
    page: dict[str, Any] = {"events": copy.deepcopy(events[start : start + size])}
    if start + size < len(events):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


def _events_entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge counts it: Time 14 bytes, then the UTF-8 bytes of
    Source, DetailType, Detail and each of Resources."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key) or "").encode("utf-8"))
    return size + sum(
        len(str(resource).encode("utf-8")) for resource in entry.get("Resources") or [] if resource
    )


# moto parses a JSONPath (building ply's lexer and parser tables) every time a state reads one,
# most of a Pass state's cost. A parsed path is only read, so states and executions share it.
_parsed_json_path = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parser.parse)  # json_path's parse
_parsed_result_path = functools.lru_cache(maxsize=1024)(jsonpath_ng.parser.parse)  # result_path's

Around = Callable[[LambdaTarget, Any], AbstractContextManager[object]]  # (target, event)

_install_lock = threading.Lock()
_installed: MotoBridge | None = None


class MotoBridge:
    """Routes moto's Lambda invokes to real handlers and moto's waits to ``clock``.

    ``resolve`` maps a function name to its target (None: unknown function). ``around(target, event)``
    wraps each handler call (environment, output capture, a record of the call). One bridge at a
    time; use as a context manager. ``history_event_limit`` lowers AWS's 25,000 history events (a spec
    that reaches the wall cheaply); every other wall is AWS's own number.
    """

    def __init__(
        self,
        clock: Clock,
        resolve: Callable[[str], LambdaTarget | None],
        *,
        around: Around | None = None,
        route_callback_polling: bool = False,
        may_invoke: Callable[[str], str | None] | None = None,
        history_event_limit: int = HISTORY_EVENT_LIMIT,
        integration_credentials: ReadOnlyCredentials | None = None,
    ) -> None:
        self.clock = clock
        self._integration_credentials = integration_credentials
        self.history_event_limit = history_event_limit
        self._may_invoke = may_invoke or (lambda _arn: None)
        self._resolve = resolve
        self._around = around or (lambda _target, _event: nullcontext())
        self._route_callback_polling = route_callback_polling
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._saved: list[tuple[Any, str, Any]] = []
        self._saved_log_level = logging.NOTSET
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._last_call_ended = 0.0
        self._calls_ended = 0
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    # -- install / uninstall -------------------------------------------------------------------
    def install(self) -> None:
        global _installed
        with _install_lock:
            if _installed is not None:
                raise RuntimeError("a MotoBridge is already installed; uninstall it first")
            bridge = self

            def invoke(_backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
                       response_headers: dict[str, str]) -> bytes:  # fmt: skip
                return bridge._invoke(function_name, body, headers, response_headers)

            def wait_interval(_self: Any, env: Any, wait_seconds: float) -> None:
                bridge._wait(env, wait_seconds)

            self._patch(LambdaSimpleBackend, "invoke", invoke)
            self._patch(WaitFunction, "_wait_interval", wait_interval)
            self._patch(retrier_decl, "time", _ClockTime(self.clock))
            self._patch(lambda_eval_utils, "boto_client_for", self._lambda_client)
            self._patch(state_task_service_sns, "boto_client_for", self._integration_client)
            self._patch(state_task_service_aws_sdk, "boto_client_for", self._integration_client)
            self._patch(state_task_service_events, "boto_client_for", self._integration_client)
            self._patch(state_task_service_events.StateTaskServiceEvents, "_from_error", _events_error)
            self._patch(execution_worker.ExecutionWorker, "_get_evaluation_entrypoint", _parsed_program)
            self._patch(json_path, "parse", _parsed_json_path)
            self._patch(result_path, "parse", _parsed_result_path)
            self._enforce_walls()
            # Expected ASL failures (a retried or caught error) are logged by moto at ERROR with the
            # component's repr; the execution history already tells them, so keep the terminal quiet.
            self._saved_log_level = _INTERPRETER_LOG.level
            _INTERPRETER_LOG.setLevel(logging.CRITICAL)  # setLevel: it also clears logging's cache
            if self._route_callback_polling:
                self._patch(state_task_service_callback, "time", _ClockTime(self.clock))
            if isinstance(self.clock, DiscreteClock):
                self._bridge_discrete(self.clock)
            elif hasattr(self.clock, "advance"):
                self._bridge_callback_timeouts()
            _installed = self

    def uninstall(self) -> None:
        global _installed
        with _install_lock:
            if self._saved:
                _INTERPRETER_LOG.setLevel(self._saved_log_level)
            while self._saved:
                owner, name, original = self._saved.pop()
                setattr(owner, name, original)
            if _installed is self:
                _installed = None

    def __enter__(self) -> MotoBridge:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def _bridge_callback_timeouts(self) -> None:
        bridge = self
        evaluate_with_timeout = ExecutionState.__dict__["_evaluate_with_timeout"]

        def evaluate(state: Any, env: Any) -> Any:
            resource = getattr(state, "resource", None)
            if getattr(resource, "condition", None) != ResourceCondition.WaitForTaskToken:
                return evaluate_with_timeout(state, env)
            _callback_wait.active = True
            try:
                return evaluate_with_timeout(state, env)
            finally:
                _callback_wait.active = False

        def wait_for_token(_state: Any, timeout_seconds: float, callback_endpoint: Any) -> Any:
            # Ends with the outcome, at the virtual deadline (the outer timeout has fired), or, for a
            # stopped execution whose clock may never get there, after as much real time plus a
            # margin (not less: handlers run in real time, a cold one takes seconds).
            virtual_deadline = bridge.clock.now() + timeout_seconds
            real_deadline = time.monotonic() + timeout_seconds + _STOPPED_WAIT_MARGIN_S
            while True:
                outcome = callback_endpoint.wait(timeout=CALLBACK_SLICE_S)
                if outcome is not None:
                    return outcome
                if bridge.clock.now() >= virtual_deadline or time.monotonic() >= real_deadline:
                    return None

        self._patch(execute_state, "threading", _TimeoutThreading(self))
        self._patch(ExecutionState, "_evaluate_with_timeout", evaluate)
        callback_task = state_task_service_callback.StateTaskServiceCallback
        self._patch(callback_task, "_wait_for_task_token_timeout", wait_for_token)

    def _lambda_client(self, region: str, service: str, state_credentials: Any = None) -> Any:
        """moto's ``boto_client_for`` for Lambda tasks, cached: moto builds a new boto3 client (service
        model, SSL context) for every task, which was most of the interpreter's cost per state. Signed
        with the environment's credentials (moto's are "ak"/"sk", which enforced IAM refuses): moto's
        access control names Lambda's action ``lambda:Invoke``, not IAM's ``lambda:InvokeFunction``, so
        the state machine role's permission is checked in ``_invoke`` instead."""
        del state_credentials
        return self._client(region, service, None)

    def _integration_client(self, region: str, service: str, state_credentials: Any = None) -> Any:
        """moto's ``boto_client_for`` for the SNS, EventBridge and AWS SDK (DynamoDB: "Await agent")
        integrations: signed as the state machine's role (``integration_credentials``), as Step
        Functions calls them, so enforced IAM checks the role's policies; no retries (Step Functions'
        own client does not retry: a state's ``Retry`` does). Cached per service."""
        del state_credentials
        return self._client(region, service, self._integration_credentials)

    def _client(self, region: str, service: str, keys: ReadOnlyCredentials | None) -> Any:
        """A client as moto's ``boto_client_for`` configures it (no retries), cached per service and
        signer: ``keys``, or the environment's credentials when None."""
        key = (region, f"{service}:{keys.access_key if keys else ''}")
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                template = boto_client_for(region, service)
                client = self._clients[key] = boto3.client(
                    service,
                    region_name=region,
                    config=template.meta.config,
                    endpoint_url=template.meta.endpoint_url,
                    aws_access_key_id=keys.access_key if keys else None,
                    aws_secret_access_key=keys.secret_key if keys else None,
                    aws_session_token=keys.token if keys else None,
                )
            return client

    def _bridge_discrete(self, clock: DiscreteClock) -> None:
        """Every thread of an execution is an actor of the clock, and every wait of the interpreter is
        on the clock: the execution's own thread (``ExecutionWorker.start``), each task's evaluation
        thread and its timeout (``execute_state``'s ``Thread`` and ``threading.Event``), and a
        ``.waitForTaskToken`` task's wait for its token (woken by ``CallbackEndpoint.notify``)."""

        def start(worker: Any) -> None:
            thread = clock.thread(worker._execution_logic)
            TMP_THREADS.append(thread)
            thread.start()

        def wait_for_token(_state: Any, timeout_seconds: float, endpoint: Any) -> Any:
            event = clock.event()
            with _endpoint_events_lock:
                endpoint.__dict__.setdefault("_discrete_events", []).append(event)
                if endpoint._notify_event.is_set():
                    event.set()
            event.wait(timeout=timeout_seconds)
            return endpoint.get_outcome()

        notify, interrupt_all = CallbackEndpoint.notify, CallbackEndpoint.interrupt_all

        def wake_discrete(endpoint: Any) -> None:
            with _endpoint_events_lock:
                events = list(endpoint.__dict__.get("_discrete_events", ()))
            for event in events:
                event.set()

        def notify_and_wake(endpoint: Any, outcome: Any) -> None:
            notify(endpoint, outcome)
            wake_discrete(endpoint)

        def interrupt_and_wake(endpoint: Any) -> None:
            interrupt_all(endpoint)
            wake_discrete(endpoint)

        self._patch(execution_worker.ExecutionWorker, "start", start)
        discrete_threading = _DiscreteThreading(clock)
        self._patch(execute_state, "Thread", discrete_threading.Thread)
        self._patch(execute_state, "threading", discrete_threading)
        self._patch(program, "threading", discrete_threading)
        callback_task = state_task_service_callback.StateTaskServiceCallback
        self._patch(callback_task, "_wait_for_task_token_timeout", wait_for_token)
        self._patch(CallbackEndpoint, "notify", notify_and_wake)
        self._patch(CallbackEndpoint, "interrupt_all", interrupt_and_wake)

    def _enforce_walls(self) -> None:
        """AWS's limits the workflow can meet, each refused with the error AWS gives (see the module
        docstring). moto enforces some of them, a little off; those are set right here."""
        from moto.awslambda import responses as lambda_responses
        from moto.dynamodb.exceptions import ItemSizeTooLarge
        from moto.dynamodb.models import dynamo_type
        from moto.dynamodb.models.utilities import bytesize
        from moto.events.exceptions import ValidationException as EventsValidation
        from moto.events.models import EventsBackend
        from moto.sns.exceptions import InvalidParameterValue
        from moto.sns.models import SNSBackend
        from moto.stepfunctions.models import StateMachine
        from moto.stepfunctions.responses import StepFunctionResponse

        bridge = self

        # 256 KB of state data: moto checks a state's output and a task's result; here the count is
        # AWS's, a Lambda task's result is its payload alone, and Parameters are checked too.
        for module in (state_module, state_task_lambda, state_task_service):
            self._patch(module, "is_within_size_quota", _within_state_data_limit)
        verify_state_output = state_module.CommonStateField.__dict__["_verify_size_quota"]
        for task_class, result_of in (
            (state_task_lambda.StateTaskLambda, _lambda_payload),
            (state_task_service.StateTaskService, lambda response: response),
        ):
            verify_result = task_class.__dict__["_verify_size_quota"]
            check = _task_size_check(verify_state_output, verify_result, result_of)
            self._patch(task_class, "_verify_size_quota", check)
        evaluate_parameters = Parargs.__dict__["_eval_body"]

        def parameters_within_limit(parargs: Any, env: Any) -> None:
            evaluate_parameters(parargs, env)
            if env.stack and not _within_state_data_limit(env.stack[-1]):
                raise _parameters_too_large(env)

        self._patch(Parargs, "_eval_body", parameters_within_limit)
        self._patch(ErrorEqualsDecl, "_eval_body", _error_equals)

        # 25,000 history events: the last one is the ExecutionFailed.
        add_event = EventManager.__dict__["add_event"]

        def add_event_within_limit(
            manager: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any
        ) -> int:
            limit = bridge.history_event_limit
            if event_type not in _TERMINAL_EVENTS and manager._event_id_gen._next_id >= limit:
                raise _HistoryLimitReached(limit)
            return int(add_event(manager, context, event_type, *args, **kwargs))

        self._patch(EventManager, "add_event", add_event_within_limit)

        # Execution names: taken for 90 days (of the engine's clock) after the execution closed, then
        # free (and the closed execution forgotten, as AWS keeps its history 90 days).
        reflect_status = BaseExecutionWorkerCommunication.__dict__["_reflect_execution_status"]

        def reflect_and_stamp(communication: Any) -> None:
            reflect_status(communication)
            communication.execution.__dict__["_closed_at"] = bridge.clock.now()

        handle_name = StateMachine.__dict__["_handle_name_input_idempotency"]

        def name_taken_for_90_days(machine: Any, name: str, execution_input: str) -> Any:
            now = bridge.clock.now()
            machine.executions[:] = [
                execution
                for execution in machine.executions
                if now - execution.__dict__.get("_closed_at", now) <= EXECUTION_NAME_RETENTION_S
            ]
            return handle_name(machine, name, execution_input)

        self._patch(BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect_and_stamp)
        self._patch(StateMachine, "_handle_name_input_idempotency", name_taken_for_90_days)

        # GetExecutionHistory pages as AWS does (moto returns every event each time): a look at the
        # last events of a 25,000-event history does not serialise it all.
        self._patch(StepFunctionResponse, "get_execution_history", _execution_history_page)

        # Lambda's 6 MB (the request and response checks are in ``_invoke``).
        self._patch(lambda_responses, "sys", _ExactLambdaSize())

        # SNS: 256 KB of message, in bytes (moto counts characters, and words the error oddly).
        publish = SNSBackend.__dict__["publish"]

        def publish_within_limit(backend: Any, message: Any, *args: Any, **kwargs: Any) -> str:
            too_long = len(str(message or "").encode("utf-8")) > SNS_MESSAGE_LIMIT_BYTES
            if too_long and kwargs.get("phone_number") is None:
                raise InvalidParameterValue("Invalid parameter: Message too long")
            return str(publish(backend, message, *args, **kwargs))

        self._patch(SNSBackend, "publish", publish_within_limit)

        # EventBridge: 256 KB of entries in one PutEvents, or the whole call is refused.
        put_events = EventsBackend.__dict__["put_events"]

        def put_events_within_limit(backend: Any, events: list[dict[str, Any]]) -> Any:
            if sum(_events_entry_size(entry) for entry in events) > EVENTS_ENTRIES_LIMIT_BYTES:
                raise EventsValidation("Total size of the entries in the request is over the limit.")
            return put_events(backend, events)

        self._patch(EventsBackend, "put_events", put_events_within_limit)

        # DynamoDB: 400 KB items (moto refuses at 405,000 bytes, and counts an attribute being
        # replaced twice). PutItem says ItemSizeTooLarge's message, UpdateItem moto's own.
        def attribute_size(name: str, value: Any) -> int:
            measured = value.size() if isinstance(value, dynamo_type.DynamoType) else bytesize(str(value))
            return int(bytesize(name) + measured)

        def set_attribute(item: dict[str, Any], key: str, value: Any) -> None:
            size = sum(attribute_size(name, other) for name, other in item.items() if name != key)
            if size + attribute_size(key, value) > DYNAMODB_ITEM_LIMIT_BYTES:
                raise ItemSizeTooLarge
            dict.__setitem__(item, key, value)

        self._patch(dynamo_type.LimitedSizeDict, "__setitem__", set_attribute)

    def calls_ended(self) -> int:
        with self._in_flight_lock:
            return self._calls_ended

    def busy(self) -> bool:
        """A handler runs, or ended less than ``_QUIET_S`` ago: a callback wait's clock stands still."""
        with self._in_flight_lock:
            return self._in_flight > 0 or time.monotonic() - self._last_call_ended < _QUIET_S

    @contextmanager
    def handler_running(self) -> Iterator[None]:
        """Mark a handler call: the bridge's own, or one made beside Step Functions (the API behind
        API Gateway, e.g. a webhook that sends SendTaskSuccess). ``busy`` while it runs."""
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
                self._last_call_ended = time.monotonic()

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    # -- behaviour -----------------------------------------------------------------------------
    def _wait(self, env: Any, wait_seconds: float) -> None:
        remaining = float(wait_seconds)
        while remaining > 0 and env.is_running():
            step = min(remaining, _WAIT_SLICE_S)
            self.clock.sleep(step)
            remaining -= step

    def _invoke(self, function_name: str, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        name = function_name_of(function_name)
        target = self._resolve(name)
        if target is None:
            raise UnknownFunctionException(function_name)
        denied_role = self._may_invoke(target.arn)
        if denied_role is not None:  # what Lambda answers Step Functions when its role may not invoke
            raise _AccessDenied(
                f"User: {denied_role} is not authorized to perform: lambda:InvokeFunction on resource: "
                f"{target.arn} because no identity-based policy allows the lambda:InvokeFunction action"
            )
        invocation_type = (headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
        if isinstance(body, str):
            body = body.encode("utf-8")
        if invocation_type == "RequestResponse" and len(body or b"") > LAMBDA_REQUEST_LIMIT_BYTES:
            raise _RequestTooLarge(len(body))
        if invocation_type == "DryRun":
            return b""
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        event = json.loads(body) if body else {}
        context = LambdaContext(
            function_name=target.name,
            invoked_function_arn=target.arn,
            memory_limit_in_mb=target.memory_mb,
            timeout_s=target.timeout_s,
        )
        try:
            handler = self._handler(target)
        except Exception as exc:  # Lambda reports a handler that does not import like this
            response_headers["x-amz-function-error"] = "Unhandled"
            failure = error_payload(exc)
            failure["errorType"] = "Runtime.ImportModuleError"
            failure["errorMessage"] = f"Unable to import module {target.handler!r}: {exc}"
            return json.dumps(failure).encode("utf-8")
        try:
            with self.handler_running(), self._around(target, event):
                result = handler(event, context)
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = error_payload(exc)
        finally:
            with self._in_flight_lock:
                self._calls_ended += 1  # Step Functions' calls only (see _ClockEvent)
        try:
            payload = json.dumps(result).encode("utf-8")
        except (TypeError, ValueError) as exc:  # what Lambda says of a result it cannot serialise
            response_headers["x-amz-function-error"] = "Unhandled"
            failure = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
            }
            return json.dumps(failure).encode("utf-8")
        if invocation_type == "RequestResponse" and len(payload) > LAMBDA_RESPONSE_LIMIT_BYTES:
            response_headers["x-amz-function-error"] = "Unhandled"  # what Lambda answers instead
            failure = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({LAMBDA_RESPONSE_LIMIT_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            return json.dumps(failure).encode("utf-8")
        return payload

    def _handler(self, target: LambdaTarget) -> Callable[..., Any]:
        handler = self._handlers.get(target.handler)
        if handler is None:
            module_name, _, attribute = target.handler.rpartition(".")
            handler = getattr(importlib.import_module(module_name), attribute)
            self._handlers[target.handler] = handler
        return handler


# -- output capture ---------------------------------------------------------------------------
# A handler's prints and log lines go to the sink of the handler call they come from. A ContextVar
# (not a thread-local) marks the call, so asyncio tasks and ``asyncio.to_thread`` work inside the
# handler inherit it; writes from any other thread or context pass through to the real stream.
_sink: ContextVar[list[str] | None] = ContextVar("lambda_output_sink", default=None)


class _ContextStream:
    def __init__(self, original: Any) -> None:
        self.original = original

    def write(self, text: str) -> int:
        sink = _sink.get()
        if sink is None:
            return int(self.original.write(text) or 0)
        sink.append(text)
        return len(text)

    def flush(self) -> None:
        if _sink.get() is None:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


def _stream_handlers() -> Iterator[logging.StreamHandler[Any]]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                yield handler


class OutputCapture:
    """Collects what handlers write to sys.stdout/sys.stderr or through console logging handlers.

    ``start`` puts a context-aware stream in place of sys.stdout, sys.stderr and the stream of every
    console ``logging.StreamHandler`` that exists (Powertools' Logger binds its handler to the
    sys.stdout of import time, so swapping sys.stdout alone would miss it; one created later binds to
    the swapped stream). ``capturing`` marks one handler call, and wraps sys.stdout/stderr again if
    someone replaced them since. ``stop`` unwraps every stream it finds. In-memory handlers
    (``io.StringIO`` streams, e.g. pytest's caplog) are left alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def start(self) -> None:
        self._wrap_sys_streams()
        for handler in _stream_handlers():
            if not isinstance(handler.stream, _ContextStream | io.StringIO):
                handler.stream = _ContextStream(handler.stream)

    def stop(self) -> None:
        for name in ("stdout", "stderr"):
            while isinstance(getattr(sys, name), _ContextStream):
                setattr(sys, name, getattr(sys, name).original)
        for handler in _stream_handlers():
            while isinstance(handler.stream, _ContextStream):
                handler.stream = handler.stream.original

    def _wrap_sys_streams(self) -> None:
        # Again at every call: whoever replaced sys.stdout since (pytest's capsys, a CLI) is wrapped too.
        with self._lock:
            for name in ("stdout", "stderr"):
                if not isinstance(getattr(sys, name), _ContextStream):
                    setattr(sys, name, _ContextStream(getattr(sys, name)))

    @contextmanager
    def capturing(self, keep: Callable[[list[str]], None]) -> Iterator[None]:
        """Route this call's output to ``keep`` (called once, with its lines, when the call ends)."""
        self._wrap_sys_streams()
        chunks: list[str] = []
        token = _sink.set(chunks)
        try:
            yield
        finally:
            _sink.reset(token)
            keep("".join(chunks).splitlines())


# -- IAM enforced: moto's own access control, told which resource each request is for -------------
# moto evaluates IAM policies (``INITIAL_NO_AUTH_ACTION_COUNT``, the mechanism behind its
# ``set_initial_no_auth_action_count``), but for most services it checks every request against the
# resource "*", which no resource-scoped policy (all of SAM's policy templates) matches. Each service
# the steps call gets the ARN AWS authorizes against, computed from the request.


def _request_params(response: Any) -> dict[str, Any]:
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {
        key: values[0] for key, values in (getattr(response, "querystring", None) or {}).items() if values
    }


def _arn_of(response: Any, service: str, rest: str) -> str:
    return f"arn:aws:{service}:{response.region}:{response.current_account}:{rest}"


def _dynamodb_resource(response: Any) -> str:
    params = _request_params(response)
    table = params.get("TableName") or next(iter(params.get("RequestItems") or {}), None)
    # A Query or Scan of an index is authorized on the index's ARN, as DynamoDB does.
    index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
    return _arn_of(response, "dynamodb", f"table/{table}{index}") if table else "*"


def _sns_resource(response: Any) -> str:
    params = _request_params(response)
    return str(params.get("TopicArn") or params.get("TargetArn") or "*")


def _events_resource(response: Any) -> str:
    params = _request_params(response)
    entries = params.get("Entries") or [{}]
    bus = entries[0].get("EventBusName") if isinstance(entries[0], dict) else None
    bus = bus or params.get("EventBusName") or "default"
    return str(bus) if str(bus).startswith("arn:") else _arn_of(response, "events", f"event-bus/{bus}")


def _states_resource(response: Any) -> str:
    params = _request_params(response)
    for key in ("executionArn", "stateMachineArn"):
        if params.get(key):
            return str(params[key])
    token = params.get("taskToken")
    if token:  # AWS authorizes a callback against the state machine of the token's execution
        for execution in response.stepfunction_backend._get_executions():
            worker = getattr(execution, "exec_worker", None)
            env = getattr(worker, "env", None)
            if env is not None and env.callback_pool_manager.get(token) is not None:
                return str(execution.state_machine_arn)
        # AWS decodes the execution from the token itself; moto cannot for a token no execution
        # holds (a stale one). With one state machine in the account, that is the one it names.
        machines = response.stepfunction_backend.state_machines
        if len(machines) == 1:
            return str(machines[0].arn)
    return "*"


def _secretsmanager_resource(response: Any) -> str:
    secret_id = str(_request_params(response).get("SecretId") or "")
    if not secret_id:
        return "*"
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[response.current_account][response.region]
    if backend._is_valid_identifier(secret_id):
        return str(backend.secrets[secret_id].arn)
    return (
        secret_id
        if secret_id.startswith("arn:")
        else _arn_of(response, "secretsmanager", f"secret:{secret_id}")
    )


def _resource_patches() -> list[tuple[Any, Callable[[Any], str]]]:
    from moto.dynamodb.responses import DynamoHandler
    from moto.events.responses import EventsHandler
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sns.responses import SNSResponse
    from moto.stepfunctions.responses import StepFunctionResponse

    return [
        (DynamoHandler, _dynamodb_resource),
        (SNSResponse, _sns_resource),
        (EventsHandler, _events_resource),
        (StepFunctionResponse, _states_resource),
        (SecretsManagerResponse, _secretsmanager_resource),
    ]


@contextmanager
def iam_enforced() -> Iterator[None]:
    """From here on, every request to moto must be signed by a known principal whose policies allow
    the action on the resource (moto's access control); restored on exit."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    saved = (settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)
    patches = _resource_patches()
    for owner, function in patches:
        owner._determine_resource = function
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved
        for owner, _function in patches:
            if "_determine_resource" in owner.__dict__:
                del owner._determine_resource


def policies_allow(documents: list[dict[str, Any]], action: str, resource: str) -> bool:
    """moto's own evaluation of identity policies: an explicit Deny wins, else some Allow is needed."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    results = [
        IAMPolicy(json.dumps(document)).is_action_permitted(action, resource) for document in documents
    ]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def role_policy_documents(account_id: str, role_arn: str) -> list[dict[str, Any]]:
    """The inline and attached managed policies of a role in moto's IAM."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    role = backend.get_role_by_arn(role_arn)
    documents = [_document(text) for text in role.policies.values()]
    for policy in role.managed_policies.values():
        version = next(v for v in policy.versions if v.version_id == policy.default_version_id)
        documents.append(_document(version.document))
    return documents


def _document(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    from urllib.parse import unquote

    parsed = json.loads(text if text.lstrip().startswith("{") else unquote(text))
    assert isinstance(parsed, dict)
    return parsed


@functools.cache
def _aws_managed_policy_data() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    parsed = json.loads(aws_managed_policies_data)
    assert isinstance(parsed, dict)
    return parsed


def add_aws_managed_policies(account_id: str, region: str, arns: list[str]) -> None:
    """Put the AWS managed policies named by ``arns`` into moto's IAM, from moto's copy of AWS's own
    documents. (moto's ``load_aws_managed_policies`` loads all 1,000-odd of them into every IAM
    backend it builds, about 1.7 s per engine.) An ARN AWS does not have stays missing, so attaching
    it fails as on AWS."""
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["aws"]
    for arn in arns:
        name = arn.rsplit("/", 1)[-1]
        data = _aws_managed_policy_data().get(name)
        if data is not None and arn not in backend.managed_policies:
            policy = AWSManagedPolicy.from_data(name, account_id, region, data)
            if policy.arn == arn:
                backend.managed_policies[arn] = policy
