"""`thecal demo`: what the newcomer sees, the site it serves, and the errors it gives.

The served-demo test prepares the demo directory from the suite's seeded database (no
reseeding), then runs the real command as its own process; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from tests.clinic.support import SETTINGS
from tests.web.support import DEMO_NOW
from thecal.cli.demo import speed_text
from thecal.cli.main import app
from thecal.clinic.demo import DEMO_PASSWORDS
from thecal.web.demo_system import DemoSystem

THECAL = str(Path(sys.executable).parent / "thecal")
DEADLINE = 60.0
runner = CliRunner()


def prepared_demo(directory: Path, template: Path) -> Path:
    """A demo directory as a first start leaves it (seeded, twins made and saved)."""
    DemoSystem.open(directory, start=DEMO_NOW, settings=SETTINGS, template=template).close()
    return directory


def read_until(process: subprocess.Popen[bytes], last: str) -> list[str]:
    """Lines of the process's output up to the one starting with `last` (stripped).
    Reads the pipe's raw bytes: a buffered reader would hide lines from the selector."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    received = b""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            break
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break  # the process ended
        received += chunk
        lines = [line.strip() for line in received.decode().splitlines()]
        if any(line.startswith(last) for line in lines):
            return lines
    raise AssertionError(f"no {last!r} line from thecal demo; got {received.decode()!r}")


def test_the_demo_prints_address_and_accounts_serves_sign_in_and_saves_twins_on_sigterm(
    demo_template: Path, tmp_path: Path
) -> None:
    directory = prepared_demo(tmp_path / "demo", demo_template)
    state = directory / "pumps" / "PER40-359060" / "state.json"
    saved_before = json.loads(state.read_text())["clock"]["wall"]
    process = subprocess.Popen(
        [THECAL, "demo", "--dir", str(directory), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lines = read_until(process, "stop")
        url = next(line.split()[1] for line in lines if line.startswith("open"))
        for username, (_, password) in DEMO_PASSWORDS.items():
            assert any(username in line and password in line for line in lines), username
        assert any("1 real minute = 1 simulated hour" in line for line in lines)
        with urllib.request.urlopen(url + "sign-in", timeout=10) as answer:
            assert answer.status == 200 and b"<form" in answer.read()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err.decode()
    assert b"pump twins saved" in out
    assert json.loads(state.read_text())["clock"]["wall"] > saved_before


def test_a_busy_port_is_one_line_that_suggests_another_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "demo"), "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--port" in result.stderr
    assert not (tmp_path / "demo").exists()  # nothing was started or created


def test_fresh_refuses_to_delete_a_directory_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path), "--port", "0", "--fresh"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "not a thecal demo directory" in result.stderr
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_a_speed_that_is_not_positive_is_refused_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "d"), "--speed", "0"])
    assert result.exit_code == 2 and "--speed" in result.stderr


def test_the_speed_is_told_in_real_and_simulated_time() -> None:
    assert speed_text(60) == "1 real minute = 1 simulated hour"
    assert speed_text(600) == "1 real minute = 10 simulated hours"
    assert speed_text(10) == "1 real minute = 10 simulated minutes"
    assert speed_text(1) == "real time"
