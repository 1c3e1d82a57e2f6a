"""`thecal science spread`: JSON contract and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecal.cli.main import app
from thecal.therapy.anatomy import cord_segments, vertebrae

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = ["science", "spread", "--drug", "morphine", "--concentration", "25 mg/mL", "--tip", "T10"]


def spread_json(*extra: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*BASE, *extra, "--json", "--resolution-mm", "4"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_spread_json_carries_the_documented_keys() -> None:
    data = spread_json("--dose", "0.5 mg/day", "--hours", "24")
    assert {"segments", "covered_segments", "cranial_concentration", "profile"} <= set(data)
    assert [s["name"] for s in data["segments"]] == [s.name for s in cord_segments()]
    for seg in data["segments"]:
        assert {"name", "position_cm", "peak_concentration", "final_concentration"} <= set(seg)
        assert seg["peak_concentration"] >= seg["final_concentration"] >= 0
    assert isinstance(data["cranial_concentration"], float)
    assert set(data["covered_segments"]) <= {s["name"] for s in data["segments"]}
    for point in data["profile"]:
        assert set(point) == {"position_cm", "vertebra", "concentration"}


def test_spread_profile_has_a_point_for_every_vertebral_level_c1_to_s1() -> None:
    data = spread_json("--dose", "0.5 mg/day", "--hours", "6")
    levels = {p["vertebra"] for p in data["profile"]}
    wanted = [v.name for v in vertebrae()]
    assert set(wanted[: wanted.index("S1") + 1]) <= levels


def test_spread_json_is_a_single_object_on_stdout_and_balances_mass() -> None:
    data = spread_json("--dose", "1 mg/day", "--hours", "12")
    mass = data["mass_balance_mcg"]
    assert mass["infused"] == pytest.approx(500.0, rel=1e-6)
    assert mass["relative_residual"] < 1e-10
    assert data["units"]["concentration"] == "µg/mL"


def test_a_bolus_peaks_at_its_tip_segment_and_then_falls() -> None:
    data = spread_json("--bolus", "0.5 mg", "--bolus-duration", "5 min", "--hours", "24")
    assert data["delivery"]["mode"] == "bolus"
    near_tip = {s["name"]: s for s in data["segments"]}["T12"]
    assert near_tip["final_concentration"] < 0.05 * near_tip["peak_concentration"]


def test_hours_may_be_given_with_a_unit() -> None:
    data = spread_json("--dose", "0.5 mg/day", "--hours", "1 day")
    assert data["hours"] == 24.0


def test_a_prescription_file_drives_the_simulation() -> None:
    result = runner.invoke(
        app,
        [
            "science", "spread", "--drug", "baclofen", "--tip", "T10", "--hours", "24",
            "--prescription", str(EXAMPLES / "baclofen-flex-spasticity.toml"),
            "--resolution-mm", "4", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["delivery"]["mode"] == "prescription (flex)"
    assert data["mass_balance_mcg"]["infused"] == pytest.approx(
        (450 * 6 + 500 * 3 + 350 * 5 + 300 * 6 + 400 * 4) / 24, rel=1e-6
    )


def test_plot_is_written_as_png(tmp_path: Path) -> None:
    target = tmp_path / "spread.png"
    data = spread_json("--dose", "0.5 mg/day", "--hours", "6", "--plot", str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["plot"] == str(target)


def test_human_output_names_the_covered_segments_and_the_disclaimer() -> None:
    result = runner.invoke(app, [*BASE, "--dose", "0.5 mg/day", "--hours", "6"])
    assert result.exit_code == 0
    assert "covered" in result.stdout and "not a medical device" in result.stdout


BAD_INPUTS = [
    (["--drug", "aspirin"], "accepted: morphine"),
    (["--drug", "bupivacaine"], "lipophilic"),
    (["--tip", "T13"], "accepted: C1-C7"),
    (["--tip", "S4"], "below the end of the dural sac"),
    (["--dose", "0.5 mg"], "is a mass, not a dose rate"),
    (["--dose", "0.5 mg/fortnight"], "a time unit (day, h, hour, min)"),
    (["--concentration", "25 mg"], "concentration"),
    (["--concentration", "0 mg/mL"], "more than zero"),
    (["--dose", None], "exactly one of --dose, --bolus or --prescription (none was given)"),
    (["--bolus", "0.5 mg"], "got --dose and --bolus"),
    (["--hours", "0"], "positive"),
    (["--hours", "-3"], "positive"),
    (["--hours", "soon"], "--hours"),
    (["--hours", None], "--hours: missing"),
    (["--dose", "0 mg/day"], "more than zero"),
    (["--plot", "out.jpg"], ".png"),
    (["--resolution-mm", "0"], "between"),
    (["--bolus-duration", "5 min"], "only applies with --bolus"),
    (["--prescription", "rx.toml"], "got --dose and --prescription"),
]


def _argv(change: list[str | None]) -> list[str]:
    options = {
        "--drug": "morphine",
        "--concentration": "25 mg/mL",
        "--tip": "T10",
        "--dose": "0.5 mg/day",
        "--hours": "6",
    }
    key, value = change
    assert key is not None
    if value is None:
        del options[key]
    else:
        options[key] = value
    argv = ["science", "spread"]
    for k, v in options.items():
        argv += [k, v]
    return argv


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_no_traceback(
    change: list[str | None], message: str
) -> None:
    result = runner.invoke(app, _argv(change))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_missing_prescription_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "rx.toml"
    result = runner.invoke(
        app,
        ["science", "spread", "--drug", "morphine", "--tip", "T10", "--hours", "6",
         "--prescription", str(missing)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no such file" in result.stderr and "rx.toml" in result.stderr


def test_prescription_for_another_drug_is_refused() -> None:
    result = runner.invoke(
        app,
        ["science", "spread", "--drug", "morphine", "--tip", "T10", "--hours", "6",
         "--prescription", str(EXAMPLES / "baclofen-flex-spasticity.toml")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "does not match" in result.stderr


def test_the_installed_command_reports_bad_input_without_a_traceback() -> None:
    argv = [sys.executable, "-m", "thecal.cli.main", *BASE, "--dose", "1 mg", "--hours", "2"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "Traceback" not in done.stderr
