"""User mistakes on the command line: one clear line, exit 2, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from thecal.cli.main import app
from thecal.cli.programmer import link_errors
from thecal.link.controller import HandshakeRefused, PumpBusy
from thecal.link.keys import DeviceSecret
from thecal.link.messages import HandshakeRefusal, RefusalReason

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
        # checked here, before anything is sent: what is accepted, never "missing"
        (["programmer", "interrogate", "--log-since", "-1"], "accepted: 0 or more"),
        (["programmer", "revoke", "not-a-key"], "16 hexadecimal digits"),
        (["patient", "ack", "fire"], "accepted: low_reservoir"),
        (["programmer", "refill", "--aspirated", "1 mL", "--fill", "20 mL",
          "--concentration", "0 mg/mL"], "not a solution"),
        (["programmer", "enrol", "--public-key", "ab" * 32, "--label", "x",
          "--role", "emergency"], "accepted: patient, clinician"),
        (["programmer", "emergency", "dance", "--pump", "127.0.0.1:9", "--serial", "S",
          "--pump-key", "ab" * 32], "accepted emergency actions"),
        (["programmer", "open-pairing", "--minutes", "0"], "1 to 1440"),
        (["pump", "serve", "--listen", "127.0.0.1:0", "--drug", "unobtainium",
          "--concentration", "10 mg/mL", "--fill", "20 mL"], "not in the drug library"),
        (["pump", "serve", "--listen", "127.0.0.1:0", "--drug", "morphine",
          "--concentration", "0 mg/mL", "--fill", "20 mL"], "more than zero"),
        (["pump", "serve", "--listen", "127.0.0.1:0", "--drug", "morphine",
          "--concentration", "10 mg/mL", "--fill", "20 mL", "--authority", "xyz"],
         "64 hexadecimal"),
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
            ["patient", "pair", "--pump", f"127.0.0.1:{port}",
             "--secret", CARD, "--state", str(tmp_path)],
        )  # fmt: skip
    assert result.exit_code == 4, result.output
    assert "did not answer" in result.output or "cannot reach" in result.output


def test_pairing_a_programmer_without_a_credential_is_refused_before_contacting_the_pump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THECAL_PROGRAMMER_PASSPHRASE", "pass")
    result = runner.invoke(
        app,
        ["programmer", "pair", "--pump", "127.0.0.1:9", "--secret", CARD,
         "--state", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no credential" in result.output


def test_a_clinician_programmer_needs_its_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THECAL_PROGRAMMER_PASSPHRASE", raising=False)
    result = runner.invoke(app, ["programmer", "identity", "--state", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "THECAL_PROGRAMMER_PASSPHRASE" in result.output
    assert not (tmp_path / "identity.key").exists()


def test_a_port_in_use_is_one_line_and_creates_no_pump(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app,
            ["pump", "serve", "--state", str(tmp_path / "pump"), "--listen",
             f"127.0.0.1:{port}", "--drug", "morphine", "--concentration", "10 mg/mL",
             "--fill", "20 mL"],
        )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--listen" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "pump" / "state.json").exists()


def test_a_state_directory_another_pump_serves_is_refused(tmp_path: Path) -> None:
    from thecal.link.storage import DirectoryLock

    held = DirectoryLock(tmp_path / "pump")  # another process serving it
    try:
        result = runner.invoke(
            app,
            ["pump", "serve", "--state", str(tmp_path / "pump"), "--listen", "127.0.0.1:0",
             "--drug", "morphine", "--concentration", "10 mg/mL", "--fill", "20 mL"],
        )  # fmt: skip
    finally:
        held.release()
    assert result.exit_code == 2, result.output
    assert "served by another pump process" in result.output
    assert not (tmp_path / "pump" / "state.json").exists()


def test_an_authority_grants_only_clinician_or_emergency_credentials(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["authority", "issue", "--dir", str(tmp_path), "--public-key", "ab" * 32,
         "--role", "patient", "--label", "x"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "accepted: clinician, emergency" in result.output


@pytest.mark.parametrize(
    "busy",
    [
        PumpBusy(3),
        HandshakeRefused(HandshakeRefusal(RefusalReason.BUSY, 3)),
    ],
    ids=["gave-up-waiting", "refused-busy"],
)
def test_a_busy_pump_is_shown_as_busy_with_nothing_sent(
    busy: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as exited, link_errors():
        raise busy
    assert exited.value.exit_code == 4
    shown = capsys.readouterr().err
    assert "busy" in shown and "nothing was sent" in shown
