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
# The open-source server's defaults (limit.max_room_name_length, limit.max_participant_identity_length),
# compared with a Go string's length: bytes of UTF-8, not characters. Only the length: LiveKit takes
# any characters, control and format characters too.
MAX_NAME_BYTES = 256


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


def name_too_long(what: str, value: str) -> str | None:
    """LiveKit's ``ErrRoomNameExceedsLimits`` / ``ErrParticipantIdentityExceedsLimits`` message for a
    name over the limit (``what``: "room name" or "participant identity"), else None."""
    if len(value.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
        return f"{what} length exceeds limits: max length {MAX_NAME_BYTES}"
    return None


def check_name_length(what: str, value: str) -> None:
    """invalid_argument for a name over LiveKit's limit, as its Twirp services answer."""
    problem = name_too_long(what, value)
    if problem is not None:
        raise TwirpError("invalid_argument", problem)
