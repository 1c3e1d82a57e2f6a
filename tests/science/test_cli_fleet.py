"""`thecal science fleet`: JSON contract, determinism, plot, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecal.cli.main import app

runner = CliRunner()
BASE = ["science", "fleet", "--patients", "400", "--years", "2", "--seed", "3"]
ESTIMATE = {"estimate", "ci_low", "ci_high"}


def fleet_json(*extra: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*BASE, *extra, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fleet_json_carries_the_documented_keys() -> None:
    data = fleet_json()
    assert (data["patients"], data["years"], data["seed"]) == (400, 2.0, 3)
    for key in (
        "dry_reservoir_probability",
        "low_reservoir_alarm_days",
        "baclofen_days_without_drug",
        "refills_per_month",
        "battery_replacements_per_month",
    ):
        assert set(data[key]) >= ESTIMATE, key
        assert data[key]["ci_low"] <= data[key]["estimate"] <= data[key]["ci_high"], key
    assert set(data["dry_reservoir_probability"]["per_patient_year"]) >= ESTIMATE
    assert len(data["refills_per_month"]["fleet_series"]) == 24
    assert {row["drug"] for row in data["by_drug"]} <= {
        "baclofen",
        "morphine",
        "hydromorphone",
        "ziconotide",
    }


def test_the_same_seed_prints_the_same_fleet() -> None:
    assert fleet_json() == fleet_json()
    other = runner.invoke(app, [*BASE[:-1], "4", "--json"])
    assert json.loads(other.stdout) != fleet_json()


def test_plot_writes_a_png(tmp_path: Path) -> None:
    target = tmp_path / "fleet.png"
    data = fleet_json("--plot", str(target))
    assert data["plot"] == str(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_report_names_the_estimates() -> None:
    result = runner.invoke(app, BASE)
    assert result.exit_code == 0, result.output
    assert "Reservoir dry before its refill" in result.stdout
    assert "95 % CI" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patients", "0", "--years", "1"], "--patients: 0 must be from 1"),
        (["--patients", "ten", "--years", "1"], "--patients: 'ten' is not a whole number"),
        (["--years", "1"], "--patients: missing"),
        (["--patients", "10"], "--years: missing"),
        (["--patients", "10", "--years", "-2"], "--years: -2 must be more than 0"),
        (["--patients", "10", "--years", "nan"], "--years: 'nan' must be a finite"),
        (["--patients", "10", "--years", "1", "--seed", "-1"], "--seed: -1 must be from 0"),
        (
            ["--patients", "10", "--years", "1", "--plot", "out.jpg"],
            "--plot: 'out.jpg' must name a .png",
        ),
        (["--patients", "10000000", "--years", "50"], "patient-years"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["science", "fleet", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.slow
def test_dask_local_starts_a_cluster_and_prints_the_local_numbers() -> None:
    local = fleet_json()
    result = runner.invoke(app, [*BASE, "--dask", "local", "--json"])
    assert result.exit_code == 0, result.output
    remote = json.loads(result.stdout)
    assert remote.pop("backend") == "dask local"
    local.pop("backend")
    assert remote == local


def test_unreachable_dask_scheduler_is_one_line_exit_2() -> None:
    result = runner.invoke(app, [*BASE, "--dask", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--dask: cannot reach a Dask scheduler" in result.stderr
