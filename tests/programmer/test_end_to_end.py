"""End to end over TCP loopback, every party its own process: a served pump twin, a
clinician programmer and a patient controller (each `thecal ...` in a subprocess),
through implant, programming, a patient bolus, a refill with a concentration change,
and a pump restart.

The served pump runs 1200 times faster than the wall clock, so a 3-hour lockout passes
in 9 seconds; the only waiting is polling for readiness, always with a deadline.
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thecal.therapy.prescription_toml import read_prescription

pytestmark = pytest.mark.slow

THECAL = str(Path(sys.executable).parent / "thecal")
EXAMPLES = Path(__file__).parents[2] / "examples"
PTM = EXAMPLES / "morphine-cancer-pain-ptm.toml"
SPEED = "1200"
DEADLINE = 60.0

RAISED = """
drug = "morphine"
concentration = "10 mg/mL"
mode = "simple_continuous"
rate = "4.4 mg/day"

[patient_bolus]
dose = "0.2 mg"
duration = "10 min"
lockout = "3 h"
max_per_24h = 4
"""

STRONGER = RAISED.replace('"10 mg/mL"', '"25 mg/mL"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_pump(
    state: Path, port: int, *implant: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [
            THECAL,
            "pump",
            "serve",
            "--state",
            str(state),
            "--listen",
            f"127.0.0.1:{port}",
            "--speed",
            SPEED,
            "--json",
            *implant,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    selector = selectors.DefaultSelector()
    assert process.stdout is not None
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=DEADLINE):
        process.kill()
        raise AssertionError("the served pump did not report readiness in time")
    line = process.stdout.readline()
    if not line:
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"the served pump failed to start: {err}")
    return process, json.loads(line)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def places(tmp_path: Path) -> Iterator[dict[str, Path]]:
    yield {
        "pump": tmp_path / "pump",
        "programmer": tmp_path / "programmer",
        "patient": tmp_path / "patient",
        "raised": tmp_path / "raised.toml",
        "stronger": tmp_path / "stronger.toml",
        "authority": tmp_path / "authority",
        "credential": tmp_path / "credential.json",
    }


def run(home: Path, command: str, *extra: str, expect: int = 0) -> dict[str, Any]:
    """Run ``thecal COMMAND --json`` as its own process with `home` as its state."""
    env = {
        **os.environ,
        "THECAL_PROGRAMMER_HOME": str(home),
        "THECAL_AUTHORITY_PASSPHRASE": "authority passphrase",
    }
    if home.name == "programmer":  # the clinician's key is protected; the handset's is not
        env["THECAL_PROGRAMMER_PASSPHRASE"] = "programmer passphrase"
    else:
        env.pop("THECAL_PROGRAMMER_PASSPHRASE", None)
    args = [THECAL, *shlex.split(command), *extra, "--json"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=DEADLINE)
    assert done.returncode == expect, f"{command}: exit {done.returncode}\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_implant_program_patient_bolus_refill_and_restart_across_processes(
    places: dict[str, Path],
) -> None:
    places["raised"].write_text(RAISED)
    places["stronger"].write_text(STRONGER)
    clinic, patient = places["programmer"], places["patient"]
    # the clinic's authority signs this programmer's clinician credential
    authority = run(clinic, f"authority create --dir {places['authority']} --label 'test clinic'")
    programmer_key = run(clinic, "programmer identity")["public_key"]
    run(
        clinic,
        f"authority issue --dir {places['authority']} --public-key {programmer_key} "
        f"--role clinician --label 'Dr Test' --out {places['credential']}",
    )
    assert run(clinic, f"programmer credential {places['credential']}")["installed"]
    assert run(clinic, "programmer identity")["key_protected"]
    port = _free_port()
    implant = (
        "--drug morphine --concentration '10 mg/mL' --fill '20 mL' --catheter-volume '0.13 mL' "
        f"--authority {authority['public_key']}"
    )
    pump, started = _start_pump(places["pump"], port, *shlex.split(implant))
    try:
        assert started["first_start"] and started["pairing_open"]

        # pairing with the device secret from the implant card
        secret = started["device_secret"]
        paired = run(clinic, f"programmer pair --pump {started['listening']} --secret {secret}")
        assert paired["role"] == "clinician"

        # implant: first prescription, priming bolus from the catheter data, therapy starts
        implanted = run(
            clinic,
            f"programmer implant --prescription {PTM} --catheter prometra-110 "
            "--catheter-length 50 --confirm",
        )
        assert implanted["outcome"] == "done"
        assert implanted["priming"]["volume"] == pytest.approx(0.27)

        # programming: a 10 % increase, reviewed side by side, written and read back
        programmed = run(clinic, f"programmer program {places['raised']} --confirm")
        raised_hash = read_prescription(places["raised"]).content_hash
        assert programmed["outcome"] == "done"
        assert programmed["read_back_hash"] == raised_hash
        changed = {row["setting"] for row in programmed["review"]["rows"] if row["changed"]}
        assert {"rate", "programmed daily dose"} <= changed

        # the patient controller: enrolled by the clinician, then connects on its own
        key = run(patient, "patient identity")["public_key"]
        enrolled = run(clinic, f"programmer enrol --public-key {key} --label PTM")
        assert run(patient, enrolled["connect"].removeprefix("thecal "))["role"] == "patient"
        deadline = time.monotonic() + DEADLINE
        while not run(patient, "patient status")["patient_bolus"]["available"]:
            assert time.monotonic() < deadline, "the lockout after programming never ended"
            time.sleep(0.2)
        granted = run(patient, "patient bolus")
        assert granted["granted"] and granted["count_24h"] == 1
        denied = run(patient, "patient bolus", expect=3)
        assert not denied["granted"] and denied["reason"] in ("lockout", "invalid_state")
        assert denied["next_allowed_at"] is not None and denied["count_24h"] == 1
        # a patient controller's state directory cannot be used as a programmer
        assert run(patient, "programmer stop", expect=2) == {}

        # refill with a concentration change: at the patient's side the syringe empties the
        # reservoir and fills the new solution; then the programmer reconciles, registers,
        # reprograms and runs the bridge bolus
        syringe = run(
            clinic,
            f"pump syringe refill --state {places['pump']} --volume '20 mL' "
            "--concentration '25 mg/mL'",
        )
        assert syringe["into_reservoir"] == "20 mL"
        # an aspirate the 20 mL reservoir cannot have held is refused: nothing is sent
        misread = run(clinic, "programmer refill --aspirated '25 mL' --fill '20 mL' --confirm",
                      expect=3)  # fmt: skip
        assert misread["outcome"] == "not_sent" and "25 mL" in misread["message"]
        refilled = run(
            clinic,
            f"programmer refill --aspirated '{syringe['aspirated']}' --fill '20 mL' "
            f"--concentration '25 mg/mL' --prescription {places['stronger']} "
            "--catheter prometra-110 --catheter-length 50 --confirm "
            "--reason 'bridge_bolus=bridge bolus computed from the catheter data'",
        )
        assert refilled["outcome"] == "done", refilled["message"]
        aspirated = float(syringe["aspirated"].split()[0])
        assert refilled["reconciliation"]["aspirated"] == pytest.approx(aspirated)
        assert refilled["reconciliation"]["discrepancy"] == "none"
        assert refilled["reconciliation"]["new_solution"]
        assert refilled["bridge"]["volume"] == pytest.approx(0.27)
        assert refilled["bridge_result"]["accepted"]
        assert refilled["next_refill"]["refill_by"] is not None
        stronger_hash = read_prescription(places["stronger"]).content_hash
        report = run(clinic, "programmer interrogate")["report"]
        assert report["prescription_hash"] == stronger_hash
        assert report["reservoir"]["concentration"] == 25000

        # the pump process restarts; its state, pairings and prescription survive
        _stop(pump)
        assert pump.returncode == 0
        pump, restarted = _start_pump(places["pump"], port)
        assert not restarted["first_start"] and "device_secret" not in restarted
        assert run(clinic, "programmer interrogate")["report"]["prescription_hash"] == stronger_hash
        assert run(patient, "patient status")["state"] == "running"
        listing = run(clinic, "programmer controllers")
        assert {c["role"] for c in listing["controllers"]} == {"clinician", "patient"}
    finally:
        _stop(pump)
