"""The ``dispatch-verify`` command: demo, run, heartbeat, sim.

Everything runs on this machine: the real state machine definition on moto's Step Functions
interpreter, the real Lambda handlers, and either the embedded LiveKit simulator (demo) or the
LiveKit server named by LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET (run).
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

from dispatch_verify.models import MAX_RINGING_TIMEOUT_S, Options, SipRequest

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


def outcome_of(result: Any) -> dict[str, Any]:
    """One JSON-able outcome from a finished execution, verified or escalated."""
    if result.status == "SUCCEEDED" and isinstance(result.output, dict):
        return {**result.output, "status": result.output.get("status", "verified")}
    try:
        bundle = json.loads(result.cause or "")
    except ValueError:
        bundle = None
    if not isinstance(bundle, dict):
        return {"status": "escalated", "cause": "internal", "error": result.error, "detail": result.cause}
    return {
        "status": "escalated",
        "cause": bundle.get("cause"),
        "request_id": bundle.get("request_id"),
        "room": bundle.get("room"),
        "agent_name": bundle.get("agent_name"),
        "attempts": bundle.get("attempts"),
        "dispatch_ids": [d.get("dispatch_id") for d in bundle.get("dispatches", [])],
        "join_latency_s": None,
        "escalation": bundle,
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
            result = engine.wait(arn, timeout_s=timeout_s, on_event=progress.printer(sys.stderr, clock.now))
        finally:
            if sim is not None:
                sim.set_webhook(None)
    return outcome_of(result)


def execution_budget_s(options: dict[str, Any] | None = None) -> float:
    """How long to wait for an execution with these workflow options (the models' defaults for
    those not given): each attempt's join timeout and a webhook backstop's slack, plus a minute."""
    given = Options.model_construct(**(options or {}))  # the workflow validates them, not this
    return (given.join_timeout_s + given.webhook_backstop_s) * given.max_attempts + 60


def cmd_run(args: argparse.Namespace) -> int:
    payload = workflow_input(args)
    refuse_over_history_budget(payload["options"])
    livekit = livekit_from_env()
    name = args.request_id or f"run-{uuid.uuid4().hex[:12]}"
    outcome = execute(livekit, payload, name=name, timeout_s=execution_budget_s(payload["options"]))
    if args.json:
        print(json.dumps(outcome, separators=(",", ":")))
    else:
        print(json.dumps(outcome, indent=2))
    return EXIT_VERIFIED if outcome["status"] != "escalated" else EXIT_ESCALATED


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
    if args.json:
        print(json.dumps(outcome, separators=(",", ":")))
    else:
        print(json.dumps(outcome, indent=2))
    return EXIT_VERIFIED if outcome["status"] != "escalated" else EXIT_ESCALATED


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
        print(json.dumps(second.get("escalation", second), indent=2), flush=True)
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
    try:
        while not stop.wait(0.5):
            pass
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
        serve(str(TEMPLATE), livekit, host=args.host, port=args.port, out=_say, stop=stop)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        pass
    return 0


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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dispatch-verify", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="sleeping agent verified, then a never-waking agent escalated (simulator)"
    )
    demo.add_argument("--wake", type=_positive_int, default=12, help="seconds the sleepy agent sleeps")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="dispatch and verify against LIVEKIT_URL with the real workflow")
    run.add_argument("--room", required=True)
    run.add_argument("--agent-name", required=True)
    run.add_argument("--metadata", help="JSON passed to the agent")
    # Left unset, an option is the workflow's own default (its models), which the help shows.
    defaults = Options.model_construct()
    run.add_argument(
        "--join-timeout",
        type=_positive_int,
        help=f"seconds to wait per dispatch ({defaults.join_timeout_s})",
    )
    run.add_argument(
        "--poll-interval", type=_positive_int, help=f"seconds between checks ({defaults.poll_interval_s})"
    )
    run.add_argument(
        "--max-attempts", type=_positive_int, help=f"dispatches before escalating ({defaults.max_attempts})"
    )
    run.add_argument("--request-id", help="execution name / request id (default: random)")
    run.add_argument("--call-to", metavar="NUMBER", help="once verified, dial NUMBER into the room (SIP)")
    run.add_argument("--sip-trunk", metavar="ID", help="outbound SIP trunk for --call-to")
    run.add_argument("--callee-identity", default="callee", help="the callee's participant identity (callee)")
    ringing = SipRequest.model_fields["ringing_timeout_s"].default
    run.add_argument(
        "--ringing-timeout",
        type=_positive_int,
        help=f"seconds the call rings ({ringing}, max {MAX_RINGING_TIMEOUT_S})",
    )
    run.add_argument("--json", action="store_true", help="print the outcome as one JSON line on stdout")
    run.set_defaults(func=cmd_run)

    heartbeat = sub.add_parser(
        "heartbeat",
        help="one heartbeat: dispatch into a fresh room, verify, delete the room (LIVEKIT_URL or simulator)",
    )
    heartbeat.add_argument(
        "--agent-name",
        help=f"the agent to check (required with LIVEKIT_URL; simulator: {HEARTBEAT_DEMO_AGENT})",
    )
    heartbeat.add_argument("--json", action="store_true", help="print the outcome as one JSON line on stdout")
    heartbeat.set_defaults(func=cmd_heartbeat)

    sim = sub.add_parser(
        "sim",
        help="serve the LiveKit simulator on 127.0.0.1 until interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's table as written
        epilog=f"agent behaviours (--agent NAME=BEHAVIOUR):\n{behaviour_help()}",
    )
    sim.add_argument("--port", type=int, default=7880)
    sim.add_argument("--api-key", default="devkey")
    sim.add_argument("--api-secret", default="secret")
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
        help=f"how a dialled number answers: {' | '.join(ANSWERS)} (repeatable; default {ANSWERS[0]})",
    )
    sim.add_argument(
        "--sip-trunk",
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
        "--webhook-drop", metavar="SHARE", help="share of webhooks never sent, 0..1 (0; needs --webhook-url)"
    )
    sim.add_argument(
        "--webhook-duplicate",
        metavar="SHARE",
        help="share of webhooks sent twice, 0..1 (0; needs --webhook-url)",
    )
    sim.set_defaults(func=cmd_sim)

    api = sub.add_parser(
        "api", help="serve the dispatch API on 127.0.0.1 (local engine; simulator unless LIVEKIT_* is set)"
    )
    api.add_argument("--port", type=int, default=3000)
    api.add_argument("--host", default="127.0.0.1")
    api.set_defaults(func=cmd_api)
    return top


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
