"""The one place that reads configuration: LiveKit credentials, the escalation targets, the ledger.

Credentials come from a Secrets Manager secret (JSON ``{"url", "api_key", "api_secret"}``) when
``LIVEKIT_SECRET_ARN`` is set, cached by Powertools Parameters for ``SECRET_MAX_AGE_S``; otherwise
from ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``. Error messages name what is
missing, never a value.

Powertools Parameters (which imports boto3) is imported by the first secret read, not with this
module: every handler imports config, and not every cold start reads a secret.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from dispatch_verify import names
from dispatch_verify.errors import ConfigurationError

SECRET_MAX_AGE_S = 300
LEDGER_TTL_DAYS = 30
_SECRET_KEYS = ("url", "api_key", "api_secret")


class LiveKitCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)  # schema at first use, not at import
    url: str
    api_key: str
    api_secret: SecretStr  # SecretStr: a repr or a log line shows '**********'


def livekit_credentials() -> LiveKitCredentials:
    secret_arn = os.environ.get(names.LIVEKIT_SECRET_ARN, "").strip()
    if secret_arn:
        return _credentials(_read_secret(secret_arn), f"secret {secret_arn}")
    variables = {
        "url": names.LIVEKIT_URL,
        "api_key": names.LIVEKIT_API_KEY,
        "api_secret": names.LIVEKIT_API_SECRET,
    }
    values = {key: os.environ.get(variables[key], "") for key in _SECRET_KEYS}
    return _credentials(values, "the environment (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)")


def ledger_table_name() -> str | None:
    """The request ledger's DynamoDB table, or None where no ledger is deployed (unit tests)."""
    return os.environ.get(names.LEDGER_TABLE_NAME, "").strip() or None


def ledger_ttl_days() -> int:
    """How long a ledger item lives after its request was accepted (DynamoDB TTL)."""
    text = os.environ.get(names.LEDGER_TTL_DAYS, "").strip()
    try:
        return max(1, int(text)) if text else LEDGER_TTL_DAYS
    except ValueError:
        raise ConfigurationError.of("internal", "LEDGER_TTL_DAYS must be a whole number of days") from None


def state_machine_arn() -> str:
    """The workflow the API starts (the API function only)."""
    arn = os.environ.get(names.STATE_MACHINE_ARN, "").strip()
    if not arn:
        raise ConfigurationError.of("internal", "missing environment variable(s): STATE_MACHINE_ARN")
    return arn


def wait_table_name() -> str:
    """Where "Await agent" records its task tokens and the LiveKit webhook finds them."""
    name = os.environ.get(names.WAIT_TABLE_NAME, "").strip()
    if not name:
        raise ConfigurationError.of("internal", "missing environment variable(s): WAIT_TABLE_NAME")
    return name


def webhook_event_table_name() -> str:
    """Where the LiveKit webhook function keeps the ids of the events it has acted on (deduplication)."""
    name = os.environ.get(names.WEBHOOK_EVENT_TABLE_NAME, "").strip()
    if not name:
        raise ConfigurationError.of("internal", "missing environment variable(s): WEBHOOK_EVENT_TABLE_NAME")
    return name


def livekit_webhooks_expected() -> bool:
    """Whether LiveKit posts its webhooks to this stack (template parameter ``LiveKitWebhooks``).

    Then a join webhook ends "Await agent", and its timeout is only the backstop
    (``options.webhook_backstop_s``); otherwise the wait is the poll interval. Unset means expected,
    the template's default.
    """
    text = os.environ.get(names.LIVEKIT_WEBHOOKS, "").strip() or "Enabled"
    if text not in ("Enabled", "Disabled"):
        raise ConfigurationError.of("internal", "LIVEKIT_WEBHOOKS must be Enabled or Disabled")
    return text == "Enabled"


def livekit_webhooks_if_known() -> bool | None:
    """``livekit_webhooks_expected`` where this function is told (LIVEKIT_WEBHOOKS set), else None."""
    return livekit_webhooks_expected() if os.environ.get(names.LIVEKIT_WEBHOOKS, "").strip() else None


def clear_cache() -> None:
    """Forget cached secrets (tests, and a local engine that rotates credentials between runs)."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]  # untyped upstream


def _read_secret(secret_arn: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE_S)
    except parameters.TransformParameterError as exc:
        # Not the decoder's message: keep even a fragment of the secret's text out of the error.
        raise ConfigurationError.of("auth", f"secret {secret_arn} is not valid JSON") from exc
    except parameters.GetParameterError as exc:
        # Powertools' message is the AWS error (code and text), which never carries the value.
        raise ConfigurationError.of(
            "auth", f"cannot read LiveKit credentials from secret {secret_arn}: {exc}"
        ) from exc
    if not isinstance(value, dict):
        raise ConfigurationError.of("auth", f"secret {secret_arn} is not a JSON object")
    return value


def _credentials(values: dict[str, Any], source: str) -> LiveKitCredentials:
    missing = [key for key in _SECRET_KEYS if not isinstance(values.get(key), str) or not values[key].strip()]
    if missing:
        raise ConfigurationError.of(
            "auth", f"LiveKit credentials incomplete in {source}: missing {', '.join(missing)}"
        )
    return LiveKitCredentials(
        url=values["url"].strip(),
        api_key=values["api_key"].strip(),
        api_secret=SecretStr(values["api_secret"]),
    )


LIVEKIT_TIMEOUT_S = 10.0  # livekit-api's own default


def livekit_timeout_s() -> float:
    """How long one LiveKit call may take before it counts as unanswered (a transient error):
    ``LIVEKIT_TIMEOUT_S`` seconds, 10 by default (the chaos suite uses a fraction of a second)."""
    text = os.environ.get(names.LIVEKIT_TIMEOUT_S, "").strip()
    try:
        value = float(text) if text else LIVEKIT_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigurationError.of("internal", "LIVEKIT_TIMEOUT_S must be a positive number of seconds")
    return value
