"""The wait-latency benchmark measures what it prints (a small run of it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import wait_latency


def test_a_small_run_measures_webhooks_ahead_of_polling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two scenarios per variant
    out = tmp_path / "wait.json"

    # When the benchmark runs them
    assert wait_latency.main(["--runs", "2", "--json", str(out)]) == 0

    # Then both variants verified every run, the webhook ended each wait, and polling was later
    report = json.loads(out.read_text())
    webhooks, polling = report["variants"]
    assert (webhooks["variant"], polling["variant"]) == ("webhooks", "polling only")
    assert webhooks["runs"] == polling["runs"] == 2
    assert webhooks["waits_ended_by_webhook"] == 2 and polling["waits_ended_by_webhook"] == 0
    assert 0 <= webhooks["median_s"] <= 0.3
    assert webhooks["median_s"] < polling["median_s"] <= report["poll_interval_s"]
    # And the table printed is those figures
    table = capsys.readouterr().out
    assert f"{webhooks['median_s']:9.3f}" in table and f"{polling['median_s']:9.3f}" in table


def test_a_run_count_below_one_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        wait_latency.main(["--runs", "0"])
    assert exited.value.code == 2
