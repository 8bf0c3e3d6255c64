"""Names that the code, template.yaml and the tests must agree on, written once.

The environment variables the functions read (template.yaml sets them; tests/statemachine checks that
it sets exactly these), and the template's logical ids that code outside the template names.
"""

from __future__ import annotations

# -- environment variables: set by template.yaml (Globals or a function), read by config.py ----------
LIVEKIT_SECRET_ARN = "LIVEKIT_SECRET_ARN"  # noqa: S105 - a variable's name: it holds the secret's ARN
EVENT_BUS_NAME = "EVENT_BUS_NAME"
LEDGER_TABLE_NAME = "LEDGER_TABLE_NAME"
WAIT_TABLE_NAME = "WAIT_TABLE_NAME"
STATE_MACHINE_ARN = "STATE_MACHINE_ARN"  # the API function's only
WEBHOOK_EVENT_TABLE_NAME = "WEBHOOK_EVENT_TABLE_NAME"  # the LiveKit webhook function's only
LIVEKIT_WEBHOOKS = "LIVEKIT_WEBHOOKS"  # Enabled or Disabled: the template parameter LiveKitWebhooks
# Powertools' own, set by the template for every function.
POWERTOOLS = (
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
)
# pydantic's own: no plugins installed, so a cold start does not look for any (template.yaml's Globals).
PYDANTIC = ("PYDANTIC_DISABLE_PLUGINS",)
TEMPLATE_ENVIRONMENT = frozenset(
    {
        LIVEKIT_SECRET_ARN, EVENT_BUS_NAME, LEDGER_TABLE_NAME, WAIT_TABLE_NAME,
        STATE_MACHINE_ARN, WEBHOOK_EVENT_TABLE_NAME, LIVEKIT_WEBHOOKS, *POWERTOOLS, *PYDANTIC,
    }
)  # fmt: skip

# -- read by config.py, never set by the template (tests, local runs, tuning) ---------------------------
LIVEKIT_URL = "LIVEKIT_URL"  # without a secret: the credentials from the environment
LIVEKIT_API_KEY = "LIVEKIT_API_KEY"
LIVEKIT_API_SECRET = "LIVEKIT_API_SECRET"  # noqa: S105 - the variable's name, not its value
LIVEKIT_TIMEOUT_S = "LIVEKIT_TIMEOUT_S"
LEDGER_TTL_DAYS = "LEDGER_TTL_DAYS"

# -- template.yaml's logical ids -----------------------------------------------------------------------
STATE_MACHINE = "DispatchVerifyStateMachine"
LEDGER_TABLE = "DispatchLedgerTable"
WAIT_TABLE = "WaitTokenTable"
WEBHOOK_EVENT_TABLE = "WebhookEventTable"
ESCALATION_TOPIC = "EscalationTopic"
ESCALATION_BUS = "EscalationBus"
API_FUNCTION = "DispatchApiFunction"
WEBHOOK_FUNCTION = "LiveKitWebhookFunction"
