"""User mistakes on the command line: one clear line, exit 2, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thecal.cli.main import app
from thecal.link.keys import DeviceSecret

runner = CliRunner()
CARD = DeviceSecret("0" * 24).card_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["programmer", "pair", "--pump", "127.0.0.1:9", "--secret", "nonsense"],
         "not a device secret"),
        (["programmer", "pair", "--pump", "nowhere", "--secret", CARD],
         "HOST:PORT"),
        (["programmer", "interrogate"], "not paired"),
        (["patient", "bolus"], "not paired"),
        (["programmer", "enrol", "--public-key", "abc", "--label", "x"], "64 hexadecimal"),
        (["pump", "serve", "--listen", "127.0.0.1:0"], "--drug"),
        (["pump", "serve", "--listen", "127.0.0.1:0", "--drug", "morphine",
          "--concentration", "10 mg", "--fill", "20 mL"], "concentration"),
        (["pump", "syringe", "aspirate"], "no served pump"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    extra = ["--state", str(tmp_path / "state")]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_without_a_state_directory_the_programmer_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("THECAL_PROGRAMMER_HOME", raising=False)
    result = runner.invoke(app, ["programmer", "interrogate"])
    assert result.exit_code == 2
    assert "THECAL_PROGRAMMER_HOME" in result.output


def test_an_unknown_override_rule_lists_the_accepted_rules(tmp_path: Path) -> None:
    rx = Path(__file__).parents[2] / "examples" / "morphine-cancer-pain-ptm.toml"
    result = runner.invoke(
        app,
        ["programmer", "program", str(rx), "--reason", "because=yes", "--state", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "titration_step" in result.output


def test_a_pump_that_is_not_there_is_exit_4_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        result = runner.invoke(
            app,
            ["programmer", "pair", "--pump", f"127.0.0.1:{port}",
             "--secret", CARD, "--state", str(tmp_path)],
        )  # fmt: skip
    assert result.exit_code == 4, result.output
    assert "did not answer" in result.output or "cannot reach" in result.output
