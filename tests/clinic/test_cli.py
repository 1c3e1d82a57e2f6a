"""`thecal clinic`: init, user accounts, audit verification, FHIR export and the demo clinic."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from tests.clinic.conftest import ClinicDatabase
from tests.clinic.support import SETTINGS, filled_baclofen_pump
from thecal.cli.main import app
from thecal.clinic.access import Actor
from thecal.clinic.diagnoses import DiagnosisFamily, family_of
from thecal.clinic.service import Clinic, FixedClock, worklists
from thecal.clinic.storage.migrate import head_revision
from thecal.clinic.storage.models import Implant, Patient, PrescriptionRecord
from thecal.therapy.pump_models import pump_models

runner = CliRunner()


def clinic_command(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, ["clinic", *args], input=stdin)


def test_init_creates_the_schema_and_is_safe_to_repeat(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    first = clinic_command("init", "--database", url, "--json")
    again = clinic_command("init", "--database", url, "--json")
    assert first.exit_code == again.exit_code == 0
    assert json.loads(first.stdout)["from"] is None
    assert json.loads(again.stdout)["from"] == json.loads(first.stdout)["to"] == head_revision()


def test_commands_on_an_uninitialised_database_say_what_to_do(tmp_path: Path) -> None:
    result = clinic_command("audit", "verify", "--database", str(tmp_path / "none.sqlite"))
    assert result.exit_code == 2
    assert "run `thecal clinic init` first" in result.stderr


def test_a_user_is_added_with_the_password_from_stdin(sqlite_db: ClinicDatabase) -> None:
    result = clinic_command("user", "add", "admin", "--role", "administrator",
                            "--password-stdin", "--database", sqlite_db.url, "--json",
                            stdin="a long enough password\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["role"] == "administrator"


def test_a_bad_role_is_refused_in_one_line(sqlite_db: ClinicDatabase) -> None:
    password = "a long enough password\n"
    result = clinic_command("user", "add", "x1", "--role", "janitor", "--password-stdin",
                            "--database", sqlite_db.url, stdin=password)  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "role" in result.stderr


def test_audit_verify_says_where_the_log_was_tampered_with(sqlite_db: ClinicDatabase) -> None:
    clinic = Clinic(sqlite_db.database, SETTINGS, FixedClock(datetime(2026, 1, 5, tzinfo=UTC)))
    filled_baclofen_pump(clinic)
    assert clinic_command("audit", "verify", "--database", sqlite_db.url).exit_code == 0
    with sqlite_db.database.write_engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        connection.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    result = clinic_command("audit", "verify", "--database", sqlite_db.url)
    assert result.exit_code == 1
    assert "entry 2: altered" in result.stderr


def test_export_fhir_writes_a_bundle_file(sqlite_db: ClinicDatabase, tmp_path: Path) -> None:
    clinic = Clinic(sqlite_db.database, SETTINGS, FixedClock(datetime(2026, 1, 5, tzinfo=UTC)))
    patient_id, _ = filled_baclofen_pump(clinic)
    out = tmp_path / "bundle.json"
    result = clinic_command("export-fhir", str(patient_id), "-o", str(out),
                            "--database", sqlite_db.url)  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(out.read_text())["resourceType"] == "Bundle"


def test_exporting_an_unknown_patient_fails_in_one_line(sqlite_db: ClinicDatabase) -> None:
    result = clinic_command("export-fhir", "999", "--database", sqlite_db.url)
    assert result.exit_code == 2
    assert "no patient with id 999" in result.stderr


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Clinic:
    from tests.clinic.conftest import make_test_database

    made = make_test_database("sqlite", tmp_path_factory.mktemp("demo"), sqlite_template, None)
    result = clinic_command("seed-demo", "--now", NOW.isoformat(), "--database", made.url, "--json")
    assert result.exit_code == 0, result.stderr
    return Clinic(made.database, SETTINGS, FixedClock(NOW))


def test_the_demo_has_every_diagnosis_family_and_every_pump_model(demo: Clinic) -> None:
    with demo.read(Actor.system()) as call:
        diagnoses = list(call.session.scalars(select(Patient.diagnosis)))
        models = set(call.session.scalars(select(Implant.pump_model)))
    assert {family_of(d) for d in diagnoses} == set(DiagnosisFamily)
    assert len(set(diagnoses)) == 11
    assert models == {model.id for model in pump_models()}


def test_the_demo_prescriptions_come_from_the_examples_and_passed_the_evaluator(
    demo: Clinic,
) -> None:
    with demo.read(Actor.system()) as call:
        records = list(call.session.scalars(select(PrescriptionRecord)))
    assert Counter(r.drug for r in records).keys() == {
        "baclofen", "morphine", "ziconotide", "hydromorphone"
    }  # fmt: skip
    assert all(not any(v["outcome"] == "refused" for v in r.verdicts) for r in records)
    assert any(r.override_reasons for r in records)  # off-label hydromorphone needed one


def test_the_demo_shows_an_overdue_baclofen_refill_first(demo: Clinic) -> None:
    with demo.read(Actor.system()) as call:
        due = worklists.refills_due(call, 14)
    first = due.items[0]
    assert (first.high_risk, first.state) == (True, "overdue")
    assert first.patient_name == "Larsen, Henrik"


def test_the_demo_has_pumps_needing_replacement_discrepancies_and_alarms(demo: Clinic) -> None:
    with demo.read(Actor.system()) as call:
        board = worklists.dashboard(call)
    assert {b.patient_name for b in board.batteries} == {"Price, Owen", "Fischer, Daniel"}
    assert [d.patient_name for d in board.recent_discrepancies] == ["Haddad, Amira"]
    assert [a.kind for a in board.active_alarms] == ["elective_replacement_indicator"]


def test_import_interrogation_files_the_programmers_output(
    sqlite_db: ClinicDatabase, tmp_path: Path
) -> None:
    from tests.clinic.test_interrogations import programmer_json
    from thecal.pump import PumpTwin
    from thecal.pump.firmware import SimulationMode
    from thecal.therapy.prescription_toml import parse_prescription
    from thecal.therapy.quantities import Concentration, Volume

    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    clinic = Clinic(sqlite_db.database, SETTINGS, FixedClock(start))
    _, implant_id = filled_baclofen_pump(clinic)
    with clinic.read(Actor.system()) as call:
        toml = call.session.scalars(select(PrescriptionRecord.toml)).one()
    twin = PumpTwin.implant(
        "peristaltic-20", start.replace(tzinfo=None), drug="baclofen",
        concentration=Concentration.from_mcg_per_ml(500), fill=Volume.from_ml(20),
        prescription=parse_prescription(toml), serial="PS-P-1", mode=SimulationMode.ANALYTIC,
    )  # fmt: skip
    twin.advance(start.replace(tzinfo=None) + timedelta(days=2))
    reading = tmp_path / "reading.json"
    reading.write_text(programmer_json(twin))
    result = clinic_command("import-interrogation", str(implant_id), str(reading),
                            "--database", sqlite_db.url)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "reservoir 18.4 mL" in result.stdout


# --- thecal check --implant: the clinic record's safety context ------------------------------

BACLOFEN_UP = """drug = "baclofen"
concentration = "500 mcg/mL"
mode = "simple_continuous"
rate = "440 mcg/day"
"""


def test_check_in_an_implants_record_compares_with_its_prescription_in_force(
    sqlite_db: ClinicDatabase, tmp_path: Path
) -> None:
    clinic = Clinic(sqlite_db.database, SETTINGS, FixedClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))
    _, implant_id = filled_baclofen_pump(clinic)  # 400 mcg/day in force
    proposal = tmp_path / "up.toml"
    proposal.write_text(BACLOFEN_UP)
    result = runner.invoke(app, ["check", str(proposal), "--implant", str(implant_id),
                                 "--database", sqlite_db.url, "--now", "2026-01-06T09:00Z",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["current"]["programmed_daily_dose"] == "400 mcg/day"
    assert payload["pump"]["id"] == "peristaltic-20"
    assert "titration_step" in {v["rule"] for v in payload["verdicts"]}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--current", "x.toml"], "--current"),
        (["--pump", "peristaltic-40"], "--pump"),
        (["--last-increase", "2026-01-05T09:00"], "--last-increase"),
        (["--now", "2026-01-06T09:00"], "--now"),
        (["--implant", "999"], "no implant with id 999"),
    ],
)
def test_check_in_a_record_refuses_what_the_record_decides_in_one_line(
    sqlite_db: ClinicDatabase, tmp_path: Path, extra: list[str], named: str
) -> None:
    clinic = Clinic(sqlite_db.database, SETTINGS, FixedClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))
    _, implant_id = filled_baclofen_pump(clinic)
    proposal = tmp_path / "up.toml"
    proposal.write_text(BACLOFEN_UP)
    result = runner.invoke(app, ["check", str(proposal), "--implant", str(implant_id),
                                 "--database", sqlite_db.url, *extra])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and named in result.stderr


def test_check_names_a_database_given_without_an_implant(tmp_path: Path) -> None:
    proposal = tmp_path / "up.toml"
    proposal.write_text(BACLOFEN_UP)
    result = runner.invoke(app, ["check", str(proposal), "--database", "sqlite:///x.sqlite"])
    assert result.exit_code == 2 and "--database" in result.stderr


def test_check_in_a_record_without_a_clinic_database_says_what_to_do(tmp_path: Path) -> None:
    proposal = tmp_path / "up.toml"
    proposal.write_text(BACLOFEN_UP)
    missing = str(tmp_path / "none.sqlite")
    result = runner.invoke(app, ["check", str(proposal), "--implant", "1", "--database", missing])
    assert result.exit_code == 2 and "thecal clinic init" in result.stderr
