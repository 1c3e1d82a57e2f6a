"""Scenarios and `thecal sim`: the example files, validation, determinism, the CLI."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecal.cli.main import app
from thecal.cli.sim import load_scenario_file
from thecal.pump.scenario import ScenarioError, parse_scenario, run_scenario
from thecal.therapy.prescription_toml import read_prescription

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
runner = CliRunner()


def run(name: str):
    return run_scenario(load_scenario_file(EXAMPLES / name))


def alarms(result) -> dict[str, int]:
    return dict(result.summary.alarms_raised)


def test_the_examples_cover_the_issue_list():
    names = {path.name for path in EXAMPLES.glob("*.toml")}
    assert names >= {
        "baclofen-normal-year.toml",
        "over-infusion-found-at-refill.toml",
        "pocket-fill.toml",
        "mri-motor-stall.toml",
        "ziconotide-titration.toml",
        "battery-eri-to-eos.toml",
    }


def test_a_normal_baclofen_year_has_no_alarm_and_no_flagged_refill():
    result = run("baclofen-normal-year.toml")
    summary = result.summary
    assert alarms(result) == {}
    assert len(summary.refills) == 5 and not any(r.flagged for r in summary.refills)
    assert summary.final_state == "running"
    assert abs(summary.true_reservoir.ml - summary.estimated_reservoir.ml) < 0.001


def test_over_infusion_is_found_at_the_refill():
    refill = run("over-infusion-found-at-refill.toml").summary.refills[0]
    assert refill.flagged and refill.discrepancy.value == "less_than_expected"


def test_pocket_fill_shows_a_pocket_dose_and_the_next_refill_is_flagged():
    summary = run("pocket-fill.toml").summary
    assert summary.pocket_dose.mg == 40
    assert [r.flagged for r in summary.refills] == [False, True]


def test_mri_motor_stall_scenario_shows_the_hold_and_the_stall():
    result = run("mri-motor-stall.toml")
    kinds = [event.kind for event in result.events]
    assert "mri_hold" in kinds
    assert alarms(result)["motor_stall"] == 1
    assert result.summary.final_state == "running"


def test_ziconotide_titration_writes_each_step():
    result = run("ziconotide-titration.toml")
    written = [e for e in result.events if e.kind == "prescription_written"]
    assert len(written) == 4
    assert not any(e.kind == "command_rejected" for e in result.events)


def test_battery_scenario_goes_from_eri_to_end_of_service_90_days_later():
    result = run("battery-eri-to-eos.toml")
    raised = {e.details[0][1]: e.time for e in result.events if e.kind == "alarm_raised"}
    assert (raised["eos"] - raised["eri"]).days == 90
    assert result.summary.final_state == "end_of_service"


def test_a_scenario_replays_identically_from_its_seed():
    first = run("over-infusion-found-at-refill.toml")
    second = run("over-infusion-found-at-refill.toml")
    assert first.events == second.events
    assert first.summary == second.summary


def test_a_different_seed_gives_a_different_patient():
    path = EXAMPLES / "over-infusion-found-at-refill.toml"
    data = tomllib.loads(path.read_text())
    resolve = lambda value, where: read_prescription(EXAMPLES / value)  # noqa: E731
    one = run_scenario(parse_scenario(data, resolve))
    data["seed"] = 99
    other = run_scenario(parse_scenario(data, resolve))
    assert one.events != other.events


@pytest.mark.parametrize("named", ["Lioresal", " gablofen ", "BACLOFEN"])
def test_a_refill_registered_by_a_brand_name_is_no_drug_change_end_to_end(named: str, tmp_path):
    # The normal baclofen year, each refill registered under a name of baclofen: the pump
    # must keep running its prescription, never drop to the minimum rate awaiting a new one.
    text = (EXAMPLES / "baclofen-normal-year.toml").read_text()
    renamed = re.sub(
        r"(\[\[refills\]\]\nat = [^\n]+\n)",
        rf'\1drug = "{named}"\nconcentration = "2 mg/mL"\n',
        text,
    )
    assert renamed.count(named) == 5  # the five refills
    path = tmp_path / "brand-name-refills.toml"
    path.write_text(renamed)
    result = run_scenario(load_scenario_file(path))
    summary = result.summary
    assert len(summary.refills) == 5
    assert not any(r.new_solution or r.flagged for r in summary.refills)
    assert {r.drug for r in summary.refills} == {"baclofen"}
    assert summary.final_state == "running"
    changes = [e for e in result.events if e.kind == "delivery_changed"]
    assert not any("minimum" in e.message for e in changes)


def test_scenario_problems_are_reported_all_at_once():
    data = {
        "start": "not a time",
        "duration": "3 fortnights",
        "pump": {"model": "synchromed"},
        "fill": {"drug": "baclofen", "concentration": "2 mg", "volume": "20 mL"},
        "faults": [{"kind": "gremlins", "start": "2025-01-01T00:00:00"}],
        "colour": "blue",
    }
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, lambda value, where: read_prescription(value))
    text = str(caught.value)
    for fragment in ("start", "duration", "pump.model", "fill.concentration", "gremlins", "colour"):
        assert fragment in text
    assert len(caught.value.problems) >= 6


def test_cli_json_has_events_and_a_summary():
    result = runner.invoke(app, ["sim", str(EXAMPLES / "pocket-fill.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"events", "summary"} <= set(data)
    assert all({"time", "kind"} <= set(event) for event in data["events"])
    summary = data["summary"]
    for key in (
        "delivered_dose_mcg",
        "true_reservoir_ml",
        "estimated_reservoir_ml",
        "alarms_raised",
    ):
        assert key in summary


def test_cli_timeline_is_readable_text():
    result = runner.invoke(app, ["sim", str(EXAMPLES / "mri-motor-stall.toml")])
    assert result.exit_code == 0, result.output
    assert "motor stall" in result.stdout and "Summary" in result.stdout


def test_cli_plot_writes_a_png(tmp_path):
    target = tmp_path / "plot.png"
    result = runner.invoke(app, ["sim", str(EXAMPLES / "pocket-fill.toml"), "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("this is = = not toml", "not valid TOML"),
        ('title = "x"\n', "pump: missing"),
    ],
)
def test_cli_bad_scenario_is_one_line_on_stderr_and_exit_2(tmp_path, content, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    result = runner.invoke(app, ["sim", str(path)])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_missing_file_is_exit_2(tmp_path):
    result = runner.invoke(app, ["sim", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr
