"""The LiveKit client timeout: LIVEKIT_TIMEOUT_S, 10 s by default."""

from __future__ import annotations

import pytest
from dispatch_verify import config
from dispatch_verify.errors import ConfigurationError


def test_the_default_is_livekit_apis_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEKIT_TIMEOUT_S", raising=False)
    assert config.livekit_timeout_s() == 10.0


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_TIMEOUT_S", "0.5")
    assert config.livekit_timeout_s() == 0.5


@pytest.mark.parametrize("text", ["0", "-1", "soon", "inf", "nan"])
def test_a_bad_value_is_a_configuration_error_that_names_it(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("LIVEKIT_TIMEOUT_S", text)
    with pytest.raises(ConfigurationError, match="LIVEKIT_TIMEOUT_S"):
        config.livekit_timeout_s()
