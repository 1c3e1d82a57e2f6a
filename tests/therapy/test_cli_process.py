"""The real `thecal` process: exit codes and streams as a shell script sees them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def thecal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thecal.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check", str(EXAMPLES / "baclofen-flex-spasticity.toml"), "--json"], 0),
        (["check", str(EXAMPLES / "checks" / "morphine-hour-day-slip.toml"), "--current",
          str(EXAMPLES / "checks" / "morphine-current.toml"), "--json"], 3),
    ],
)  # fmt: skip
def test_check_exit_codes_and_one_json_object_in_a_real_process(args: list[str], code: int) -> None:
    result = thecal(*args)
    assert result.returncode == code
    assert json.loads(result.stdout)["allowed"] is (code == 0)
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [["check", "no-such-file.toml"], ["calc", "rate", "--bogus"],
     ["calc", "priming", "--catheter-length", "50", "--trimmed-length", "60",
      "--catheter-volume-per-cm", "0.0026 mL/cm", "--tubing-volume", "0.14 mL"]],
)  # fmt: skip
def test_bad_input_in_a_real_process_is_one_stderr_line_and_exit_2(args: list[str]) -> None:
    result = thecal(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
