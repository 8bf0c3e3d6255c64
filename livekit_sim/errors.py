"""Twirp errors as LiveKit's server sends them: a JSON body ``{"code", "msg", "meta"}`` and the
Twirp HTTP status of the code. Authentication failures before Twirp routing are plain text."""

from __future__ import annotations

import json

# https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes
TWIRP_STATUS: dict[str, int] = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

ROOM_NOT_FOUND = "requested room does not exist"
PERMISSIONS_DENIED = "permissions denied"


class TwirpError(Exception):
    """A Twirp error response: JSON body, status from the Twirp code."""

    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        if code not in TWIRP_STATUS:
            raise ValueError(f"unknown Twirp error code {code!r}; known: {', '.join(sorted(TWIRP_STATUS))}")
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.meta = dict(meta or {})

    @property
    def status(self) -> int:
        return TWIRP_STATUS[self.code]

    def body(self) -> bytes:
        return json.dumps({"code": self.code, "msg": self.msg, "meta": self.meta}).encode()


class PlainAuthError(Exception):
    """A token problem found by LiveKit's auth middleware: 401 with a plain-text body."""

    status = 401
    code = "unauthenticated"  # what `calls` records; the body itself carries no Twirp code


def not_found_room() -> TwirpError:
    return TwirpError("not_found", ROOM_NOT_FOUND)
