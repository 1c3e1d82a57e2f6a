"""`thecal programmer ...`: the clinician programmer on the command line.

Thin wiring over `thecal.programmer`. The programmer's identity (key pair, credential,
pairings, unanswered requests) lives in a state directory: ``--state DIR`` or
``THECAL_PROGRAMMER_HOME``; its private key is encrypted under a passphrase
(``THECAL_PROGRAMMER_PASSPHRASE``, or typed when asked). Install the credential the
clinic's authority signed for this programmer, then pair once with the pump's device
secret::

    thecal programmer identity                    # the public key, for the authority
    thecal programmer credential credential.json
    thecal programmer pair --pump 127.0.0.1:7400 --secret 7KQ2M-9XW4T-BC3DF-R8N6H-JP5VA

Commands that change the pump show their review first and send nothing without
``--confirm`` (and a ``--reason RULE=TEXT`` for every soft-limit warning).
Exit codes: 0 done, 2 bad input, 3 refused (by the review or by the pump),
4 the pump did not answer (the request is kept and resent on the next run).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.table import Table

from thecal.cli.authority import secret_from_environment
from thecal.cli.output import (
    EXIT_REFUSED,
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    console,
    emit_json,
    fail,
    user_errors,
)
from thecal.link.authority import Credential
from thecal.link.controller import (
    BadPumpKey,
    HandshakeRefused,
    LinkUnavailable,
    OutcomeUnknown,
    PumpBusy,
)
from thecal.link.keys import DeviceSecret, parse_public_key
from thecal.link.storage import read_json
from thecal.link.transports.tcp import parse_address
from thecal.programmer import clinician as workflows
from thecal.programmer.calculations import CatheterData, priming_bolus
from thecal.programmer.clinician import (
    CommandResult,
    Outcome,
    ProgrammerError,
    ProgramResult,
    RefillRequest,
)
from thecal.programmer.connection import (
    ResolvedRequest,
    Session,
    emergency_session,
    open_session,
    pair_tcp,
)
from thecal.programmer.home import PASSPHRASE_VARIABLE, ControllerHome
from thecal.programmer.report import report_summary, security_summary
from thecal.programmer.review import Review
from thecal.pump.commands import Accepted, Role
from thecal.pump.payloads import InterrogationReport, RefillReconciliation
from thecal.therapy.local_time import is_aware
from thecal.therapy.prescription import Prescription
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.pump_models import find_catheter_model, find_pump_model
from thecal.therapy.quantities import _Scalar, exact
from thecal.therapy.safety import Context, Rule
from thecal.therapy.units import parse_concentration, parse_duration, parse_volume

EXIT_NO_ANSWER = 4

programmer_app = typer.Typer(
    cls=OneLineErrorsGroup,
    help="Clinician programmer: pair, interrogate, program, refill, implant, control.",
    no_args_is_help=True,
)

STATE = typer.Option(None, "--state", help="State directory (default: $THECAL_PROGRAMMER_HOME).")
PUMP = typer.Option(None, "--pump", help="Serial of the pump, when paired with several.")
JSON = typer.Option(False, "--json", help="Print one JSON object.")
CONFIRM = typer.Option(False, "--confirm", help="Send to the pump (without it: review only).")
REASONS = typer.Option(
    None, "--reason", help="RULE=TEXT: why a soft-limit warning is overridden (repeatable)."
)


# -- shared plumbing (also used by `thecal patient`) -------------------------------------


def plain(value: Any) -> Any:
    """Plain data for JSON: dataclasses as objects, prescriptions in canonical form."""
    if isinstance(value, Prescription):
        return {"content_hash": value.content_hash, **value.canonical()}
    if isinstance(value, _Scalar | Fraction):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


Connected = Session
"""An open session with the paired pump (see `thecal.programmer.connection.open_session`)."""


def no_answer(message: str) -> NoReturn:
    fail(message, EXIT_NO_ANSWER)


@contextmanager
def link_errors() -> Iterator[None]:
    """Link outcomes as exit codes: refused 3, no answer (or busy) 4."""
    try:
        yield
    except HandshakeRefused as refused:
        if refused.busy:
            no_answer(f"{refused} (nothing was sent)")
        fail(str(refused), EXIT_REFUSED)
    except PumpBusy as busy:
        no_answer(str(busy))
    except BadPumpKey as bad:
        fail(str(bad))
    except OutcomeUnknown as unknown:
        no_answer(f"{unknown} (kept in the state directory; it is resent on the next run)")
    except LinkUnavailable as unavailable:
        no_answer(f"the pump did not answer: {unavailable}")
    except ProgrammerError as error:
        fail(str(error), EXIT_REFUSED)


def unlock(home: ControllerHome, role: Role) -> ControllerHome:
    """Give `home` the passphrase its private key needs: a clinician programmer's key is
    always protected (``THECAL_PROGRAMMER_PASSPHRASE`` or typed); a patient controller's
    only if it already is, or the variable is set. `ValueError` when it cannot be had."""
    if role is Role.CLINICIAN or home.key_protected() or os.environ.get(PASSPHRASE_VARIABLE):
        home.passphrase = secret_from_environment(
            PASSPHRASE_VARIABLE, "this programmer's key", confirm=not home.key_exists()
        )
    home.key()  # a wrong passphrase is an error now, before anything is sent
    return home


def programmer_home(state: Path | None) -> ControllerHome:
    """The clinician programmer's state directory, unlocked."""
    return unlock(ControllerHome.locate(state), Role.CLINICIAN)


@contextmanager
def connected(state: Path | None, serial: str | None, role: Role) -> Iterator[Session]:
    """Connect to the paired pump, first resending any request still unanswered."""
    with user_errors():
        home = ControllerHome.locate(state)
        pairing = home.pairing(serial)
        if pairing.role is not role:
            raise ValueError(
                f"this state directory is paired with {pairing.serial} as a {pairing.role.value} "
                f"controller, not as a {role.value}"
            )
        unlock(home, role)
    with link_errors(), open_session(home, pairing) as session:
        yield session


def show_resolved(resolved: Sequence[ResolvedRequest]) -> None:
    for item in resolved:
        verdict = "carried out" if isinstance(item.response, Accepted) else "refused"
        console.print(
            f"earlier unanswered request {item.request_id} ({item.description}): the pump "
            f"says it was {verdict}: {item.response.message}",
            markup=False,
            highlight=False,
        )


def resolved_json(resolved: Sequence[ResolvedRequest]) -> list[Any]:
    return [plain(item) for item in resolved]


def show_command(
    result: CommandResult, json_out: bool, resolved: Sequence[ResolvedRequest]
) -> None:
    if json_out:
        emit_json({"result": plain(result), "resolved_pending": resolved_json(resolved)})
    else:
        show_resolved(resolved)
        word = "done" if result.accepted else f"REFUSED ({result.reason})"
        console.print(f"{result.command}: {word}: {result.message}", markup=False)
    if not result.accepted:
        raise typer.Exit(EXIT_REFUSED)


def _reasons(raw: list[str] | None) -> dict[Rule | str, str]:
    reasons: dict[Rule | str, str] = {}
    accepted = ", ".join(rule.value for rule in Rule)
    for item in raw or []:
        name, sep, text = item.partition("=")
        if not sep or not text.strip():
            raise ValueError(f"--reason: {item!r} is not RULE=TEXT")
        try:
            rule = Rule(name.strip())
        except ValueError:
            raise ValueError(f"--reason: unknown rule {name!r}; accepted: {accepted}") from None
        reasons[rule] = text.strip()
    return reasons


def _log_since(value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(
            f"--log-since: {value} is not a log sequence number; accepted: 0 or more "
            "(the # of the last entry you have)"
        )


KEY_ID = re.compile(r"^[0-9a-f]{16}$")


def _key_id(text: str) -> str:
    cleaned = text.strip().lower()
    if not KEY_ID.match(cleaned):
        raise ValueError(
            f"key id: {text!r} is not a key id; accepted: 16 hexadecimal digits, as "
            "thecal programmer controllers lists them"
        )
    return cleaned


def _catheter(model: str | None, length: str | None, trimmed: str | None) -> CatheterData | None:
    if model is None:
        if length or trimmed:
            raise ValueError("--catheter: give the catheter model with its length")
        return None
    entry = find_catheter_model(model)
    if (length is None) == (trimmed is None):
        raise ValueError("give exactly one of --catheter-length (implanted cm) and --trimmed (cm)")
    if length is not None:
        return CatheterData(entry, exact(length))
    assert trimmed is not None
    return CatheterData.from_trimmed(entry, exact(trimmed))


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option}: {text!r} is not a date-time; accepted: 2026-03-01T09:00"
        ) from None


# -- display ---------------------------------------------------------------------------


def _review_table(checked: Review) -> Table:
    table = Table(title="Pending against current (review every line)", show_lines=False)
    table.add_column("setting")
    table.add_column("current")
    table.add_column("pending")
    table.add_column("")
    for row in checked.rows:
        table.add_row(
            row.setting, row.current or "—", row.pending or "—", "CHANGED" if row.changed else ""
        )
    return table


def _show_review(checked: Review) -> None:
    console.print(_review_table(checked))
    for verdict in checked.evaluation.verdicts:
        if verdict.outcome.value != "allowed":
            console.print(
                f"{verdict.outcome.value.upper()} {verdict.rule.value}: {verdict.message}",
                markup=False,
                highlight=False,
            )
    for note in checked.evaluation.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    console.print(f"content hash {checked.content_hash}", markup=False)


def review_json(checked: Review) -> dict[str, Any]:
    return {
        "content_hash": checked.content_hash,
        "rows": [
            {"setting": r.setting, "current": r.current, "pending": r.pending, "changed": r.changed}
            for r in checked.rows
        ],
        "verdicts": plain(checked.evaluation.verdicts),
        "notes": list(checked.evaluation.notes),
        "needs_reasons": [rule.value for rule in checked.needs_reasons],
        "allowed": checked.evaluation.allowed,
    }


# -- commands ----------------------------------------------------------------------------


@programmer_app.command("pair", cls=OneLineErrorsCommand)
def pair(
    pump: str = typer.Option(..., "--pump", help="Address of the pump, HOST:PORT."),
    secret: str = typer.Option(..., "--secret", help="The device secret from the implant card."),
    label: str = typer.Option("clinician programmer", "--label"),
    state: Path = STATE,
    json_out: bool = JSON,
) -> None:
    """Pair this programmer with a pump using its device secret (pairing window open) and
    this programmer's clinician credential."""
    with user_errors():
        card = DeviceSecret.parse(secret)
        parse_address(pump)
        home = programmer_home(state)
        _require_credential(home, Role.CLINICIAN)
    with link_errors():
        paired = pair_tcp(home, pump, card, label)
    identity, key_id = paired.pairing, paired.key_id
    result = {
        "serial": identity.serial,
        "model": identity.model,
        "role": identity.role,
        "key_id": key_id,
        "address": pump,
    }
    if json_out:
        emit_json(result)
    else:
        console.print(
            f"paired with pump {identity.serial} ({identity.model}) as "
            f"{identity.role.value}; this programmer's key id {key_id}",
            markup=False,
        )


def _require_credential(home: ControllerHome, role: Role) -> Credential:
    credential = home.credential()
    if credential is None:
        raise ValueError(
            "this programmer has no credential: give its public key (thecal programmer "
            "identity) to the clinic's authority, then install what it signs with "
            "thecal programmer credential FILE"
        )
    if role is Role.CLINICIAN and credential.role is not Role.CLINICIAN:
        raise ValueError(
            f"this programmer's credential is for {credential.role.value} access only: it "
            "cannot pair as a clinician"
        )
    return credential


def _credential_json(credential: Credential | None) -> dict[str, Any] | None:
    if credential is None:
        return None
    return {
        "role": credential.role,
        "label": credential.label,
        "authority": credential.authority,
        "not_before": credential.not_before,
        "not_after": credential.not_after,
    }


@programmer_app.command("identity", cls=OneLineErrorsCommand)
def identity(state: Path = STATE, json_out: bool = JSON) -> None:
    """This programmer's public key (for the authority, or for a clinician to enrol it),
    its credential and its pairings."""
    with user_errors():
        home = programmer_home(state)
        key = home.key()
        pumps = home.pairings()
        credential = home.credential()
    data = {
        "key_id": key.id,
        "public_key": key.public.hex(),
        "key_protected": home.key_protected(),
        "credential": _credential_json(credential),
        "pumps": [p.to_dict() for p in pumps.values()],
    }
    if json_out:
        emit_json(data)
    else:
        console.print(f"key id {key.id}\npublic key {key.public.hex()}", markup=False)
        if credential is None:
            console.print("credential: none (ask the clinic's authority for one)", markup=False)
        else:
            console.print(
                f"credential: {credential.role.value} {credential.label!r} from authority "
                f"{credential.authority}, valid {credential.not_before:%Y-%m-%d} to "
                f"{credential.not_after:%Y-%m-%d}",
                markup=False,
            )
        for p in pumps.values():
            console.print(
                f"paired: {p.serial} ({p.model}) at {p.address} as {p.role.value}", markup=False
            )


@programmer_app.command("credential", cls=OneLineErrorsCommand)
def credential_install(
    path: Path = typer.Argument(..., help="The credential file the authority issued."),
    state: Path = STATE,
    json_out: bool = JSON,
) -> None:
    """Install the credential the clinic's authority signed for this programmer's key."""
    with user_errors():
        home = programmer_home(state)
        credential = Credential.from_dict(read_json(path))
        home.install_credential(credential)
    if json_out:
        emit_json({"installed": _credential_json(credential)})
    else:
        console.print(
            f"installed: {credential.role.value} credential {credential.label!r} from authority "
            f"{credential.authority}, valid until {credential.not_after:%Y-%m-%d %H:%M}",
            markup=False,
        )


@programmer_app.command("interrogate", cls=OneLineErrorsCommand)
def interrogate(
    log_since: int = typer.Option(None, "--log-since", help="Only log entries after this seq."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Status, prescription, reservoir estimate and alarm date, battery and ERI, alarms,
    log, and what the pump's security log holds."""
    with user_errors():
        _log_since(log_since)
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        report = workflows.interrogate(c.link, log_since)
        digest = workflows.security_digest(c.link)
    projection = workflows.next_refill(report)
    plan = workflows.plan_replacement(report)
    if json_out:
        emit_json(
            {
                "report": plain(report),
                "next_refill": plain(projection),
                "replacement": plain(plan),
                "security": plain(digest),
                "resolved_pending": resolved_json(c.resolved),
            }
        )
        return
    show_resolved(c.resolved)
    table = Table(show_header=False)
    for name, value in report_summary(report):
        table.add_row(name, value)
    if projection is not None and projection.refill_by is not None:
        table.add_row(
            "refill by",
            f"{projection.refill_by:%Y-%m-%d %H:%M} "
            f"({projection.limited_by.value if projection.limited_by else ''})",
        )
    table.add_row("replacement", plan.message)
    for name, value in security_summary(digest):
        table.add_row(name, value)
    console.print(table)
    for event in report.events[-10:]:
        console.print(
            f"  #{event.seq} {event.at:%Y-%m-%d %H:%M} {event.message}",
            markup=False,
            highlight=False,
        )


@programmer_app.command("program", cls=OneLineErrorsCommand)
def program(
    prescription: Path = typer.Argument(..., help="Prescription TOML file."),
    reasons: list[str] = REASONS,
    confirm: bool = CONFIRM,
    last_increase: str = typer.Option(
        None, "--last-increase", help="When the dose was last raised."
    ),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Review a new prescription against the current one; with --confirm, write and verify."""
    with user_errors():
        rx = read_prescription(prescription)
        given = _reasons(reasons)
        raised = _when(last_increase, "--last-increase")
        if raised is not None and is_aware(raised):
            raise ValueError(
                f"--last-increase: {last_increase!r} has a time-zone offset, but it is compared "
                "with the pump's clock, which has none; accepted: the pump's local time, e.g. "
                "2026-03-01T09:00"
            )
        history = Context(last_increase_at=raised) if raised is not None else None
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        report = workflows.interrogate(c.link)
        checked = workflows.review_against_pump(rx, report, history=history)
        result = workflows.program(c.link, checked, given) if confirm else None
    if json_out:
        emit_json(
            {
                "review": review_json(checked),
                "sent": result is not None,
                "outcome": result.outcome if result else None,
                "message": result.message if result else "review only: nothing sent",
                "read_back_hash": result.read_back_hash if result else None,
                "resolved_pending": resolved_json(c.resolved),
            }
        )
    else:
        show_resolved(c.resolved)
        _show_review(checked)
        if result is None:
            missing = ", ".join(rule.value for rule in checked.needs_reasons)
            console.print(
                "review only: nothing sent. Re-run with --confirm"
                + (f" and --reason for: {missing}" if missing else ""),
                markup=False,
            )
        else:
            console.print(f"{result.outcome.value}: {result.message}", markup=False)
    if result is not None and result.outcome is not Outcome.DONE:
        raise typer.Exit(EXIT_REFUSED)
    if result is None and not checked.evaluation.allowed:
        raise typer.Exit(EXIT_REFUSED)


@programmer_app.command("refill", cls=OneLineErrorsCommand)
def refill(
    aspirated: str = typer.Option(..., "--aspirated", help='Volume withdrawn, e.g. "3.2 mL".'),
    fill: str = typer.Option(..., "--fill", help='Volume now in the reservoir, e.g. "20 mL".'),
    drug: str = typer.Option(None, "--drug", help="New drug (default: unchanged)."),
    concentration: str = typer.Option(None, "--concentration", help="New concentration."),
    prescription: Path = typer.Option(None, "--prescription", help="Prescription TOML to program."),
    catheter: str = typer.Option(None, "--catheter", help="Catheter model (for a bridge bolus)."),
    catheter_length: str = typer.Option(None, "--catheter-length", help="Implanted length, cm."),
    trimmed: str = typer.Option(None, "--trimmed", help="Length trimmed off, cm."),
    reasons: list[str] = REASONS,
    confirm: bool = CONFIRM,
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Reconcile, refill, and (on a drug or concentration change) reprogram with a bridge."""
    with user_errors():
        request = RefillRequest(
            aspirated=parse_volume(aspirated, "--aspirated"),
            new_volume=parse_volume(fill, "--fill"),
            drug=drug,
            concentration=parse_concentration(concentration, "--concentration")
            if concentration
            else None,
            prescription=read_prescription(prescription) if prescription else None,
            catheter=_catheter(catheter, catheter_length, trimmed),
            reasons=_reasons(reasons),
        )
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        if not confirm:
            report = workflows.interrogate(c.link)
            _refill_preview(report, request, json_out, c.resolved)
            return
        result = workflows.refill(c.link, request)
    if json_out:
        emit_json(
            {
                **plain(dataclasses.replace(result, review=None, program=None)),
                "reconciliation": _reconciliation_json(result.reconciliation),
                "review": review_json(result.review) if result.review else None,
                "program": _program_json(result.program),
                "resolved_pending": resolved_json(c.resolved),
            }
        )
    else:
        show_resolved(c.resolved)
        rec = result.reconciliation
        if rec is not None:
            found = rec.reconciliation
            console.print(
                f"expected remaining {rec.expected}, aspirated {rec.aspirated} "
                f"(difference {rec.difference}; accepted {found.low} to {found.high})",
                markup=False,
            )
            if rec.flagged:
                console.print(
                    f"DISCREPANCY ({rec.discrepancy.value}): {found.message}; likely causes: "
                    + "; ".join(result.likely_causes),
                    markup=False,
                )
        if result.review is not None:
            _show_review(result.review)
        if result.bridge is not None:
            console.print(
                f"bridge bolus {result.bridge.volume} over {result.bridge.duration} "
                f"at the old {result.bridge.old_daily_dose}",
                markup=False,
            )
        console.print(f"{result.outcome.value}: {result.message}", markup=False)
    if result.outcome is not Outcome.DONE:
        raise typer.Exit(EXIT_REFUSED)


def _reconciliation_json(rec: RefillReconciliation | None) -> dict[str, Any] | None:
    """The pump's refill reconciliation, flat: the refill rules' outcome and the new fill."""
    if rec is None:
        return None
    found = rec.reconciliation
    return {
        "expected": rec.expected,
        "aspirated": rec.aspirated,
        "difference": rec.difference,
        "low": found.low,
        "high": found.high,
        "tolerance": found.tolerance,
        "tolerance_bound": found.tolerance_bound,
        "basis": found.expectation.basis,
        "discrepancy": found.discrepancy,
        "flagged": rec.flagged,
        "message": found.message,
        "likely_causes": list(found.likely_causes),
        "delivery_error": found.delivery_error,
        "ran_dry": plain(found.ran_dry),
        "new_solution": rec.new_solution,
        "new_volume": rec.new_volume,
        "drug": rec.drug,
        "concentration": rec.concentration,
        "lockout_until": rec.lockout_until,
        "low_alarm_at": rec.low_alarm_at,
    }


def _program_json(result: ProgramResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "outcome": result.outcome,
        "message": result.message,
        "read_back_hash": result.read_back_hash,
        "response": plain(result.response),
    }


def _refill_preview(
    report: InterrogationReport,
    request: RefillRequest,
    json_out: bool,
    resolved: Sequence[ResolvedRequest],
) -> None:
    plan = workflows.preview_refill(report, request)
    rec = plan.reconciliation
    data = {
        "sent": False,
        "expected_remaining": plan.expected_remaining,
        "aspirated": plan.aspirated,
        "difference": plan.difference,
        "capacity": plan.capacity,
        "over_capacity": plan.over_capacity,
        "aspirate_over_capacity": plan.aspirate_over_capacity,
        "discrepancy": rec.discrepancy if rec else None,
        "reconciliation": rec.message if rec else None,
        "likely_causes": list(rec.likely_causes) if rec else [],
        "solution_change": plan.solution_change,
        "review": review_json(plan.review) if plan.review else None,
        "bridge": plain(plan.bridge),
        "refusal": plan.refusal,
    }
    if json_out:
        emit_json({**data, "resolved_pending": resolved_json(resolved)})
        return
    show_resolved(resolved)
    console.print(
        f"expected remaining {plan.expected_remaining}; you aspirated {plan.aspirated} "
        f"(difference {plan.difference})",
        markup=False,
    )
    if rec is not None and rec.flagged:
        console.print(
            f"DISCREPANCY ({rec.discrepancy.value}): {rec.message}; likely causes: "
            + "; ".join(rec.likely_causes),
            markup=False,
        )
    if plan.solution_change:
        console.print(
            f"solution change: {report.reservoir.drug} "
            f"{report.reservoir.concentration} -> {plan.drug} {plan.concentration}",
            markup=False,
        )
    if plan.review is not None:
        _show_review(plan.review)
    if plan.bridge is not None:
        console.print(
            f"bridge bolus {plan.bridge.volume} over {plan.bridge.duration}", markup=False
        )
    if plan.refusal is not None:
        console.print(f"NOT READY: {plan.refusal}", markup=False)
    console.print("preview only: nothing sent. Re-run with --confirm to refill.", markup=False)


@programmer_app.command("implant", cls=OneLineErrorsCommand)
def implant(
    prescription: Path = typer.Option(..., "--prescription", help="First prescription (TOML)."),
    catheter: str = typer.Option(..., "--catheter", help="Catheter model id."),
    catheter_length: str = typer.Option(None, "--catheter-length", help="Implanted length, cm."),
    trimmed: str = typer.Option(None, "--trimmed", help="Length trimmed off, cm."),
    reasons: list[str] = REASONS,
    confirm: bool = CONFIRM,
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """After implant: write the first prescription, then the priming bolus starts therapy."""
    with user_errors():
        rx = read_prescription(prescription)
        data = _catheter(catheter, catheter_length, trimmed)
        assert data is not None
        given = _reasons(reasons)
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        if not confirm:
            report = workflows.interrogate(c.link)
            checked = workflows.review_against_pump(rx, report)
            plan = priming_bolus(find_pump_model(report.model_id), data)
            if json_out:
                emit_json({"sent": False, "review": review_json(checked), "priming": plain(plan)})
            else:
                _show_review(checked)
                console.print(
                    f"priming bolus {plan.volume} (tubing {plan.tubing} + catheter "
                    f"{plan.catheter}) over {plan.duration}",
                    markup=False,
                )
                console.print("preview only: nothing sent. Re-run with --confirm.", markup=False)
            return
        result = workflows.implant(c.link, rx, data, given)
    if json_out:
        emit_json(
            {
                "outcome": result.outcome,
                "message": result.message,
                "priming": plain(result.priming),
                "review": review_json(result.program.review) if result.program else None,
                "resolved_pending": resolved_json(c.resolved),
            }
        )
    else:
        show_resolved(c.resolved)
        if result.program is not None:
            _show_review(result.program.review)
        console.print(f"{result.outcome.value}: {result.message}", markup=False)
    if result.outcome is not Outcome.DONE:
        raise typer.Exit(EXIT_REFUSED)


def _simple(name: str, action: Any, doc: str) -> None:
    def command(state: Path = STATE, pump: str = PUMP, json_out: bool = JSON) -> None:
        with connected(state, pump, Role.CLINICIAN) as c, link_errors():
            result = action(c.link)
        show_command(result, json_out, c.resolved)

    command.__doc__ = doc
    programmer_app.command(name, cls=OneLineErrorsCommand)(command)


_simple("stop", workflows.stop, "Stop all delivery.")
_simple("minimum-rate", workflows.minimum_rate, "Run at the minimum rate (catheter kept open).")
_simple("resume", workflows.resume, "Resume the stored prescription.")
_simple("alarm-test", workflows.alarm_test, "Sound every alarm tone once.")
_simple("post-mri", workflows.post_mri_check, "After an MRI: check the motor, release the hold.")
_simple("reset-valve", workflows.reset_flow_valve, "Re-open a valve pump's flow valve after MRI.")


@programmer_app.command("alarm-settings", cls=OneLineErrorsCommand)
def alarm_settings(
    low_reservoir: str = typer.Option(..., "--low-reservoir", help='Alarm threshold, "3 mL".'),
    critical_repeat: str = typer.Option(
        ..., "--critical-repeat", help='Repeat interval of critical alarms, e.g. "10 min".'
    ),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Set the low-reservoir alarm threshold and the critical-alarm repeat interval."""
    with user_errors():
        threshold = parse_volume(low_reservoir, "--low-reservoir")
        repeat = parse_duration(critical_repeat, "--critical-repeat")
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        result = workflows.set_alarm_settings(c.link, threshold, repeat)
    show_command(result, json_out, c.resolved)


@programmer_app.command("replacement", cls=OneLineErrorsCommand)
def replacement(state: Path = STATE, pump: str = PUMP, json_out: bool = JSON) -> None:
    """Battery ERI and end-of-service: when to schedule the pump replacement."""
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        plan = workflows.replacement_plan(c.link)
    if json_out:
        emit_json(plain(plan))
    else:
        console.print(plan.message, markup=False)


@programmer_app.command("enrol", cls=OneLineErrorsCommand)
def enrol(
    public_key: str = typer.Option(..., "--public-key", help="The controller's public key (hex)."),
    role: str = typer.Option("patient", "--role", help="patient or clinician."),
    label: str = typer.Option(..., "--label", help="Whose controller this is."),
    until: str = typer.Option(
        None, "--until", help="The enrolment ends then (pump time, ISO); default: when revoked."
    ),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Enrol a patient controller or another programmer with the pump (this also lifts a
    revocation)."""
    with user_errors():
        key = parse_public_key(public_key, "--public-key")
        if role not in (Role.PATIENT.value, Role.CLINICIAN.value):
            raise ValueError(
                f"--role: {role!r}; accepted: patient, clinician (emergency access is never "
                "enrolled: it comes with a credential)"
            )
        ends = _when(until, "--until")
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        result = workflows.enrol_controller(c.link, key, Role(role), label, ends)
    p = c.pairing
    command = (
        f"thecal patient connect --pump {p.address} --serial {p.serial} "
        f"--pump-key {p.public_key.hex()}"
    )
    if json_out:
        emit_json(
            {
                "result": plain(result),
                "serial": p.serial,
                "address": p.address,
                "pump_public_key": p.public_key.hex(),
                "connect": command,
            }
        )
    else:
        console.print(f"{result.message}", markup=False)
        if result.accepted:
            console.print(f"on the controller: {command}", markup=False)
    if not result.accepted:
        raise typer.Exit(EXIT_REFUSED)


@programmer_app.command("revoke", cls=OneLineErrorsCommand)
def revoke(
    key_id: str = typer.Argument(..., help="Key id of the lost controller."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Revoke a lost or retired controller; its sessions end at once, and it stays revoked
    until a clinician enrols it again."""
    with user_errors():
        key_id = _key_id(key_id)
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        result = workflows.revoke_controller(c.link, key_id)
    show_command(result, json_out, c.resolved)


@programmer_app.command("controllers", cls=OneLineErrorsCommand)
def controllers(state: Path = STATE, pump: str = PUMP, json_out: bool = JSON) -> None:
    """Who is enrolled with the pump, and who was revoked."""
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        listing = workflows.controllers(c.link)
    if json_out:
        emit_json(plain(listing))
        return
    for entry in listing.controllers:
        ends = f", until {entry.expires_at:%Y-%m-%d}" if entry.expires_at else ""
        console.print(
            f"{entry.key_id} {entry.role.value:9} {entry.label} "
            f"(enrolled {entry.enrolled_at:%Y-%m-%d} by {entry.enrolled_by}{ends})",
            markup=False,
        )
    for key in listing.revoked:
        console.print(f"{key} revoked", markup=False)
    for authority in listing.authorities:
        roles = ", ".join(r.value for r in authority.roles)
        console.print(f"{authority.key_id} authority {authority.label!r} for {roles}", markup=False)


@programmer_app.command("open-pairing", cls=OneLineErrorsCommand)
def open_pairing(
    minutes: int = typer.Option(15, "--minutes", help="How long the window stays open."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Open the pump's pairing window so the patient's controller can pair with the
    implant card (thecal patient pair); it closes after one controller."""
    with user_errors():
        if not 1 <= minutes <= 24 * 60:
            raise ValueError(f"--minutes: {minutes}; accepted: 1 to 1440")
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        result = workflows.open_pairing(c.link, minutes * 60)
    show_command(result, json_out, c.resolved)


@programmer_app.command("security", cls=OneLineErrorsCommand)
def security(
    since: int = typer.Option(0, "--since", help="Only records after this sequence number."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """The pump's security log: notable records, refusal counts, the chain's head."""
    with user_errors():
        if since < 0:
            raise ValueError(f"--since: {since}; accepted: 0 or more")
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        digest = workflows.security_digest(c.link, since)
    if json_out:
        emit_json(plain(digest))
        return
    for name, value in security_summary(digest):
        console.print(f"{name}: {value}", markup=False, highlight=False)


EMERGENCY_ACTIONS = {
    "interrogate": None,
    "stop": workflows.stop,
    "minimum-rate": workflows.minimum_rate,
}


@programmer_app.command("emergency", cls=OneLineErrorsCommand)
def emergency(
    action: str = typer.Argument(..., help="interrogate, stop or minimum-rate"),
    address: str = typer.Option(..., "--pump", help="Address of the pump, HOST:PORT."),
    serial: str = typer.Option(..., "--serial", help="Serial (from the implant card)."),
    pump_key: str = typer.Option(..., "--pump-key", help="Pump key (from the implant card)."),
    state: Path = STATE,
    json_out: bool = JSON,
) -> None:
    """Emergency access to a pump this programmer is not paired with: interrogate, stop or
    set the minimum rate, with this programmer's credential. Nothing else is possible."""
    with user_errors():
        if action not in EMERGENCY_ACTIONS:
            raise ValueError(
                f"{action!r}: accepted emergency actions are {', '.join(EMERGENCY_ACTIONS)}"
            )
        key = parse_public_key(pump_key, "--pump-key")
        parse_address(address)
        home = programmer_home(state)
        _require_credential(home, Role.EMERGENCY)
    with link_errors(), emergency_session(home, address, serial, key) as link:
        run = EMERGENCY_ACTIONS[action]
        if run is None:
            report = workflows.interrogate(link)
        else:
            result = run(link)
    if run is not None:
        show_command(result, json_out, ())
        return
    if json_out:
        emit_json({"report": plain(report)})
        return
    for name, value in report_summary(report):
        console.print(f"{name}: {value}", markup=False, highlight=False)


@programmer_app.command("pending", cls=OneLineErrorsCommand)
def pending(state: Path = STATE, pump: str = PUMP, json_out: bool = JSON) -> None:
    """Resend requests whose answers never arrived and show what the pump did."""
    with connected(state, pump, Role.CLINICIAN) as c:
        pass
    if json_out:
        emit_json({"resolved_pending": resolved_json(c.resolved)})
    elif c.resolved:
        show_resolved(c.resolved)
    else:
        console.print("no unanswered requests", markup=False)
