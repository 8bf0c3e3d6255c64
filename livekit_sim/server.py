"""HTTP and Twirp: routing, JWT authentication, protobuf/JSON encoding, fault injection.

Order of checks follows LiveKit's server: the auth middleware validates a token (plain-text 401),
then Twirp routes (``bad_route``), decodes the body (``malformed``), and the handler checks grants
(JSON 401 ``unauthenticated`` / ``permissions denied``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.api import TokenVerifier
from livekit.api.access_token import Claims

from .errors import PlainAuthError, TwirpError
from .service import METHODS, UNMODELLED
from .sip import Later
from .world import World

PREFIX = "/twirp/livekit."
JSON, PROTOBUF = "application/json", "application/protobuf"
DEFAULT_FAULT_MESSAGES = {
    "unavailable": "no response from servers",
    "deadline_exceeded": "deadline exceeded",
    "resource_exhausted": "resource exhausted",
    "internal": "internal error",
}


@dataclass
class Fault:
    code: str | None
    remaining: int
    latency_s: float
    message: str | None
    applied: bool = False  # the call takes effect, yet the caller sees the error
    room: str | None = None  # only calls about this room (a test device: aims a fault at one run)
    hold_s: float = 0.0  # real seconds the reply is held after the call took effect (client timeouts)


@dataclass(frozen=True)
class DeliveredFault:
    """One use of an injected fault, recorded when a call actually received it."""

    method: str
    room: str
    code: str | None
    applied: bool
    hold_s: float
    latency_s: float


def request_room(req: Message) -> str:
    """The room a request is about ("" for none): ``room``, CreateRoom's ``name``, SIP's ``room_name``."""
    for field in ("room", "room_name", "name"):
        if field in req.DESCRIPTOR.fields_by_name:
            return str(getattr(req, field))
    return ""


def _hold(fault: Fault | None) -> None:
    """Hold the answer for the fault's real seconds: a client with a shorter timeout gives up."""
    if fault is not None and fault.hold_s > 0:
        time.sleep(fault.hold_s)


class TwirpApp:
    """Everything between the raw HTTP request and the world; no sockets here."""

    def __init__(self, world: World, api_key: str, api_secret: str) -> None:
        self.world = world
        self.api_key = api_key
        self.verifier = TokenVerifier(api_key, api_secret)
        self.faults: dict[str, deque[Fault]] = {}
        self.delivered: list[DeliveredFault] = []  # every fault a call received, in order
        self.calls: list[tuple[str, str, int]] = []
        self.revoked_from: float | None = None  # clock time from which the API key is rejected
        self.record_tokens = False
        self.tokens: set[str] = set()  # every bearer token received, while record_tokens is on
        self._calls_lock = threading.Lock()

    def add_fault(self, method: str, fault: Fault) -> None:
        with self.world.lock:
            self.faults.setdefault(method, deque()).append(fault)

    def recorded_tokens(self) -> set[str]:
        with self._calls_lock:
            return set(self.tokens)

    def clear_faults(self, room: str | None = None) -> None:
        """Forget the faults still pending: all of them, or those aimed at ``room``."""
        with self.world.lock:
            for queue in self.faults.values():
                kept = [f for f in queue if room is not None and f.room != room]
                queue.clear()
                queue.extend(kept)

    def _take_fault(self, method: str, room: str) -> Fault | None:
        """The first pending fault of ``method`` aimed at every room or at ``room``; one use of it."""
        with self.world.lock:
            queue = self.faults.get(method)
            while queue and queue[0].remaining <= 0:
                queue.popleft()
            for fault in queue or ():
                if fault.remaining > 0 and fault.room in (None, room):
                    fault.remaining -= 1
                    self.delivered.append(
                        DeliveredFault(method, room, fault.code, fault.applied, fault.hold_s, fault.latency_s)
                    )
                    return fault
            return None

    def authenticate(self, header: str | None) -> Claims:
        if not header:
            raise PlainAuthError("invalid authorization token")
        if not header.startswith("Bearer "):
            raise PlainAuthError("invalid authorization header. Must start with Bearer ")
        token = header[len("Bearer ") :]
        if self.record_tokens:
            with self._calls_lock:
                self.tokens.add(token)
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise PlainAuthError("invalid authorization token") from None
        if unverified.get("iss") != self.api_key:
            raise PlainAuthError(f"invalid API key: {unverified.get('iss', '')}")
        revoked_from = self.revoked_from
        if revoked_from is not None and self.world.clock.now() >= revoked_from:
            raise PlainAuthError(f"invalid API key: {self.api_key}")  # as for a key that was deleted
        try:  # signature, exp and nbf are checked against wall time, as the tokens were minted
            return self.verifier.verify(token)
        except (jwt.PyJWTError, ValueError) as e:
            raise PlainAuthError(f"invalid token: {token}, error: {e}") from None

    def handle(self, http_method: str, path: str, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        name = path.rsplit("/", 1)[-1]
        encoding = JSON
        try:
            claims = self.authenticate(headers.get("Authorization"))  # validity now, grants later
            method = self._route(http_method, path)
            ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in (JSON, PROTOBUF):
                raise TwirpError("bad_route", f'unexpected Content-Type: "{ctype}"')
            encoding = ctype
            req = self._decode(method.request, body, encoding)
            method.authorize(claims, req)
            fault = self._take_fault(name, request_room(req))
            if fault is not None and fault.latency_s > 0:
                self.world.clock.sleep(fault.latency_s)
            failure = None
            if fault is not None and fault.code is not None:
                msg = fault.message or DEFAULT_FAULT_MESSAGES.get(fault.code, f"injected fault: {fault.code}")
                failure = TwirpError(fault.code, msg)
                if not fault.applied:
                    _hold(fault)
                    raise failure
            with self.world.lock:
                now = self.world.advance()
                reply = method.run(self.world, req, now)
            while isinstance(reply, Later):  # a dial rings on the clock, with the world unlocked
                self.world.clock.sleep(reply.delay_s)
                with self.world.lock:
                    reply = reply.then(self.world.advance())
            _hold(fault)  # done; the answer may still be late
            if failure is not None:
                raise failure
            self._record(name, "ok", 200)
            return 200, encoding, self._encode(reply, encoding)
        except PlainAuthError as e:
            self._record(name, e.code, e.status)
            return e.status, "text/plain; charset=utf-8", str(e).encode()
        except TwirpError as e:
            self._record(name, e.code, e.status)
            return e.status, JSON, e.body()
        except Exception as e:  # a bug in the simulator must still answer like a server
            err = TwirpError("internal", f"simulator error: {type(e).__name__}: {e}")
            self._record(name, err.code, err.status)
            return err.status, JSON, err.body()

    def _route(self, http_method: str, path: str) -> Any:
        if not path.startswith(PREFIX) or path.count("/") != 3:
            raise TwirpError(
                "bad_route", f"no handler for path {path!r}", {"twirp_invalid_route": f"POST {path}"}
            )
        service, name = path[len(PREFIX) :].split("/")
        if http_method != "POST":
            raise TwirpError(
                "bad_route",
                f"unsupported method {http_method} (only POST is allowed)",
                {"twirp_invalid_route": f"{http_method} {path}"},
            )
        method = METHODS.get((service, name))
        if method is None:
            if name in UNMODELLED.get(service, ()):
                raise TwirpError("unimplemented", f"{service}/{name} is not modelled by the simulator")
            raise TwirpError(
                "bad_route", f"no handler for path {path!r}", {"twirp_invalid_route": f"POST {path}"}
            )
        return method

    @staticmethod
    def _decode(cls: type[Message], body: bytes, encoding: str) -> Message:
        msg = cls()
        try:
            if encoding == PROTOBUF:
                msg.ParseFromString(body)
            elif body.strip():
                json_format.Parse(body.decode("utf-8"), msg, ignore_unknown_fields=True)
        except (DecodeError, json_format.ParseError, UnicodeDecodeError) as e:
            kind = "protobuf" if encoding == PROTOBUF else "json"
            raise TwirpError("malformed", f"the {kind} request could not be decoded: {e}") from None
        return msg

    @staticmethod
    def _encode(msg: Message, encoding: str) -> bytes:
        if encoding == PROTOBUF:
            return msg.SerializeToString()
        return json.dumps(json_format.MessageToDict(msg, always_print_fields_with_no_presence=True)).encode()

    def _record(self, name: str, code: str, status: int) -> None:
        with self._calls_lock:
            self.calls.append((name, code, status))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "livekit-sim"
    timeout = 300  # idle keep-alive connections
    # Headers and body go out in two writes: with Nagle's algorithm on, the body of every answer on
    # a kept-alive connection waited ~40 ms for the client's delayed ACK (measured by bench.startup).
    disable_nagle_algorithm = True
    server: _Server

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, ctype: str, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a held reply)
            self.close_connection = True

    def _twirp(self, http_method: str) -> None:
        body = self._body()
        self._answer(*self.server.app.handle(http_method, self.path, self.headers, body))

    def do_POST(self) -> None:
        self._twirp("POST")

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/":
            self._answer(200, "text/plain; charset=utf-8", b"OK")
        else:
            self._twirp("GET")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: TwirpApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up (a held reply, a timed-out keep-alive): nothing to report
        super().handle_error(request, client_address)
