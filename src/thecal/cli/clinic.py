"""`thecal clinic`: create, serve and look after a clinic database.

    thecal clinic init                      # create or upgrade the database (SQLite default)
    thecal clinic user add admin --role administrator
    thecal clinic seed-demo                 # demo patients, pumps, prescriptions, refills
    thecal clinic serve --port 8000         # the web pages and JSON API (OpenAPI at /docs)
    thecal clinic worker                    # the reminders worker (its own process)
    thecal clinic export-fhir 12 -o p12.json
    thecal programmer interrogate --json | thecal clinic import-interrogation 7 -
    thecal clinic audit verify

The database is `--database URL`, else $THECAL_DATABASE_URL, else ./var/clinic.sqlite.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from thecal.cli.output import (
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    emit_json,
    fail,
    user_errors,
)

app = typer.Typer(
    cls=OneLineErrorsGroup,
    name="clinic",
    help="The clinic service: database, API server, reminders worker, FHIR export, audit.",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    cls=OneLineErrorsGroup, name="audit", help="The audit log.", no_args_is_help=True
)
user_app = typer.Typer(
    cls=OneLineErrorsGroup, name="user", help="Clinic user accounts.", no_args_is_help=True
)
app.add_typer(audit_app)
app.add_typer(user_app)

DatabaseOption = typer.Option(
    None,
    "--database",
    "-d",
    help="Database URL (sqlite:///FILE or postgresql://...) or a SQLite file path; "
    "default $THECAL_DATABASE_URL, else ./var/clinic.sqlite",
)
JsonOption = typer.Option(False, "--json", help="Print one JSON object instead of text.")


def _database(url: str | None) -> Any:
    from thecal.clinic.storage.database import Database, database_url

    return Database(database_url(url))


def _settings(
    timezone: str | None,
    library: Path | None,
    policy: Path | None,
) -> Any:
    from thecal.clinic.auth import PasswordProfile
    from thecal.clinic.policy import default_policy, load_policy
    from thecal.clinic.service import ClinicSettings
    from thecal.therapy.library import default_library, load_library

    profile = os.environ.get("THECAL_PASSWORD_PROFILE", PasswordProfile.DEFAULT.value)
    try:
        password_profile = PasswordProfile(profile)
    except ValueError:
        fail(f"THECAL_PASSWORD_PROFILE: {profile!r}; accepted: rfc9106-low-memory")
    zone = timezone or os.environ.get("THECAL_TIMEZONE", "UTC")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"timezone: {zone!r} is not a time zone; accepted: an IANA name, e.g. Europe/Oslo")
    return ClinicSettings(
        library=load_library(library) if library else default_library(),
        policy=load_policy(policy) if policy else default_policy(),
        timezone=zone,
        password_profile=password_profile,
    )


def _clinic(
    database: str | None,
    timezone: str | None = None,
    library: Path | None = None,
    policy: Path | None = None,
    require_schema: bool = True,
) -> Any:
    from thecal.clinic.service import Clinic
    from thecal.clinic.storage import migrate

    db = _database(database)
    if require_schema and db.is_sqlite:
        path = db.url.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            fail(f"no clinic database at {path}; run `thecal clinic init` first")
    if require_schema:
        current = _current_revision(db)
        if current != migrate.head_revision():
            fail(
                f"the database {db.describe()} is not initialised (schema {current or 'none'}); "
                "run `thecal clinic init` first"
            )
    return Clinic(db, _settings(timezone, library, policy))


def open_clinic(
    database: str | None, library: Path | None = None, now: datetime | None = None
) -> Any:
    """The initialised clinic database for another area's command (`thecal check
    --implant`): exit 2 with one line when there is none; its clock fixed at `now` when
    given (else this computer's)."""
    clinic = _clinic(database, library=library)
    if now is not None:
        from thecal.clinic.service import FixedClock

        clinic.clock = FixedClock(now)
    return clinic


def _current_revision(db: Any) -> str | None:
    from sqlalchemy.exc import SQLAlchemyError

    from thecal.clinic.storage import migrate

    try:
        return migrate.current_revision(db)
    except SQLAlchemyError as error:
        fail(f"cannot reach the database {db.describe()}: {error.__class__.__name__}: {error}")


@app.command(cls=OneLineErrorsCommand)
def init(database: str | None = DatabaseOption, as_json: bool = JsonOption) -> None:
    """Create the clinic database, or upgrade it to the newest schema."""
    from thecal.clinic.storage import migrate

    with user_errors():
        db = _database(database)
        before = _current_revision(db)
        migrate.upgrade(db)
        after = migrate.current_revision(db)
    if as_json:
        emit_json({"database": db.describe(), "from": before, "to": after})
    else:
        typer.echo(f"clinic database {db.describe()}: schema {before or 'none'} -> {after}")


@user_app.command("add", cls=OneLineErrorsCommand)
def user_add(
    username: str = typer.Argument(..., help="Lower-case login name"),
    role: str = typer.Option(..., help="clinician, nurse, pharmacist, administrator or patient"),
    display_name: str = typer.Option("", help="Name shown in the clinic (default: username)"),
    patient_id: int | None = typer.Option(None, help="The patient a patient account belongs to"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin"
    ),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a user account (the first administrator is made this way)."""
    from pydantic import ValidationError

    from thecal.clinic.access import Actor
    from thecal.clinic.errors import ServiceError
    from thecal.clinic.service import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with user_errors():
        clinic = _clinic(database)
        try:
            form = users.UserForm.model_validate(
                {
                    "username": username,
                    "display_name": display_name or username,
                    "role": role,
                    "password": password,
                    "patient_id": patient_id,
                }
            )
            created = clinic.perform(
                Actor.system("command line"), lambda call: users.create_user(call, form)
            )
        except ValidationError as error:
            first = error.errors()[0]
            fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except ServiceError as error:
            fail(error.message + (f"; accepted: {error.accepted}" if error.accepted else ""))
    if as_json:
        emit_json(created.model_dump(mode="json"))
    else:
        typer.echo(f"user {created.username} ({created.role.value}) added, id {created.id}")


@app.command(cls=OneLineErrorsCommand)
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
    database: str | None = DatabaseOption,
    timezone: str | None = typer.Option(None, help="The clinic's IANA time zone (default UTC)"),
    library: Path | None = typer.Option(None, help="A clinic drug library file (TOML)"),
    policy: Path | None = typer.Option(None, help="A clinic scheduling policy file (TOML)"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Serve the clinic's web pages and JSON API (OpenAPI at /docs) until interrupted."""
    import uvicorn

    from thecal.web import create_web_app

    with user_errors():
        clinic = _clinic(database, timezone, library, policy)
    uvicorn.run(create_web_app(clinic), host=host, port=port, log_level=log_level, access_log=False)


@app.command(cls=OneLineErrorsCommand)
def worker(
    database: str | None = DatabaseOption,
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit"),
    poll: float = typer.Option(30.0, help="Seconds between passes when nothing is due"),
    name: str = typer.Option("", help="Worker name in the delivery log (default host:pid)"),
    batch: int = typer.Option(100, min=1, max=10_000, help="Reminders claimed per transaction"),
    sink_file: Path | None = typer.Option(
        None, "--sink-file", help="Also append each message as a JSON line to this file"
    ),
    as_json: bool = JsonOption,
) -> None:
    """The reminders worker: sends each due reminder exactly once, overdue high-risk first."""
    import socket

    from thecal.clinic.reminders import DeliveryLogSink, FileSink, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with user_errors():
        clinic = _clinic(database)
    sink = FileSink(sink_file) if sink_file else DeliveryLogSink()
    label = name or f"{socket.gethostname()}:{os.getpid()}"
    try:
        sent = run_worker(clinic, sink, label, poll_seconds=poll, once=once, batch=batch)
    except KeyboardInterrupt:  # pragma: no cover - interactive stop
        sent = 0
    except Exception as error:  # the database went away during --once
        from thecal.clinic.errors import Unavailable

        if isinstance(error, Unavailable):
            fail(error.message)
        raise
    if as_json:
        emit_json({"worker": label, "sent": sent})
    else:
        typer.echo(f"worker {label}: {sent} reminder(s) sent")


@app.command("export-fhir", cls=OneLineErrorsCommand)
def export_fhir(
    patient_id: int = typer.Argument(..., help="The patient's id"),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default stdout)"),
    database: str | None = DatabaseOption,
) -> None:
    """Export one patient's record as a FHIR R4 Bundle (JSON)."""
    from thecal.clinic import fhir
    from thecal.clinic.access import Actor
    from thecal.clinic.errors import ServiceError

    with user_errors():
        clinic = _clinic(database)
        try:
            with clinic.read(Actor.system("command line")) as call:
                bundle = fhir.export_patient(call, patient_id)
        except ServiceError as error:
            fail(error.message)
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(bundle.get('entry', []))} resources to {output}", err=True)


@app.command("import-interrogation", cls=OneLineErrorsCommand)
def import_interrogation(
    implant_id: int = typer.Argument(..., help="The implant the reading belongs to"),
    source: str = typer.Argument(
        "-", help="A file with `thecal programmer interrogate --json` output, or - for stdin"
    ),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """File a pump interrogation printed by `thecal programmer interrogate --json`."""
    from thecal.clinic.access import Actor
    from thecal.clinic.errors import ServiceError
    from thecal.clinic.service import interrogations

    with user_errors():
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            fail(f"{source}: not JSON ({error}); accepted: programmer interrogate --json output")
        if not isinstance(data, dict):
            fail(f"{source}: not a JSON object; accepted: programmer interrogate --json output")
        clinic = _clinic(database)
        try:
            view = clinic.perform(
                Actor.system("command line"),
                lambda call: interrogations.import_programmer_output(call, implant_id, data),
            )
        except ServiceError as error:
            fail(error.message + (f"; accepted: {error.accepted}" if error.accepted else ""))
    if as_json:
        emit_json(view.model_dump(mode="json"))
    else:
        typer.echo(
            f"interrogation {view.id} filed for implant {view.implant_id}: reservoir "
            f"{view.reservoir_estimate}, battery {view.battery_state or 'unknown'}"
        )
        for warning in view.warnings:
            typer.echo(f"warning: {warning}")


@audit_app.command("verify", cls=OneLineErrorsCommand)
def audit_verify(database: str | None = DatabaseOption, as_json: bool = JsonOption) -> None:
    """Walk the audit hash chain; exit 1 and say where if anything was tampered with."""
    from thecal.clinic.access import Actor
    from thecal.clinic.service import audit_trail

    with user_errors():
        clinic = _clinic(database)
        with clinic.read(Actor.system("command line")) as call:
            report = audit_trail.verify_audit(call)
    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        if report.ok:
            typer.echo(
                f"audit chain intact: {report.entries} entries, head {report.head_seq} "
                f"{report.head_hash}"
            )
        else:
            typer.echo(f"AUDIT CHAIN BROKEN: {len(report.problems)} problem(s)", err=True)
            for problem in report.problems:
                where = f"entry {problem.seq}" if problem.seq is not None else "head"
                typer.echo(f"  {where}: {problem.kind}: {problem.message}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command("seed-demo", cls=OneLineErrorsCommand)
def seed_demo(
    database: str | None = DatabaseOption,
    seed: int = typer.Option(7, help="Random seed (the same seed gives the same clinic)"),
    now: str | None = typer.Option(
        None, help="Pretend it is this time (ISO 8601 with offset); default: now"
    ),
    examples: Path | None = typer.Option(
        None, help="The directory of example prescriptions (default: the repository's)"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Fill the database with demo patients, pumps, prescriptions, refills and pain scores."""
    from thecal.clinic import demo

    with user_errors():
        moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
        if moment.tzinfo is None:
            fail("--now: give a time zone offset, e.g. 2026-03-01T09:00:00+00:00")
        clinic = _clinic(database)
        folder = examples or demo.default_examples_dir()
        if folder is None or not folder.is_dir():
            fail("no example prescriptions found; accepted: --examples DIR")
        summary = demo.seed_demo(clinic, folder, seed=seed, now=moment)
    if as_json:
        emit_json(summary.as_dict())
    else:
        typer.echo(summary.describe())
