"""The start-up benchmark measures what it prints (a small run of it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import startup


def test_a_small_run_measures_cold_imports_and_warm_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one handler, one fresh process and three warm calls per variant
    out = tmp_path / "startup.json"

    # When the benchmark runs them
    argv = ["--handler", "check_participants", "--cold-runs", "1", "--calls", "3", "--json", str(out)]
    assert startup.main(argv) == 0

    # Then the handler's import was measured, with its biggest imports
    report = json.loads(out.read_text())
    (cold,) = report["cold"]
    assert (cold["handler"], cold["runs"]) == ("check_participants", 1)
    assert 0 < cold["min_s"] <= cold["median_s"] <= cold["max_s"]
    packages = report["biggest_imports"]["packages"]
    assert packages and all(item["cumulative_s"] > 0 for item in packages)
    # And every warm variant against both simulator settings has positive per-call figures
    rows = {(row["server"], row["variant"]): row for row in report["warm"]}
    assert set(rows) == {(server, variant) for server in startup.SERVERS for variant in startup.WARM_VARIANTS}
    for row in rows.values():
        assert row["calls"] == 3
        assert 0 < row["median_ms"] <= row["p95_ms"]
        assert row["first_call_ms"] > 0
    assert all(value > 0 for value in report["warm_median_ratio_new_over_reused"].values())
    # And the table printed is those figures
    table = capsys.readouterr().out
    assert f"{'check_participants':20} {cold['median_s']:9.3f}" in table
    for (server, variant), row in rows.items():
        assert f"{server:12} {variant:20} {row['median_ms']:10.2f} {row['p95_ms']:8.2f}" in table


@pytest.mark.parametrize("argv", [["--calls", "0"], ["--cold-runs", "0"], ["--handler", "nope"]])
def test_bad_arguments_are_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        startup.main(argv)
    assert exited.value.code == 2
