"""Configuration: credentials from Secrets Manager or the environment, errors that name what is missing."""

from __future__ import annotations

import json

import boto3
import pytest
from dispatch_verify import config
from dispatch_verify.errors import ConfigurationError
from moto import mock_aws

SECRET = "lk-api-secret-do-not-leak-0123456789abcdef"
CREDENTIALS = {"url": "wss://example.livekit.cloud", "api_key": "APIkey123", "api_secret": SECRET}


def test_credentials_come_from_the_environment_without_a_secret_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given credentials in the environment
    monkeypatch.setenv("LIVEKIT_URL", CREDENTIALS["url"])
    monkeypatch.setenv("LIVEKIT_API_KEY", CREDENTIALS["api_key"])
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)

    # When they are read
    credentials = config.livekit_credentials()

    # Then they are those, and the secret does not show in a repr
    assert (credentials.url, credentials.api_key) == (CREDENTIALS["url"], CREDENTIALS["api_key"])
    assert credentials.api_secret.get_secret_value() == SECRET
    assert SECRET not in repr(credentials)


def test_missing_environment_credentials_are_named_and_present_ones_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given only the secret in the environment
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)

    # When credentials are read
    with pytest.raises(ConfigurationError) as raised:
        config.livekit_credentials()

    # Then the error is an auth configuration error naming what is missing, without the secret
    assert raised.value.detail.cause == "auth"
    assert "url" in raised.value.detail.message and "api_key" in raised.value.detail.message
    assert SECRET not in str(raised.value)


@mock_aws
def test_credentials_come_from_the_secret_when_its_arn_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the credentials in a Secrets Manager secret, and other ones in the environment
    arn = boto3.client("secretsmanager").create_secret(Name="livekit", SecretString=json.dumps(CREDENTIALS))[
        "ARN"
    ]
    monkeypatch.setenv("LIVEKIT_SECRET_ARN", arn)
    monkeypatch.setenv("LIVEKIT_URL", "http://not-this-one")

    # When they are read
    credentials = config.livekit_credentials()

    # Then the secret wins
    assert credentials.url == CREDENTIALS["url"]
    assert credentials.api_secret.get_secret_value() == SECRET


@mock_aws
def test_secret_is_cached_between_invocations(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given credentials read once from a secret
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="livekit", SecretString=json.dumps(CREDENTIALS))["ARN"]
    monkeypatch.setenv("LIVEKIT_SECRET_ARN", arn)
    config.livekit_credentials()

    # When the secret changes and credentials are read again
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({**CREDENTIALS, "api_key": "rotated"}))
    credentials = config.livekit_credentials()

    # Then the cached value is used (until SECRET_MAX_AGE_S)
    assert credentials.api_key == CREDENTIALS["api_key"]


@mock_aws
def test_secret_without_an_api_secret_is_named_and_its_values_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a secret that lacks api_secret
    incomplete = {"url": CREDENTIALS["url"], "api_key": "APIkey-visible-only-in-secret"}
    arn = boto3.client("secretsmanager").create_secret(Name="livekit", SecretString=json.dumps(incomplete))[
        "ARN"
    ]
    monkeypatch.setenv("LIVEKIT_SECRET_ARN", arn)

    # When credentials are read
    with pytest.raises(ConfigurationError) as raised:
        config.livekit_credentials()

    # Then the error names the missing key and the secret, not the values
    assert "api_secret" in raised.value.detail.message and arn in raised.value.detail.message
    assert "APIkey-visible-only-in-secret" not in str(raised.value)


@mock_aws
def test_secret_that_does_not_exist_is_an_auth_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an ARN of a secret that does not exist
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:livekit-AbCdEf"
    monkeypatch.setenv("LIVEKIT_SECRET_ARN", arn)

    # When credentials are read
    with pytest.raises(ConfigurationError) as raised:
        config.livekit_credentials()

    # Then it says which secret could not be read
    assert raised.value.detail.cause == "auth"
    assert arn in raised.value.detail.message


@mock_aws
def test_secret_that_is_not_json_is_reported_without_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a secret stored as plain text
    arn = boto3.client("secretsmanager").create_secret(Name="livekit", SecretString=SECRET)["ARN"]
    monkeypatch.setenv("LIVEKIT_SECRET_ARN", arn)

    # When credentials are read
    with pytest.raises(ConfigurationError) as raised:
        config.livekit_credentials()

    # Then it says so without quoting it
    assert "not valid JSON" in raised.value.detail.message
    assert SECRET not in str(raised.value)
