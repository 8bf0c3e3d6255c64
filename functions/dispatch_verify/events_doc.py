"""The outcome events' contract for integrators: a JSON Schema and a sample per detail-type, written to
docs/events/ by ``make events`` (``python -m dispatch_verify.events_doc docs/events``); a spec fails
when they are stale.

Every event: source ``dispatch-verify``, on the stack's bus (output ``EscalationBusName``), the detail
the ``OutcomeEvent`` model: the outcome as ``GET /dispatches/{id}`` shows it, its ``event_id`` (stable
across retries: deduplicate on it) and, when escalated, the ``evidence`` bundle.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dispatch_verify.logic.announce import CALL_CONNECTED, CALL_NOT_CONNECTED, DETAIL_TYPES, SOURCE, event_id
from dispatch_verify.models import EscalationBundle, OutcomeEvent, SipDetail

_WHEN = "2026-12-02T10:00:00.000Z"
_FINISHED = "2026-12-02T10:00:14.250Z"


def schema(detail_type: str) -> dict[str, Any]:
    """The JSON Schema of one detail-type's event (EventBridge's envelope, the detail the model's)."""
    detail = OutcomeEvent.model_json_schema(mode="serialization")
    definitions = detail.pop("$defs", {})  # referenced as #/$defs/...: they live at the root
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": definitions,
        "title": f"{SOURCE} {detail_type}",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "source": {"const": SOURCE},
            "detail-type": {"const": detail_type},
            "detail": detail,
        },
    }


def sample(detail_type: str) -> dict[str, Any]:
    """An event of that detail-type as a rule target receives it (the envelope trimmed to what matters)."""
    request_id = "req-5f0c2b9e0d7a4c1b8e6f3a2d1c0b9a8f7e6d5c4b"
    call = detail_type in (CALL_CONNECTED, CALL_NOT_CONNECTED)
    verified = detail_type in ("AgentDispatchVerified", CALL_CONNECTED)
    status = (
        "cancelled" if detail_type == "AgentDispatchCancelled" else "verified" if verified else "escalated"
    )
    cause = None if status != "escalated" else "dial_failed" if call else "not_joined"
    sip = (
        SipDetail(trunk_id="ST_outbound", call_to="********0123", participant_identity="callee",
                  answered=verified, sip_status_code=None if verified else 486,
                  sip_status=None if verified else "Busy Here", reason=None if verified else "busy")
        if call else None
    )  # fmt: skip
    evidence = (
        EscalationBundle(
            request_id=request_id, room="support-call-4711", agent_name="support-agent", cause=cause,
            attempts=1, dispatches=[{"dispatch_id": "AD_8TfQ2nK4", "created_at": _WHEN}], job_states=[],
            participants=[], started_at=_WHEN, escalated_at=_FINISHED, sip=sip,
            event_id=event_id(request_id, detail_type),
        )
        if status == "escalated" else None
    )  # fmt: skip
    detail = OutcomeEvent(
        status=status, request_id=request_id, room="support-call-4711", agent_name="support-agent",
        cause=cause, agent_identity="agent-AJ_x7Yc2" if verified else None,
        dispatch_id="AD_8TfQ2nK4" if verified else None, dispatch_ids=["AD_8TfQ2nK4"], attempts=1,
        join_latency_s=3.1 if verified else None, started_at=_WHEN, first_dispatch_at=_WHEN,
        agent_joined_at="2026-12-02T10:00:03.100Z" if verified else None, finished_at=_FINISHED, sip=sip,
        event_id=event_id(request_id, detail_type), evidence=evidence,
    )  # fmt: skip
    return {
        "version": "0",
        "source": SOURCE,
        "detail-type": detail_type,
        "account": "123456789012",
        "region": "eu-west-1",
        "time": _FINISHED[:19] + "Z",
        "detail": detail.model_dump(mode="json"),
    }


def documents() -> dict[str, str]:
    """File name -> text, for every detail-type: <DetailType>.schema.json and <DetailType>.sample.json."""
    found: dict[str, str] = {}
    for detail_type in DETAIL_TYPES:
        found[f"{detail_type}.schema.json"] = json.dumps(schema(detail_type), indent=2) + "\n"
        found[f"{detail_type}.sample.json"] = json.dumps(sample(detail_type), indent=2) + "\n"
    return found


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in documents().items():
        (out / name).write_text(text)
