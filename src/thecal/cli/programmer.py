"""`thecal programmer ...`: the clinician programmer on the command line.

Thin wiring over `thecal.programmer`. The programmer's identity (key pair, pairings,
unanswered requests) lives in a state directory: ``--state DIR`` or
``THECAL_PROGRAMMER_HOME``. Pair once with the pump's device secret::

    thecal programmer pair --pump 127.0.0.1:7400 --secret 7KQ2M-9XW4T-BC3DF-R8N6H-JP5VA

Commands that change the pump show their review first and send nothing without
``--confirm`` (and a ``--reason RULE=TEXT`` for every soft-limit warning).
Exit codes: 0 done, 2 bad input, 3 refused (by the review or by the pump),
4 the pump did not answer (the request is kept and resent on the next run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.table import Table

from thecal.cli.output import (
    EXIT_REFUSED,
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    console,
    emit_json,
    fail,
    user_errors,
)
from thecal.link.controller import (
    HandshakeRefused,
    LinkUnavailable,
    OutcomeUnknown,
)
from thecal.link.keys import DeviceSecret, parse_public_key
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
    open_session,
    pair_tcp,
)
from thecal.programmer.home import ControllerHome
from thecal.programmer.report import report_summary
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
    """Link outcomes as exit codes: refused 3, no answer 4."""
    try:
        yield
    except HandshakeRefused as refused:
        fail(str(refused), EXIT_REFUSED)
    except OutcomeUnknown as unknown:
        no_answer(f"{unknown} (kept in the state directory; it is resent on the next run)")
    except LinkUnavailable as unavailable:
        no_answer(f"the pump did not answer: {unavailable}")
    except ProgrammerError as error:
        fail(str(error), EXIT_REFUSED)


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
    """Pair this programmer with a pump using its device secret (pairing window open)."""
    with user_errors():
        home = ControllerHome.locate(state)
        card = DeviceSecret.parse(secret)
        parse_address(pump)
    with link_errors():
        paired = pair_tcp(home, pump, card, Role.CLINICIAN, label)
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


@programmer_app.command("identity", cls=OneLineErrorsCommand)
def identity(state: Path = STATE, json_out: bool = JSON) -> None:
    """This programmer's public key (give it to a clinician to enrol it) and its pairings."""
    with user_errors():
        home = ControllerHome.locate(state)
        key = home.key()
        pumps = home.pairings()
    data = {
        "key_id": key.id,
        "public_key": key.public.hex(),
        "pumps": [p.to_dict() for p in pumps.values()],
    }
    if json_out:
        emit_json(data)
    else:
        console.print(f"key id {key.id}\npublic key {key.public.hex()}", markup=False)
        for p in pumps.values():
            console.print(
                f"paired: {p.serial} ({p.model}) at {p.address} as {p.role.value}", markup=False
            )


@programmer_app.command("interrogate", cls=OneLineErrorsCommand)
def interrogate(
    log_since: int = typer.Option(None, "--log-since", help="Only log entries after this seq."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Status, prescription, reservoir estimate and alarm date, battery and ERI, alarms, log."""
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        report = workflows.interrogate(c.link, log_since)
    projection = workflows.next_refill(report)
    plan = workflows.plan_replacement(report)
    if json_out:
        emit_json(
            {
                "report": plain(report),
                "next_refill": plain(projection),
                "replacement": plain(plan),
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
    role: Role = typer.Option(Role.PATIENT, "--role", help="patient or clinician."),
    label: str = typer.Option(..., "--label", help="Whose controller this is."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Enrol a patient controller or another programmer with the pump."""
    with user_errors():
        key = parse_public_key(public_key, "--public-key")
    with connected(state, pump, Role.CLINICIAN) as c, link_errors():
        result = workflows.enrol_controller(c.link, key, role, label)
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
    """Revoke a lost or retired controller; its sessions end at once."""
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
        console.print(
            f"{entry.key_id} {entry.role.value:9} {entry.label} "
            f"(enrolled {entry.enrolled_at:%Y-%m-%d} by {entry.enrolled_by})",
            markup=False,
        )
    for key in listing.revoked:
        console.print(f"{key} revoked", markup=False)


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
