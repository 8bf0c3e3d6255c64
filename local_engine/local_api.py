"""``dispatch-verify api``: the template's API served on 127.0.0.1, without Docker.

Like ``sam local start-api``, each HTTP request becomes an API Gateway REST proxy event
(``resource``, ``pathParameters``, ``multiValueHeaders``, ``requestContext``, ``isBase64Encoded``...)
for the real handler of the function that the deployed API integrates for the route (the OpenAPI
``Body`` SAM generates for ``AWS::ApiGateway::RestApi``, its ``x-amazon-apigateway-integration``), if
a Lambda permission lets API Gateway invoke it (else API Gateway's 500), and the handler's proxy
response becomes the HTTP response. The handler reaches the local engine's moto (Step Functions
runs the real ASL, DynamoDB holds the ledger). Calls are serialised, as in one Lambda instance:
Powertools' resolver keeps the current event on itself. A route integrated with SQS instead of a
function (the LiveKit webhook's) is API Gateway's own work: ``queues.SqsIntegration``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_engine import LocalEngine
from local_engine.moto_bridge import LambdaContext
from local_engine.queues import SQS_URI, SqsIntegration
from local_engine.stack import ACCOUNT_ID, Stack

STAGE = "local"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit


WEBHOOK_PATH = "/livekit/webhook"


@dataclass(frozen=True)
class Route:
    method: str  # "POST", or "ANY"
    resource: str  # "/dispatches/{request_id}"
    function: str  # the integrated function's name
    pattern: re.Pattern[str]
    auth: tuple[str, ...] = ()  # the OpenAPI security schemes: "AWS_IAM", "api_key", "NONE"
    permitted: bool = True  # a Lambda permission lets API Gateway invoke the function for this route
    queue: SqsIntegration | None = None  # an SQS integration (no function: ``function`` is "")

    @classmethod
    def of(cls, method: str, resource: str, function: str, **extra: Any) -> Route:
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
        return cls(method.upper(), resource, function, re.compile(f"^{regex}$"), **extra)


def routes_of(engine: LocalEngine) -> list[Route]:
    """Every operation of the stack's REST APIs, from the OpenAPI body SAM generated."""
    stack = engine.stack
    assert stack is not None
    found = []
    for api_lid, props in stack.of_type("AWS::ApiGateway::RestApi").items():
        for resource, operations in (props.get("Body") or {}).get("paths", {}).items():
            for method, operation in operations.items():
                integration = operation.get("x-amazon-apigateway-integration") or {}
                uri = str(integration.get("uri", ""))
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                schemes = tuple(name for entry in operation.get("security") or [] for name in entry)
                if integration.get("type") == "aws" and SQS_URI.match(uri):
                    queue = SqsIntegration(engine, integration)
                    found.append(Route.of(verb, resource, "", auth=schemes, queue=queue))
                    continue
                if "/functions/" not in uri:
                    continue
                function = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0].split(":")[6]
                permitted = _api_may_invoke(stack, stack.refs[api_lid], function, verb, resource)
                found.append(Route.of(verb, resource, function, auth=schemes, permitted=permitted))
    return found


def _api_may_invoke(stack: Stack, api_id: str, function: str, method: str, resource: str) -> bool:
    """A Lambda permission (``AWS::Lambda::Permission``) lets API Gateway invoke ``function`` for this
    method and resource, on some stage."""
    source = f"arn:aws:execute-api:{stack.region}:{ACCOUNT_ID}:{api_id}/local/{method}{resource}"
    for props in stack.of_type("AWS::Lambda::Permission").values():
        name = str(props.get("FunctionName", "")).split(":function:")[-1].split(":")[0]
        if name != function or props.get("Principal") != "apigateway.amazonaws.com":
            continue
        if props.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
            continue
        pattern = re.escape(str(props.get("SourceArn", source))).replace("\\*", ".*")
        if re.fullmatch(pattern, source):
            return True
    return False


def proxy_event(
    route: Route,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The REST API (v1) proxy event API Gateway sends for this request."""
    split = urlsplit(raw_path)
    match = route.pattern.match(split.path)
    assert match is not None
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    # API Gateway adds these; the handler builds status URLs from them.
    port = host_port(headers)
    multi_headers.setdefault("X-Forwarded-Proto", ["http"])
    multi_headers.setdefault("X-Forwarded-Port", [port])
    multi_headers.setdefault("X-Forwarded-For", [source_ip])
    query = parse_qs(split.query, keep_blank_values=True)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    host = next((value for name, value in headers if name.lower() == "host"), "127.0.0.1")
    return {
        "resource": route.resource,
        "path": split.path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {key: values[-1] for key, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {key: unquote(value) for key, value in match.groupdict().items()} or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{STAGE}{split.path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": host.split(":")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": source_ip, "userAgent": multi_headers.get("User-Agent", [None])[-1]},
            "domainName": host,
            "apiId": "local",
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def host_port(headers: list[tuple[str, str]]) -> str:
    host = next((value for name, value in headers if name.lower() == "host"), "")
    return host.rpartition(":")[2] if ":" in host else "80"


class LocalApi:
    """Routes and the handlers behind them, called one at a time."""

    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine
        self.routes = routes_of(engine)
        self._lock = threading.Lock()

    def route(self, method: str, path: str) -> Route | None:
        for route in self.routes:
            if route.method in (method, "ANY") and route.pattern.match(path):
                return route
        return None

    def invoke(self, route: Route, event: dict[str, Any]) -> dict[str, Any]:
        target = self.engine.function(route.function)
        handler = self.engine.handler(target)
        context = LambdaContext(
            function_name=target.name,
            invoked_function_arn=target.arn,
            memory_limit_in_mb=target.memory_mb,
            timeout_s=target.timeout_s,
        )
        with self._lock, self.engine.handler_call(target):
            return handler(event, context)

    def deliver_webhook(self, body: str, headers: dict[str, str]) -> int:
        """A LiveKit webhook posted to ``POST /livekit/webhook``, as API Gateway takes it: queued by
        the route's SQS integration (whose event source then hands it to the function, before this
        returns), or passed to the route's function; the status API Gateway answered. Wire the
        simulator with ``sim.set_webhook(api.deliver_webhook)``."""
        route = self.route("POST", WEBHOOK_PATH)
        if route is None:
            raise LookupError(f"the template has no POST {WEBHOOK_PATH} route")
        if route.queue is not None:
            return route.queue.post({"Host": "127.0.0.1", **headers}, body)[0]
        request_headers = [("Host", "127.0.0.1"), *headers.items()]
        event = proxy_event(route, "POST", WEBHOOK_PATH, request_headers, body.encode("utf-8"))
        return int(self.invoke(route, event)["statusCode"])


class LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        api: LocalApi,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.log = log
        super().__init__((host, port), _RequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="local-api", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def __getattr__(self, name: str) -> Any:
        # Any other method (HEAD, OPTIONS, TRACE, QUERY...): no route has it, so API Gateway's 403.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._send(413, {"Content-Type": ["application/json"]}, b'{"message":"Request Too Long"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        route = self.server.api.route(self.command, path)
        if route is None:
            # API Gateway answers 403 {"message": "Missing Authentication Token"} here (README): the
            # local server says plainly what is wrong and which routes there are.
            routes = sorted(f"{r.method} {r.resource}" for r in self.server.api.routes)
            problem = {
                "message": f"no route for {self.command} {path}",
                "routes": routes,
                "api_gateway_answers": {"status": 403, "message": "Missing Authentication Token"},
            }
            self._send(404, {"Content-Type": ["application/json"]}, json.dumps(problem).encode())
            return
        if route.queue is not None:  # API Gateway sends it to SQS itself
            status, data = route.queue.post(dict(self.headers.items()), body.decode("utf-8", "replace"))
            self._send(status, {"Content-Type": ["application/json"]}, data)
            return
        if not route.permitted:  # API Gateway may not invoke the function: it answers 500
            self._send(500, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}')
            return
        event = proxy_event(
            route, self.command, self.path, list(self.headers.items()), body, source_ip=self.client_address[0]
        )
        try:
            response = self.server.api.invoke(route, event)
        except Exception as exc:  # an unhandled handler error is API Gateway's 502
            self._send(
                502,
                {"Content-Type": ["application/json"]},
                json.dumps({"message": "Internal server error", "error": type(exc).__name__}).encode(),
            )
            raise
        headers: dict[str, list[str]] = {}
        for name, value in (response.get("headers") or {}).items():
            headers[name] = [str(value)]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = [str(v) for v in values]
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        self._send(int(response.get("statusCode", 502)), headers, data)

    def _send(self, status: int, headers: dict[str, list[str]], data: bytes) -> None:
        self.send_response(status)
        for name, values in headers.items():
            if name.lower() not in ("content-length", "connection"):
                for value in values:
                    self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


# The simulator's agents when `dispatch-verify api` runs without LIVEKIT_*.
DEMO_AGENTS = {"fast-agent": "warm", "sleepy-agent": "wake:8", "ghost-agent": "never", "busy-agent": "reject"}


def serve(
    template_path: str,
    livekit: dict[str, str] | None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    out: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve the API until ``stop`` is set: the local engine on real time, and the embedded simulator
    (with ``DEMO_AGENTS``) unless ``livekit`` names a LiveKit server."""
    from clocks import RealClock
    from livekit_sim import LiveKitSimulator

    stop = stop or threading.Event()
    clock = RealClock()
    sim = None
    if livekit is None:
        sim = LiveKitSimulator(clock, agents=DEMO_AGENTS)
        sim.start()
        livekit = {"url": sim.url or "", "api_key": sim.api_key, "api_secret": sim.api_secret}
        out(
            f"LiveKit simulator at {sim.url}; agents: "
            + ", ".join(f"{k} ({v})" for k, v in DEMO_AGENTS.items())
        )
    else:
        out(f"LiveKit at {livekit['url']}")
    try:
        with (
            LocalEngine(clock, livekit, template_path=template_path) as engine,
            LocalApiServer(LocalApi(engine), host, port) as server,
        ):
            if sim is not None:  # LiveKit's webhooks, as a project configured with the API's URL sends them
                sim.set_webhook(server.api.deliver_webhook)
            out(f"dispatch API listening on {server.url}")
            out(f"  curl -s -X POST {server.url}/dispatches -H 'Content-Type: application/json' \\")
            out('       -d \'{"room": "demo-room", "agent_name": "sleepy-agent"}\'')
            out(f"  curl -s {server.url}/dispatches/<request_id>")
            while not stop.wait(0.2):
                pass
    finally:
        if sim is not None:
            sim.stop()
