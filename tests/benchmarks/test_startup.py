"""The start-up benchmark measures what it prints (a small run of it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bytecode, startup


def test_a_small_run_measures_cold_imports_the_chain_and_warm_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one handler, one fresh process precompiled and one with no bytecode, one cold chain with
    # one warm request, three warm calls
    out = tmp_path / "startup.json"

    # When the benchmark runs them
    argv = ["--handler", "check_participants", "--cold-runs", "1", "--no-bytecode-runs", "1", "--calls", "3"]
    assert startup.main([*argv, "--json", str(out), "--chain-runs", "1", "--chain-warm", "1"]) == 0

    # Then the handler's import and livekit.api's were measured, precompiled as `make build` ships,
    # the ratio from those figures
    report = json.loads(out.read_text())
    assert report["bytecode"] == bytecode.PRECOMPILED
    baseline = report["baseline"]
    (cold,) = report["cold"]
    assert (cold["handler"], cold["runs"], baseline["handler"]) == ("check_participants", 1, "livekit.api")
    assert 0 < cold["min_s"] <= cold["median_s"] <= cold["max_s"]
    assert abs(cold["ratio"] - cold["median_s"] / baseline["median_s"]) < 0.01  # medians rounded to 0.1 ms
    assert abs(cold["cpu_ratio"] - cold["cpu_median_s"] / baseline["cpu_median_s"]) < 0.01
    # And the target's verdicts follow the measured ratios
    assert report["target"] == {
        "ratio": 1.5,
        "met": cold["ratio"] <= 1.5,
        "worst": "check_participants",
        "met_cpu": cold["cpu_ratio"] <= 1.5,
        "worst_cpu": "check_participants",
    }
    # And again with no bytecode: each gain is that median less the precompiled one
    plain = report["no_bytecode"]
    assert (plain["mode"], plain["runs"], plain["worst"]) == (bytecode.NO_BYTECODE, 1, "check_participants")
    (plain_cold,) = plain["cold"]
    for row, precompiled in ((plain["baseline"], baseline), (plain_cold, cold)):
        assert row["runs"] == 1 and row["median_s"] > 0
        assert abs(row["gain_s"] - (row["median_s"] - precompiled["median_s"])) < 0.001
    assert abs(plain_cold["ratio"] - plain_cold["median_s"] / plain["baseline"]["median_s"]) < 0.01
    packages = report["biggest_imports"]["packages"]
    assert packages and all(item["cumulative_s"] > 0 for item in packages)
    # And the chain ran from the API to "Dispatch agent", every function timed
    chain = report["request_to_create_dispatch"]
    steps = chain["steps"]
    assert steps[0]["function"] == "DispatchApiFunction" and steps[-1]["state"] == "Dispatch agent"
    assert chain["cold_starts"] == len({step["function"] for step in steps})
    for step in steps:
        assert step["warm_call_s"] > 0
        if step["cold_start"]:
            assert step["import_s"] > 0 and step["first_call_s"] > 0
    assert chain["cold_s"] > chain["warm_s"] > 0
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
    assert f"{'check_participants':20} {cold['runs']:4d} {cold['median_s']:9.3f}" in table
    assert f"{cold['ratio']:14.2f} {cold['cpu_median_s']:7.3f} {cold['cpu_ratio']:6.2f}" in table
    assert f"{plain_cold['cpu_ratio']:6.2f} {plain_cold['gain_s']:7.3f}" in table
    assert f"cold: {chain['cold_s']:.3f} s with {chain['cold_starts']} cold starts" in table
    for (server, variant), row in rows.items():
        assert f"{server:12} {variant:20} {row['median_ms']:10.2f} {row['p95_ms']:8.2f}" in table


def test_an_environment_override_reaches_the_measured_processes() -> None:
    # Given the template's environment with tracing disabled over it
    function = startup.handlers()["check_participants"]

    # When / Then: the handlers' tracer follows it (and without it, a deployed function traces as
    # the template says)
    assert startup.traced(function, {"POWERTOOLS_TRACE_DISABLED": "true"}) is False
    assert startup.traced(function, {"POWERTOOLS_TRACE_DISABLED": "false"}) is True


@pytest.mark.parametrize(
    "argv",
    [
        ["--calls", "0"],
        ["--cold-runs", "0"],
        ["--no-bytecode-runs", "-1"],
        ["--chain-runs", "0"],
        ["--handler", "nope"],
        ["--env", "NOVALUE"],
    ],
)
def test_bad_arguments_are_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        startup.main(argv)
    assert exited.value.code == 2
