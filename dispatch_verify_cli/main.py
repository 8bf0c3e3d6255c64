"""The ``dispatch-verify`` command: demo, run, heartbeat, sim, api, cancel, list.

Everything runs on this machine: the real state machine definition on moto's Step Functions
interpreter, the real Lambda handlers, and either the embedded LiveKit simulator (demo) or the
LiveKit server named by LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET (run). ``cancel`` and
``list`` call a dispatch API (``api`` here, or a deployed stack) through dispatch_verify.client.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dispatch_verify.models import (
    FROM_STATE,
    MAX_RINGING_TIMEOUT_S,
    DispatchRequest,
    EscalationBundle,
    Options,
    Outcome,
    SipRequest,
    execution_name_problem,
)
from pydantic import ValidationError

from clocks import RealClock
from dispatch_verify_cli import progress
from livekit_sim import ANSWERS, BEHAVIOURS, behaviour_help

if TYPE_CHECKING:
    from livekit_sim import LiveKitSimulator

EXIT_VERIFIED, EXIT_USAGE, EXIT_ESCALATED = 0, 1, 2
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
HEARTBEAT_DEMO_AGENT = "heartbeat-demo-agent"


class UsageError(Exception):
    """Bad arguments or configuration: printed as one line, exit status 1."""


def outcome_of(result: Any, name: str = "", payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The execution's ``Outcome`` (the model GET /dispatches/{id} and the EventBridge events use),
    as "Record outcome" recorded it; an escalation adds its evidence bundle as ``evidence``."""
    outcome: dict[str, Any] | None = None
    bundle: dict[str, Any] | None = None
    for event in result.history or []:
        state = progress_state(event)
        if isinstance(state.get("outcome"), dict):
            outcome = state["outcome"]
        if isinstance(state.get("escalation"), dict):
            bundle = state["escalation"]
    if outcome is None and result.status == "SUCCEEDED" and isinstance(result.output, dict):
        outcome = result.output
    if bundle is None:
        try:
            found = json.loads(result.cause or "")
            bundle = found if isinstance(found, dict) and "cause" in found else None
        except ValueError:
            bundle = None
    if outcome is None:  # the outcome was never recorded: what the execution's end says
        outcome = _unrecorded(result, bundle, name, payload or {})
    shown = Outcome.model_validate(outcome, context=FROM_STATE).model_dump(mode="json")
    if shown["status"] != "verified" and bundle is not None:
        shown["evidence"] = EscalationBundle.model_validate(bundle, context=FROM_STATE).model_dump(
            mode="json"
        )
    return shown


def progress_state(event: dict[str, Any]) -> dict[str, Any]:
    details = event.get("stateExitedEventDetails") or {}
    try:
        state = json.loads(details.get("output") or "null")
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _unrecorded(
    result: Any, bundle: dict[str, Any] | None, name: str, payload: dict[str, Any]
) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    source = bundle or {}
    return {
        "status": "escalated",
        "request_id": source.get("request_id") or name,
        "room": source.get("room") or str(payload.get("room") or ""),
        "agent_name": source.get("agent_name") or str(payload.get("agent_name") or ""),
        "cause": source.get("cause") or "internal",
        "last_error": source.get("last_error")
        or {"cause": "internal", "code": result.error, "message": str(result.cause or result.status)[:500]},
        "attempts": source.get("attempts") or 0,
        "dispatch_ids": [d.get("dispatch_id") for d in source.get("dispatches") or []],
        "started_at": source.get("started_at") or now,
        "finished_at": source.get("escalated_at") or now,
    }


def workflow_input(args: argparse.Namespace) -> dict[str, Any]:
    metadata: Any = ""
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except ValueError as exc:
            raise UsageError(f"--metadata is not valid JSON: {exc}") from exc
    options = {
        key: value
        for key, value in {
            "join_timeout_s": args.join_timeout,
            "poll_interval_s": args.poll_interval,
            "max_attempts": args.max_attempts,
        }.items()
        if value is not None
    }
    payload: dict[str, Any] = {
        "room": args.room,
        "agent_name": args.agent_name,
        "metadata": metadata,
        "options": options,
    }
    if args.call_to or args.sip_trunk:
        if not (args.call_to and args.sip_trunk):
            raise UsageError("--call-to and --sip-trunk go together: dial NUMBER over trunk ID once verified")
        payload["sip"] = {
            "trunk_id": args.sip_trunk,
            "call_to": args.call_to,
            "participant_identity": args.callee_identity,
            **({"ringing_timeout_s": args.ringing_timeout} if args.ringing_timeout else {}),
        }
    return payload


def livekit_from_env() -> dict[str, str]:
    names = {"url": "LIVEKIT_URL", "api_key": "LIVEKIT_API_KEY", "api_secret": "LIVEKIT_API_SECRET"}
    missing = [env for env in names.values() if not os.environ.get(env)]
    if missing:
        raise UsageError(
            f"{', '.join(missing)} not set: export the LiveKit project's URL and API key/secret "
            "(or start `dispatch-verify sim` and point LIVEKIT_URL at it)"
        )
    return {key: os.environ[env] for key, env in names.items()}


def execute(
    livekit: dict[str, str],
    payload: dict[str, Any] | None,
    *,
    name: str,
    timeout_s: float,
    sim: LiveKitSimulator | None = None,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one execution on the local engine (``payload`` None: the input the stack's heartbeat
    schedule sends); an embedded ``sim`` sends its webhooks to the API function's ``POST
    /livekit/webhook``, as a LiveKit project configured with the stack's URL does."""
    from local_engine import LocalApi, LocalEngine, TemplateRefused

    clock = RealClock()
    # Only the embedded simulator can reach this machine with webhooks: against any other server the
    # workflow polls at the poll interval instead of waiting for a webhook that never comes.
    webhooks = "Enabled" if sim is not None else "Disabled"
    on_event = progress.printer(sys.stderr, clock.now, webhooks=sim is not None)
    with ExitStack() as exit_stack:
        try:
            engine = exit_stack.enter_context(
                LocalEngine(
                    clock,
                    livekit,
                    template_path=str(TEMPLATE),
                    parameters={"LiveKitWebhooks": webhooks, **(parameters or {})},
                )
            )
        except TemplateRefused as exc:  # e.g. an agent name the HeartbeatAgentName parameter refuses
            raise UsageError(f"the stack would not deploy with these values: {exc}") from None
        if sim is not None:
            sim.set_webhook(LocalApi(engine).deliver_webhook)
        try:
            arn = engine.start(payload if payload is not None else engine.heartbeat_input(), name=name)
            result = engine.wait(arn, timeout_s=timeout_s, on_event=on_event)
        finally:
            if sim is not None:
                sim.set_webhook(None)
    return outcome_of(result, name, payload)


def execution_budget_s(options: dict[str, Any] | None = None) -> float:
    """How long to wait for an execution with these workflow options (the models' defaults for
    those not given): each attempt's join timeout and a webhook backstop's slack, plus a minute."""
    given = Options.model_construct(**(options or {}))  # the workflow validates them, not this
    return (given.join_timeout_s + given.webhook_backstop_s) * given.max_attempts + 60


def cmd_run(args: argparse.Namespace) -> int:
    payload = workflow_input(args)
    name = args.request_id or f"run-{uuid.uuid4().hex[:12]}"
    refuse_invalid(payload, name)
    refuse_over_history_budget(payload["options"])
    livekit = livekit_from_env()
    outcome = execute(livekit, payload, name=name, timeout_s=execution_budget_s(payload["options"]))
    print_outcome(outcome, args.json)
    return exit_status(outcome)


def print_outcome(outcome: dict[str, Any], one_line: bool) -> None:
    if one_line:
        print(json.dumps(outcome, separators=(",", ":")))
    else:
        print(json.dumps(outcome, indent=2))


def exit_status(outcome: dict[str, Any]) -> int:
    return EXIT_VERIFIED if outcome["status"] == "verified" else EXIT_ESCALATED


# The flag that sets each field of the workflow input, to name it in a usage error.
FLAGS = {
    "room": "--room",
    "agent_name": "--agent-name",
    "metadata": "--metadata",
    "request_id": "--request-id",
    "options.join_timeout_s": "--join-timeout",
    "options.poll_interval_s": "--poll-interval",
    "options.max_attempts": "--max-attempts",
    "sip.trunk_id": "--sip-trunk",
    "sip.call_to": "--call-to",
    "sip.participant_identity": "--callee-identity",
    "sip.ringing_timeout_s": "--ringing-timeout",
}


def refuse_invalid(payload: dict[str, Any], name: str) -> None:
    """What the workflow would refuse (an ``invalid_request`` escalation, which pages someone on AWS)
    is a usage error here, naming the flag, before anything runs."""
    problem = execution_name_problem(name)
    if problem is not None:
        raise UsageError(f"--request-id {problem}")
    try:
        DispatchRequest.model_validate({**payload, "request_id": name})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error.get("loc", ()))
            flag = FLAGS.get(field, field or "input")
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{flag} {message}")
        raise UsageError("; ".join(problems)) from None


def refuse_over_history_budget(options: dict[str, Any]) -> None:
    """The workflow would refuse these options (invalid_request, an escalation): say so before it runs.
    `run` polls (no webhooks reach this machine), so the poll interval is the wait."""
    from dispatch_verify.logic.history import over_budget
    from dispatch_verify.models import Options

    try:
        parsed = Options.model_validate(options)
    except ValueError:
        return  # out of range: the workflow names the field
    flags = {
        "join_timeout_s": "--join-timeout",
        "poll_interval_s": "--poll-interval",
        "max_attempts": "--max-attempts",
    }
    refusal = over_budget(parsed, webhooks=False, name=flags.__getitem__)
    if refusal is not None:
        raise UsageError(refusal)


def heartbeat_parameters(agent_name: str) -> dict[str, str]:
    """The stack deployed with a heartbeat of ``agent_name``: its schedule's input is what runs."""
    return {"HeartbeatEnabled": "true", "HeartbeatAgentName": agent_name}


def cmd_heartbeat(args: argparse.Namespace) -> int:
    name = f"local-{uuid.uuid4().hex[:12]}"
    budget = execution_budget_s()  # the schedule's input leaves the options at their defaults
    if any(os.environ.get(env) for env in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")):
        livekit = livekit_from_env()
        if not args.agent_name:
            raise UsageError("--agent-name is required against LIVEKIT_URL: name the deployed agent to check")
        outcome = execute(
            livekit, None, name=name, timeout_s=budget, parameters=heartbeat_parameters(args.agent_name)
        )
    else:
        from livekit_sim import LiveKitSimulator

        agent = args.agent_name or HEARTBEAT_DEMO_AGENT
        with LiveKitSimulator(RealClock(), agents={agent: "warm"}) as sim:
            print(
                f"LIVEKIT_URL not set: embedded LiveKit simulator at {sim.url}, agent {agent!r} warm",
                file=sys.stderr,
                flush=True,
            )
            livekit = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
            outcome = execute(
                livekit, None, name=name, timeout_s=budget, sim=sim, parameters=heartbeat_parameters(agent)
            )
    print_outcome(outcome, args.json)
    return exit_status(outcome)


def cmd_demo(args: argparse.Namespace) -> int:
    from livekit_sim import LiveKitSimulator

    clock = RealClock()
    agents = {"sleepy-agent": f"wake:{args.wake}", "ghost-agent": "never"}
    with LiveKitSimulator(clock, agents=agents) as sim:
        livekit = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
        print(f"LiveKit simulator at {sim.url}; agents: {agents}", flush=True)
        print(
            "Its webhooks go to the API's POST /livekit/webhook: a participant_joined of the awaited\n"
            "agent resumes the waiting workflow at once; without one it checks every poll interval.\n",
            flush=True,
        )
        stamp = time.strftime("%H%M%S")
        print(
            f"1) 'sleepy-agent' is asleep and wakes about {args.wake} s after its first dispatch.", flush=True
        )
        first = execute(
            livekit,
            {
                "room": f"demo-sleepy-{stamp}",
                "agent_name": "sleepy-agent",
                "metadata": {"caller": "+15550100", "purpose": "demo"},
                "options": {"join_timeout_s": 30, "poll_interval_s": 2, "max_attempts": 2},
            },
            name=f"demo-sleepy-{stamp}",
            timeout_s=120,
            sim=sim,
        )
        print(json.dumps(first, indent=2), flush=True)
        print(
            "\n2) 'ghost-agent' accepts the dispatch but never wakes (the sleeping-agent case).", flush=True
        )
        second = execute(
            livekit,
            {
                "room": f"demo-ghost-{stamp}",
                "agent_name": "ghost-agent",
                "metadata": {"purpose": "demo"},
                "options": {"join_timeout_s": 8, "poll_interval_s": 2, "max_attempts": 3},
            },
            name=f"demo-ghost-{stamp}",
            timeout_s=120,
            sim=sim,
        )
        print("Escalation bundle (published to SNS and EventBridge):", flush=True)
        print(json.dumps(second.get("evidence", second), indent=2), flush=True)
        peak = max(
            sim.max_live_dispatches(first["room"], "sleepy-agent"),
            sim.max_live_dispatches(second["room"], "ghost-agent"),
        )
        print(f"\nlive dispatches per room never exceeded: {peak}", flush=True)
    ok = first["status"] == "verified" and second["status"] == "escalated"
    return EXIT_VERIFIED if ok else EXIT_ESCALATED


def cmd_sim(args: argparse.Namespace) -> int:
    from livekit_sim import LiveKitSimulator, check_share, check_url, parse_behaviour

    agents: dict[str, str] = {}
    for item in args.agent or []:
        name, sep, behaviour = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--agent expects NAME=BEHAVIOUR, got {item!r}")
        try:
            parse_behaviour(behaviour)
        except ValueError as exc:
            raise UsageError(f"--agent {item}: {exc}") from exc
        agents[name] = behaviour
    sip_answers = sip_answers_of(args.sip or [])
    shares = {"drop": 0.0, "duplicate": 0.0}
    for name, text in (("drop", args.webhook_drop), ("duplicate", args.webhook_duplicate)):
        if text is None:
            continue
        if args.webhook_url is None:
            raise UsageError(f"--webhook-{name} needs --webhook-url")
        try:
            shares[name] = check_share(name, float(text))
        except ValueError:
            raise UsageError(f"--webhook-{name} expects a share between 0 and 1, got {text!r}") from None
    if args.webhook_url is not None:
        try:
            check_url(args.webhook_url)
        except ValueError:
            raise UsageError(
                f"--webhook-url expects an http:// or https:// URL with a host, got {args.webhook_url!r}"
            ) from None
    sim = LiveKitSimulator(
        RealClock(),
        api_key=args.api_key,
        api_secret=args.api_secret,
        agents=agents,
        auto_create=not args.no_auto_create,
        sip_answers=sip_answers,
        sip_trunks=tuple(args.sip_trunk or ()),
    )
    if args.webhook_url is not None:
        sim.set_webhook(args.webhook_url, drop=shares["drop"], duplicate=shares["duplicate"])
    try:
        url = sim.start(port=args.port)
    except OSError as exc:
        sim.stop()
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from exc
    print(f"LiveKit simulator listening on {url}", flush=True)
    print(
        f"  LIVEKIT_URL={url} LIVEKIT_API_KEY={args.api_key} LIVEKIT_API_SECRET={args.api_secret}", flush=True
    )
    print(f"  agents: {agents or '(none: every agent name has no worker)'}")
    print(f"  auto-create rooms: {not args.no_auto_create}", flush=True)
    trunks = ", ".join(sorted(sim.sip_trunks))
    print(f"  SIP trunks: {trunks}; answers: {sip_answers or '(every number answers)'}", flush=True)
    if args.webhook_url is None:
        print("  webhooks: off (--webhook-url URL sends them)", flush=True)
    else:
        drop, duplicate = shares["drop"], shares["duplicate"]
        print(f"  webhooks: POST {args.webhook_url} (drop {drop:g}, duplicate {duplicate:g})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    shown = 0
    try:
        while not stop.wait(0.2):
            if not args.quiet:
                calls = list(sim.calls)
                for method, code, status in calls[shown:]:
                    print(f"{time.strftime('%H:%M:%S')} {method} → {code} ({status})", flush=True)
                shown = len(calls)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def sip_answers_of(items: list[str]) -> dict[str, str]:
    from livekit_sim import parse_answer

    answers: dict[str, str] = {}
    for item in items:
        number, sep, answer = item.partition("=")
        if not sep or not number:
            raise UsageError(f"--sip expects NUMBER=ANSWER, got {item!r}")
        try:
            answers[number] = parse_answer(answer)
        except ValueError as exc:
            raise UsageError(f"--sip {item}: {exc}") from exc
    return answers


def cmd_api(args: argparse.Namespace) -> int:
    from local_engine import serve

    names = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
    livekit = livekit_from_env() if any(os.environ.get(name) for name in names) else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if livekit is not None:
            # A LiveKit project reaches 127.0.0.1 with no webhook: poll, unless told it does.
            serve_polling(livekit, args, stop)
        else:
            serve(str(TEMPLATE), livekit, host=args.host, port=args.port, out=_say, stop=stop)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        pass
    return 0


def serve_polling(livekit: dict[str, str], args: argparse.Namespace, stop: threading.Event) -> None:
    """``serve`` against a LiveKit server, with the stack's LiveKitWebhooks as ``--webhooks`` says."""
    from local_engine import LocalApi, LocalApiServer, LocalEngine

    mode = "Enabled" if args.webhooks else "Disabled"
    _say(
        f"LiveKit at {livekit['url']}; webhooks {'expected' if args.webhooks else 'off: the workflow polls'}"
    )
    with (
        LocalEngine(
            RealClock(), livekit, template_path=str(TEMPLATE), parameters={"LiveKitWebhooks": mode}
        ) as engine,
        LocalApiServer(LocalApi(engine), args.host, args.port) as server,
    ):
        _say(f"dispatch API listening on {server.url}")
        if args.webhooks:
            _say(f"  the LiveKit project's webhook URL must reach {server.url}/livekit/webhook")
        while not stop.wait(0.2):
            pass


def _say(line: str) -> None:
    print(line, flush=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (an option left unset says what then happens in its
    help: "unset: ..."); descriptions and epilogs keep their lines."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text
        return f"{text} (default: %(default)s)" if shown and action.option_strings else text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="dispatch-verify",
        description=__doc__.split("\n\n")[0].replace("\n", " ").replace("``", ""),
        formatter_class=_HelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(name: str, summary: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=summary, formatter_class=_HelpFormatter, **kwargs
        )

    demo = command("demo", "sleeping agent verified, then a never-waking agent escalated (simulator)")
    demo.add_argument("--wake", type=_positive_int, default=12, help="seconds the sleepy agent sleeps")
    demo.set_defaults(func=cmd_demo)

    run = command("run", "dispatch and verify against LIVEKIT_URL with the real workflow (polling)")
    run.add_argument("--room", required=True, help="the LiveKit room to dispatch the agent into")
    run.add_argument("--agent-name", required=True, help="the agent name its workers registered under")
    run.add_argument("--metadata", help="JSON passed to the agent's job")
    # Left unset, an option is the workflow's own default (its models), which the help shows.
    defaults = Options.model_construct()
    run.add_argument(
        "--join-timeout",
        type=_positive_int,
        help=f"seconds to wait per dispatch (unset: the workflow's {defaults.join_timeout_s})",
    )
    run.add_argument(
        "--poll-interval",
        type=_positive_int,
        help=f"seconds between looks at the room (unset: {defaults.poll_interval_s})",
    )
    run.add_argument(
        "--max-attempts",
        type=_positive_int,
        help=f"dispatches before escalating (unset: {defaults.max_attempts})",
    )
    run.add_argument(
        "--request-id", help="execution name / request id, as Step Functions names executions (unset: random)"
    )
    run.add_argument("--call-to", metavar="NUMBER", help="once verified, dial NUMBER into the room (SIP)")
    run.add_argument("--sip-trunk", metavar="ID", help="the outbound SIP trunk to dial --call-to over")
    run.add_argument("--callee-identity", default="callee", help="the callee's participant identity")
    ringing = SipRequest.model_fields["ringing_timeout_s"].default
    run.add_argument(
        "--ringing-timeout",
        type=_positive_int,
        help=f"seconds the call rings (unset: {ringing}; at most {MAX_RINGING_TIMEOUT_S})",
    )
    run.add_argument("--json", action="store_true", help="print the outcome as one JSON line on stdout")
    run.set_defaults(func=cmd_run)

    heartbeat = command(
        "heartbeat",
        "one heartbeat: dispatch into a fresh room, verify, delete the room (LIVEKIT_URL or simulator)",
    )
    heartbeat.add_argument(
        "--agent-name",
        help=f"the agent to check (required with LIVEKIT_URL; simulator: {HEARTBEAT_DEMO_AGENT})",
    )
    heartbeat.add_argument("--json", action="store_true", help="print the outcome as one JSON line on stdout")
    heartbeat.set_defaults(func=cmd_heartbeat)

    sim = command(
        "sim",
        "serve the LiveKit simulator on 127.0.0.1 until interrupted, one line per call",
        epilog=f"agent behaviours (--agent NAME=BEHAVIOUR):\n{behaviour_help()}",
    )
    sim.add_argument("--port", type=int, default=7880, help="the port to listen on")
    sim.add_argument("--api-key", default="devkey", help="the API key clients sign with")
    sim.add_argument("--api-secret", default="secret", help="the API secret clients sign with")
    sim.add_argument(
        "--agent",
        action="append",
        metavar="NAME=BEHAVIOUR",
        help=f"{' | '.join(kind.usage for kind in BEHAVIOURS.values())} (repeatable; described below)",
    )
    sim.add_argument(
        "--no-auto-create", action="store_true", help="dispatch to a missing room answers not_found"
    )
    sim.add_argument(
        "--sip",
        action="append",
        metavar="NUMBER=ANSWER",
        help=f"how a dialled number answers: {' | '.join(ANSWERS)} (repeatable; unset: {ANSWERS[0]})",
    )
    # `run --sip-trunk` dials over a trunk; here a trunk is only registered: its own name.
    sim.add_argument(
        "--accept-trunk",
        "--sip-trunk",
        dest="sip_trunk",
        action="append",
        metavar="ID",
        help="an outbound trunk id CreateSIPParticipant accepts, besides ST_simtrunk (repeatable)",
    )
    sim.add_argument(
        "--webhook-url",
        metavar="URL",
        help="POST LiveKit webhooks (room_started, room_finished, participant_joined/left) to URL",
    )
    sim.add_argument(
        "--webhook-drop",
        metavar="SHARE",
        help="share of webhooks never sent, 0..1 (unset: 0; needs --webhook-url)",
    )
    sim.add_argument(
        "--webhook-duplicate",
        metavar="SHARE",
        help="share of webhooks sent twice, 0..1 (unset: 0; needs --webhook-url)",
    )
    sim.add_argument("--quiet", action="store_true", help="do not print a line per call")
    sim.set_defaults(func=cmd_sim)

    api = command(
        "api", "serve the dispatch API on 127.0.0.1 (local engine; simulator unless LIVEKIT_* is set)"
    )
    api.add_argument("--port", type=int, default=3000, help="the port to listen on")
    api.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    api.add_argument(
        "--webhooks",
        action="store_true",
        help="with LIVEKIT_*: the LiveKit project posts its webhooks to this API (it must reach it); "
        "unset, the workflow polls every poll_interval_s",
    )
    api.set_defaults(func=cmd_api)

    cancel = command("cancel", "cancel a dispatch through a dispatch API: stop it, delete its dispatches")
    cancel.add_argument("request_id", help="the request id POST /dispatches answered")
    cancel.add_argument(
        "--delete-room", action="store_true", help="delete the room too (if the workflow created it)"
    )
    client_options(cancel)
    cancel.set_defaults(func=cmd_cancel)

    listing = command("list", "list recent dispatches through a dispatch API, newest first")
    listing.add_argument("--room", help="only this room's")
    listing.add_argument(
        "--status", choices=["running", "verified", "escalated", "cancelled"], help="only these"
    )
    listing.add_argument("--since", help="accepted at or after this ISO-8601 time (unset: the API's 24 h)")
    listing.add_argument("--limit", type=_positive_int, default=20, help="at most this many")
    client_options(listing)
    listing.set_defaults(func=cmd_list)
    return top


def client_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--api-url",
        default=os.environ.get("DISPATCH_API_URL", "http://127.0.0.1:3000"),
        help="the API's base URL (a stack's: DispatchApiUrl without /dispatches); env DISPATCH_API_URL",
    )
    command.add_argument(
        "--auth",
        choices=["none", "sigv4", "api-key"],
        default="none",
        help="none (local), sigv4 (ApiAuth=AWS_IAM: the AWS credentials boto finds), "
        "api-key (ApiAuth=API_KEY: env DISPATCH_API_KEY)",
    )


def api_client(args: argparse.Namespace) -> Any:
    from dispatch_verify.client import ApiKeyAuth, DispatchClient, SigV4Auth

    auth: Any = None
    if args.auth == "sigv4":
        auth = SigV4Auth.from_environment()
    elif args.auth == "api-key":
        key = os.environ.get("DISPATCH_API_KEY")
        if not key:
            raise UsageError("--auth api-key needs DISPATCH_API_KEY (the stack's API key value)")
        auth = ApiKeyAuth(key)
    return DispatchClient(args.api_url, auth=auth)


def cmd_cancel(args: argparse.Namespace) -> int:
    from dispatch_verify.client import ApiError

    problem = execution_name_problem(args.request_id)
    if problem is not None:
        raise UsageError(f"request id {problem}")
    try:
        view = api_client(args).cancel(args.request_id, delete_room=args.delete_room)
    except ApiError as exc:
        raise UsageError(str(exc)) from None
    print(view.model_dump_json(indent=2))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dispatch_verify.client import ApiError

    try:
        page = api_client(args).list(room=args.room, status=args.status, since=args.since, limit=args.limit)
    except ApiError as exc:
        raise UsageError(str(exc)) from None
    for view in page.dispatches:
        where = f"{view.agent_name} → {view.room}"
        state = view.phase if view.status == "running" else (view.cause or "")
        print(f"{view.accepted_at}  {view.request_id}  {view.status:<9} {state or '':<17} {where}")
    if page.next_token:
        print(f"(more: GET /dispatches?next_token={page.next_token})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    # The simulator's defaults are LiveKit's dev credentials (devkey/secret), shorter than PyJWT likes.
    warnings.filterwarnings("ignore", message="The HMAC key is .* bytes long")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"dispatch-verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
