"""`thecal calc` words each of the calculators' typed input problems with its own options:
one line on stderr, exit 2, naming the options to give (never the calculator's field names)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecal.cli.main import app
from thecal.therapy.calculators import InputProblem

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MORPHINE = str(EXAMPLES / "morphine-cancer-pain-ptm.toml")
CURRENT = str(EXAMPLES / "checks" / "morphine-current.toml")
REFILL = ["calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL",
          "--start", "2026-03-02T08:00"]  # fmt: skip
DEAD = ["--dead-volume", "0.3 mL"]


def _minimum_rate_file(tmp: Path) -> str:
    path = tmp / "minimum.toml"
    path.write_text('drug = "baclofen"\nconcentration = "500 mcg/mL"\nmode = "minimum_rate"\n')
    return str(path)


CASES = [
    (InputProblem.MINIMUM_RATE_NEEDS_PUMP, [*REFILL, "--prescription", "{minimum}"],
     "--pump is required for a minimum-rate prescription"),
    (InputProblem.BOTH_LENGTHS, ["calc", "priming", "--implanted-length", "80",
                                 "--trimmed-length", "30"], "not both"),
    (InputProblem.TRIMMED_NEEDS_CATHETER_LENGTH, ["calc", "priming", "--trimmed-length", "30"],
     "--trimmed-length needs --catheter-length or --catheter MODEL"),
    (InputProblem.NO_IMPLANTED_LENGTH, ["calc", "priming", "--catheter", "prometra-110"],
     "give --implanted-length, or --trimmed-length"),
    (InputProblem.NO_VOLUME_PER_CM, ["calc", "priming", "--implanted-length", "80",
                                     "--tubing-volume", "0.14 mL"], "--catheter-volume-per-cm"),
    (InputProblem.NO_TUBING_VOLUME, ["calc", "priming", "--implanted-length", "80",
                                     "--catheter", "prometra-110"], "--tubing-volume"),
    (InputProblem.BOTH_OLD_SOLUTIONS, ["calc", "bridge", "--current", CURRENT, "--old-dose",
                                       "1 mg/day", *DEAD], "give --current or --old-dose"),
    (InputProblem.NO_OLD_SOLUTION, ["calc", "bridge", "--old-dose", "1 mg/day", *DEAD],
     "give --current FILE, or --old-dose"),
    (InputProblem.BOTH_NEW_SOLUTIONS, ["calc", "bridge", "--current", CURRENT, "--new", CURRENT,
                                       "--new-concentration", "25 mg/mL", *DEAD],
     "give --new or --new-concentration, not both"),
    (InputProblem.DRUG_DIFFERS, [*REFILL, "--prescription", MORPHINE, "--drug", "baclofen"],
     "--drug baclofen differs from the prescription's morphine"),
    (InputProblem.CONCENTRATION_DIFFERS, [*REFILL, "--prescription", MORPHINE,
                                          "--concentration", "25 mg/mL"],
     "--concentration differs from the prescription's"),
    (InputProblem.DRUG_WITHOUT_CONCENTRATION, [*REFILL, "--volume-rate", "1 mL/day",
                                               "--concentration", "500 mcg/mL"],
     "give --drug and --concentration together"),
]  # fmt: skip


def test_every_input_problem_has_a_case_here() -> None:
    assert {kind for kind, _, _ in CASES} == set(InputProblem)


@pytest.mark.parametrize(("kind", "args", "fragment"), CASES, ids=[c[0].value for c in CASES])
def test_an_input_problem_reads_with_the_commands_options(
    tmp_path: Path, kind: InputProblem, args: list[str], fragment: str
) -> None:
    args = [arg.format(minimum=_minimum_rate_file(tmp_path)) for arg in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (kind, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
