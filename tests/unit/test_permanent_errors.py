"""Which LiveKit errors are permanent (escalated at once) and which are retried, each code on its own:
the seven codes of a malformed request, the two of refused credentials apart from their HTTP status,
and LiveKit's own text kept in the detail (a SIP error's too)."""

from __future__ import annotations

import pytest
from dispatch_verify.adapters.livekit import dial_error, livekit_error, network_error
from dispatch_verify.errors import DialFailedError, LiveKitPermanentError, LiveKitTransientError
from livekit import api


@pytest.mark.parametrize(
    "code",
    [
        "invalid_argument",
        "failed_precondition",
        "unimplemented",
        "malformed",
        "bad_route",
        "out_of_range",
        "already_exists",
    ],
)
def test_each_code_of_a_malformed_request_is_permanent_whatever_the_status(code: str) -> None:
    # Given LiveKit's error of that code, behind a status that alone would mean "retry"
    error = api.ServerError(code, "what the server said", status=500)

    # When it is classified
    mapped = livekit_error(error)

    # Then it is escalated at once as an invalid request
    assert type(mapped) is LiveKitPermanentError and mapped.detail.cause == "invalid_request"


@pytest.mark.parametrize("code", ["unauthenticated", "permission_denied"])
def test_each_code_of_refused_credentials_is_auth_whatever_the_status(code: str) -> None:
    # Given the code with a status that says nothing of credentials (a proxy rewrote it)
    mapped = livekit_error(api.ServerError(code, "permissions denied", status=500))

    # Then the code alone makes it a permanent auth error
    assert type(mapped) is LiveKitPermanentError and mapped.detail.cause == "auth"


@pytest.mark.parametrize("status", [401, 403])
def test_each_status_of_refused_credentials_is_auth_whatever_the_code(status: int) -> None:
    # Given a plain-text answer (the client's code "unknown") with that status
    mapped = livekit_error(api.ServerError("unknown", "", status=status))

    # Then the status alone makes it a permanent auth error
    assert type(mapped) is LiveKitPermanentError and mapped.detail.cause == "auth"


def test_resource_exhausted_is_a_retried_quota_error_whatever_the_status() -> None:
    mapped = livekit_error(api.ServerError("resource_exhausted", "no capacity", status=500))
    assert type(mapped) is LiveKitTransientError and mapped.detail.cause == "quota"


def test_an_error_without_a_message_is_told_by_its_status() -> None:
    detail = livekit_error(api.ServerError("unknown", "", status=502)).detail
    assert detail.message == "LiveKit answered HTTP 502 without an error message"


def test_a_failed_call_keeps_livekit_s_sip_error_text_and_status() -> None:
    # Given CreateSIPParticipant's error for a busy callee
    error = api.SipCallError(
        "resource_exhausted",
        "callee is busy",
        status=429,
        metadata={"sip_status_code": "486", "sip_status": "Busy Here"},
    )

    # When it is classified
    mapped = dial_error(error)

    # Then it is a dial failure, never retried, with LiveKit's text and the SIP status
    assert type(mapped) is DialFailedError
    detail = mapped.detail
    assert (detail.cause, detail.code, detail.message, detail.status) == (
        "dial_failed",
        "resource_exhausted",
        "callee is busy",
        429,
    )
    assert (detail.sip_status_code, detail.sip_status) == (486, "Busy Here")


def test_an_unknown_trunk_is_a_dial_failure_told_by_its_status_when_livekit_gave_no_text() -> None:
    # Given not_found from CreateSIPParticipant (an unknown trunk) without a message
    mapped = dial_error(api.ServerError("not_found", "", status=404))

    # Then it is a dial failure without a SIP status, and the message names the HTTP status
    assert type(mapped) is DialFailedError
    assert mapped.detail.message == "LiveKit answered HTTP 404 without an error message"
    assert (mapped.detail.sip_status_code, mapped.detail.sip_status) == (None, None)


def test_a_network_error_keeps_its_text_or_says_no_answer_came() -> None:
    assert network_error(OSError("connection refused")).detail.message == "OSError: connection refused"
    assert network_error(TimeoutError()).detail.message == "TimeoutError: no answer in time"
    assert network_error(TimeoutError()).detail.cause == "livekit_unavailable"
