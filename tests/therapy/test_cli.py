"""The therapy commands as a user meets them: exit codes 0/2/3, one JSON object with
--json, and one clear stderr line (never a traceback) for every bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from thecal.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BACLOFEN = str(EXAMPLES / "baclofen-flex-spasticity.toml")
MORPHINE = str(EXAMPLES / "morphine-cancer-pain-ptm.toml")
ZICONOTIDE = str(EXAMPLES / "ziconotide-titration-start.toml")
SLIP = str(EXAMPLES / "checks" / "morphine-hour-day-slip.toml")
CURRENT = str(EXAMPLES / "checks" / "morphine-current.toml")
HYDRO = str(EXAMPLES / "checks" / "hydromorphone-off-label.toml")
START = "2026-03-02T08:00"

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    exit_code, out, err = run(*args, "--json")
    assert exit_code == code, err
    payload = json.loads(out)  # exactly one JSON document on stdout
    assert isinstance(payload, dict)
    return payload


# --- thecal drugs ----------------------------------------------------------------------


def test_drugs_lists_every_drug_with_approval_and_the_provenance_of_every_number() -> None:
    payload = run_json("drugs")
    drugs = {drug["id"]: drug for drug in payload["drugs"]}
    assert len(drugs) == 8
    assert drugs["hydromorphone"]["approval"] == "off-label"
    assert drugs["morphine"]["approval"] == "approved"
    morphine = drugs["morphine"]["limits"]
    assert morphine["daily_dose_soft_max"]["value"] == "20 mg/day"
    assert morphine["daily_dose_soft_max"]["provenance"] == "source S51"
    assert morphine["daily_dose_hard_max"]["provenance"] == "site default"
    assert drugs["baclofen"]["dose_unit"] == "mcg"
    assert "S57" in payload["sources"]


def test_drugs_shows_off_label_status_and_site_defaults_in_text() -> None:
    code, out, _ = run("drugs")
    assert code == 0
    assert "OFF-LABEL" in out and "site default" in out and "source S46" in out


def test_drugs_reads_a_clinic_library(tmp_path: Path) -> None:
    from thecal.therapy.calculators.data import read_packaged

    text = read_packaged("drug_library.toml").replace('name = "thecal reference library"',
                                                      'name = "St Elsewhere"')  # fmt: skip
    (tmp_path / "lib.toml").write_text(text, encoding="utf-8")
    assert run_json("drugs", "--library", str(tmp_path / "lib.toml"))["library"]["name"] == (
        "St Elsewhere"
    )


# --- thecal check ----------------------------------------------------------------------


def test_check_allows_a_sound_prescription_with_exit_code_0() -> None:
    payload = run_json("check", BACLOFEN)
    assert payload["allowed"] is True
    for verdict in payload["verdicts"]:
        assert set(verdict) >= {"outcome", "rule", "message", "value", "bound", "source"}
        assert verdict["outcome"] in {"allowed", "warning", "refused"}


def test_check_says_which_pump_model_it_assumed() -> None:
    payload = run_json("check", BACLOFEN)
    assert payload["pump"] == {"id": "peristaltic-20", "label": payload["pump"]["label"],
                               "default": True}  # fmt: skip
    assert payload["notes"][0].startswith("pump model not given: checked against peristaltic-20")


def test_check_refuses_an_hour_day_slip_with_exit_code_3() -> None:
    payload = run_json("check", SLIP, "--current", CURRENT, code=3)
    assert payload["allowed"] is False
    assert {"hour_day_slip", "tenfold_change"} <= set(payload["refused_by"])


def test_check_warns_about_an_off_label_drug_but_does_not_refuse_it() -> None:
    payload = run_json("check", HYDRO)
    assert payload["allowed"] is True
    assert payload["needs_reasons"] == ["off_label"]


def test_check_text_ends_with_a_clear_conclusion() -> None:
    code, out, _ = run("check", SLIP, "--current", CURRENT)
    assert code == 3
    assert "REFUSED by tenfold_change, hour_day_slip" in out


def test_check_refuses_a_ziconotide_increase_sooner_than_24_h_after_the_last(
    tmp_path: Path,
) -> None:
    up = tmp_path / "up.toml"
    up.write_text(Path(ZICONOTIDE).read_text().replace('"2.4 mcg/day"', '"4.8 mcg/day"'))
    times = ("--last-increase", "2026-03-01T20:00", "--now", START)
    payload = run_json("check", str(up), "--current", ZICONOTIDE, "--pump", "peristaltic-40",
                       *times, code=3)  # fmt: skip
    assert payload["pump"]["default"] is False
    assert payload["refused_by"] == ["titration_interval"]


def test_check_falls_back_to_the_computer_clock_and_says_so() -> None:
    payload = run_json("check", SLIP, "--current", CURRENT, "--last-increase", START, code=3)
    assert any("--now not given" in note for note in payload["notes"])


def test_check_shows_doses_in_the_drugs_unit() -> None:
    payload = run_json("check", SLIP, "--current", CURRENT, code=3)
    assert payload["current"]["programmed_daily_dose"] == "0.5 mg/day"
    assert payload["proposed"]["programmed_daily_dose"] == "12 mg/day"


# --- thecal calc -----------------------------------------------------------------------


def test_calc_rate_gives_the_volume_rate() -> None:
    payload = run_json("calc", "rate", "--drug", "morphine", "--concentration", "10 mg/mL",
                       "--dose", "4 mg/day")  # fmt: skip
    assert payload["volume_rate_ml_per_day"] == 0.4
    assert payload["warnings"] == []


def test_calc_rate_runs_in_reverse_and_warns_off_library_concentrations() -> None:
    payload = run_json("calc", "rate", "--drug", "baclofen", "--concentration", "1 mg/mL",
                       "--volume-rate", "0.5 mL/day")  # fmt: skip
    assert payload["dose"] == "500 mcg/day"
    assert "not a library concentration" in payload["warnings"][0]


def test_calc_refill_from_a_volume_rate() -> None:
    payload = run_json("calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL",
                       "--volume-rate", "0.5 mL/day", "--start", START)  # fmt: skip
    assert payload["days_to_low_reservoir_alarm"] == 36
    assert payload["days_to_empty"] == 40
    assert payload["refill_by"] == "2026-04-07T08:00:00"
    assert payload["limited_by"] == "alarm"


def test_calc_refill_from_a_prescription_counts_worst_case_patient_boluses() -> None:
    base = ("calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL",
            "--prescription", MORPHINE, "--start", START)  # fmt: skip
    worst = run_json(*base)
    plain = run_json(*base, "--no-patient-boluses")
    assert worst["days_to_low_reservoir_alarm"] < plain["days_to_low_reservoir_alarm"] == 45
    assert worst["stability_provenance"] == "site default"


def test_calc_refill_after_a_first_ziconotide_fill_is_limited_by_stability() -> None:
    payload = run_json("calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL",
                       "--prescription", ZICONOTIDE, "--first-fill", "--start", START)  # fmt: skip
    assert payload["limited_by"] == "stability"
    assert payload["refill_by"] == "2026-03-16T08:00:00"
    assert payload["stability_days"] == 14


def test_calc_refill_with_drug_and_concentration_applies_their_stability() -> None:
    payload = run_json("calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL",
                       "--volume-rate", "0.1 mL/day", "--drug", "baclofen",
                       "--concentration", "2000 mcg/mL", "--start", START)  # fmt: skip
    assert payload["limited_by"] == "stability"
    assert payload["stability_days"] == 77


def test_calc_priming_from_explicit_volumes() -> None:
    catheter = ("--implanted-length", "80 cm", "--catheter-volume-per-cm", "0.0026 mL/cm")
    payload = run_json("calc", "priming", *catheter, "--tubing-volume", "0.14 mL")
    assert payload["catheter_volume_ml"] == 0.208
    assert payload["priming_volume_ml"] == 0.348
    assert payload["duration_minutes"] is None


def test_calc_priming_from_catheter_and_pump_models() -> None:
    payload = run_json("calc", "priming", "--catheter", "prometra-110", "--trimmed-length", "30",
                       "--pump", "peristaltic-20")  # fmt: skip
    assert payload["priming_volume_ml"] == 0.348
    assert payload["duration_minutes"] == 20.88
    assert payload["provenance"]["tubing_volume"] == "peristaltic-20: source S8"


def test_calc_convert_rounds_down_and_warns() -> None:
    payload = run_json("calc", "convert", "--from", "oral", "--to", "intrathecal",
                       "--dose", "100 mg/day")  # fmt: skip
    assert payload["dose_mg_per_day"] == 0.33
    assert payload["ratio"] == 300
    assert any("10:1 to 125:1" in warning for warning in payload["warnings"])


def test_calc_baclofen_start_doubles_a_short_effect() -> None:
    payload = run_json("calc", "baclofen-start", "--screening-dose", "50 mcg",
                       "--effect-hours", "6")  # fmt: skip
    assert payload["daily_dose_mcg"] == 100
    long = run_json("calc", "baclofen-start", "--screening-dose", "50 mcg", "--effect-hours", "9 h")
    assert long["daily_dose_mcg"] == 50


def test_calc_bridge_from_prescription_files() -> None:
    payload = run_json("calc", "bridge", "--current", CURRENT, "--new-concentration", "25 mg/mL",
                       "--dead-volume", "0.35 mL")  # fmt: skip
    assert payload["bridge_volume_rate_ml_per_day"] == 0.05
    assert payload["bridge_duration_hours"] == 168
    assert payload["old_drug_in_dead_volume"] == "3.5 mg"


def test_calc_bridge_from_catheter_options() -> None:
    payload = run_json("calc", "bridge", "--old-dose", "400 mcg/day", "--old-concentration",
                       "500 mcg/mL", "--drug", "baclofen", "--catheter", "prometra-110",
                       "--trimmed-length", "30 cm", "--pump", "peristaltic-20")  # fmt: skip
    assert payload["dead_volume_ml"] == 0.348
    assert payload["bridge_duration_hours"] == 10.44


def test_calc_titrate_plans_ziconotide_from_the_library() -> None:
    payload = run_json("calc", "titrate", "--drug", "ziconotide", "--from", START)
    assert [step["dose"] for step in payload["steps"]][-1] == "19.2 mcg/day"
    assert payload["steps"][1]["at"] == "2026-03-04T08:00:00"
    assert payload["provenance"]["interval"] == "source S47"


def test_the_tour_walks_every_section_and_says_it_is_not_a_medical_device() -> None:
    payload = run_json("tour", "--examples", str(EXAMPLES))
    assert payload["not_a_medical_device"] is True
    assert len(payload["sections"]) >= 10
    code, out, _ = run("tour", "--examples", str(EXAMPLES))
    assert code == 0 and "not a medical device" in out


# --- bad input: exit 2, one line, no traceback -----------------------------------------

BAD = [
    (["check", "missing.toml"], "no such file: missing.toml"),
    (["check", str(EXAMPLES)], "is a directory"),
    (["check", BACLOFEN, "--pump", "warp-drive"], "unknown pump model 'warp-drive'; accepted"),
    (["check", BACLOFEN, "--now", "yesterday"], "--now: 'yesterday' is not an ISO date-time"),
    (["check", BACLOFEN, "--current", "nope.toml"], "no such file: nope.toml"),
    (["check", BACLOFEN, "--last-increase", "2026-03-01T08:00+01:00", "--now", START],
     "give both with a time-zone offset or both without"),
    (["check", BACLOFEN, "--library", "missing.toml"], "no such file"),
    (["check"], "Missing argument"),
    (["check", BACLOFEN, "--frobnicate"], "No such option: --frobnicate"),
    (["calc", "nosuch"], "No such command"),
    (["calc", "rate", "--bogus"], "No such option: --bogus"),
    (["calc", "refill", "--reservoir"], "Option '--reservoir' requires an argument"),
    (["calc", "titrate", "--drug", "ziconotide", "extra"], "unexpected extra argument"),
    (["drugs", "--json", "--library"], "requires an argument"),
    (["tour", "--nope"], "No such option"),
    (["calc", "rate", "--concentration", "10 mg/mL", "--dose", "1 mg/day"], "--drug is required"),
    (["calc", "rate", "--drug", "aspirin", "--concentration", "1 mg/mL", "--dose", "1 mg/day"],
     "drug 'aspirin' is not in the library"),
    (["calc", "rate", "--drug", "morphine", "--dose", "1 mg/day"], "--concentration is required"),
    (["calc", "rate", "--drug", "morphine", "--concentration", "10 mg/mL"],
     "give exactly one of --dose"),
    (["calc", "rate", "--drug", "morphine", "--concentration", "10 mg/mL", "--dose", "1 mg/mL"],
     "--dose: '1 mg/mL' is a concentration, not a dose rate"),
    (["calc", "rate", "--drug", "morphine", "--concentration", "0 mg/mL", "--dose", "1 mg/day"],
     "concentration: "),
    (["calc", "refill", "--alarm-threshold", "2 mL", "--volume-rate", "1 mL/day"],
     "--reservoir is required"),
    (["calc", "refill", "--reservoir", "20 mL", "--volume-rate", "1 mL/day"],
     "--alarm-threshold is required"),
    (["calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL"],
     "give exactly one of --volume-rate"),
    (["calc", "refill", "--reservoir", "41 mL", "--alarm-threshold", "2 mL", "--volume-rate",
      "1 mL/day", "--pump", "peristaltic-40"], "reservoir: the fill volume 41 mL would overfill"),
    (["calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL", "--prescription",
      MORPHINE, "--drug", "baclofen"], "differs from the prescription"),
    (["calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL", "--volume-rate",
      "1 mL/day", "--drug", "baclofen"], "give --drug and --concentration together"),
    (["calc", "refill", "--reservoir", "20", "--alarm-threshold", "2 mL", "--volume-rate",
      "1 mL/day"], "--reservoir: '20' has no unit"),
    (["calc", "priming", "--catheter-length", "110", "--trimmed-length", "110",
      "--catheter-volume-per-cm", "0.0026 mL/cm", "--tubing-volume", "0.14 mL"],
     "trimmed_length: 110 cm leaves no catheter"),
    (["calc", "priming", "--implanted-length", "80", "--tubing-volume", "0.14 mL"],
     "--catheter-volume-per-cm"),
    (["calc", "priming", "--implanted-length", "80", "--catheter", "prometra-110"],
     "--tubing-volume (e.g. '0.14 mL') or --pump MODEL is required"),
    (["calc", "priming", "--catheter", "spaghetti", "--trimmed-length", "3"],
     "unknown catheter model 'spaghetti'"),
    (["calc", "priming", "--implanted-length", "80", "--trimmed-length", "30"], "not both"),
    (["calc", "convert", "--from", "rectal", "--to", "oral", "--dose", "1 mg/day"],
     "route: 'rectal' is not a route"),
    (["calc", "convert", "--to", "oral", "--dose", "1 mg/day"], "--from is required"),
    (["calc", "convert", "--from", "oral", "--to", "iv", "--dose", "1 mg/day", "--ratio", "x"],
     "ratio: 'x' is not a ratio"),
    (["calc", "convert", "--from", "oral", "--to", "iv", "--dose", "1 mg/day", "--conversions",
      "none.toml"], "no such file"),
    (["calc", "baclofen-start", "--effect-hours", "6"], "--screening-dose is required"),
    (["calc", "baclofen-start", "--screening-dose", "50", "--effect-hours", "6"],
     "--screening-dose: '50' has no unit"),
    (["calc", "baclofen-start", "--screening-dose", "50 mcg", "--effect-hours", "-2"],
     "is negative"),
    (["calc", "baclofen-start", "--screening-dose", "50 mcg", "--effect-hours", "0"],
     "effect_hours: no effect"),
    (["calc", "bridge", "--dead-volume", "0.3 mL"], "give --current FILE, or --old-dose"),
    (["calc", "titrate", "--drug", "ziconotide", "--step", "5 mcg/day"],
     "step: 5 mcg/day is above the hard titration step"),
    (["calc", "titrate", "--drug", "morphine"], "start: the library has no starting dose"),
    (["calc", "titrate"], "--drug is required"),
    (["tour", "--examples", "/nonexistent"], "no example prescriptions found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "fragment"), BAD, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None
)
def test_bad_input_exits_2_with_one_clear_line_and_no_traceback(
    args: list[str], fragment: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_a_broken_prescription_file_names_every_problem_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('drug = ""\nconcentration = "10 mg"\nmode = "fast"\n', encoding="utf-8")
    code, _, err = run("check", str(bad))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "drug: must be non-empty text" in err and "is a mass, not a concentration" in err


def test_a_file_that_is_not_utf8_is_refused_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('drug = "morphine é"\n'.encode("latin-1"))
    code, _, err = run("check", str(bad))
    assert code == 2 and "is not UTF-8 text" in err


def test_a_broken_clinic_library_names_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "lib.toml"
    bad.write_text("schema = 2\n", encoding="utf-8")
    code, _, err = run("drugs", "--library", str(bad))
    assert code == 2 and "schema: must be 1" in err and "needs at least one [[drugs]]" in err
