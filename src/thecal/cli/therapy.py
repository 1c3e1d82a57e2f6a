"""`thecal drugs` and `thecal check`: the drug library and the safety evaluator.

Thin wiring: every decision is made by `thecal.therapy` (`library`, `safety`,
`delivery`); this module reads the files, builds the payload once, and shows it as
rich text or as one JSON object (`--json`). With ``--implant`` the history the check
needs comes from the clinic database, built by the clinic service's one builder
(`thecal.clinic.service.prescriptions.safety_context`), as for the API and the pages.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from thecal.cli.output import EXIT_REFUSED, console, emit_json, fail
from thecal.cli.therapy_support import (
    open_library,
    open_prescription,
    parse_moment,
    pick_pump,
)
from thecal.therapy.delivery import programmed_daily_dose, worst_case_daily_dose
from thecal.therapy.library import DrugEntry, DrugLibrary, TitrationStep
from thecal.therapy.local_time import is_aware
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.quantities import Concentration, DoseRate, Mass
from thecal.therapy.safety import Context, Evaluation, Outcome, evaluate
from thecal.therapy.sourced import Sourced

__all__ = ["check", "check_payload", "drugs", "drugs_payload", "render_check", "render_drugs"]

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of text.")
LIBRARY_OPTION = typer.Option(
    None, "--library", help="A clinic's drug library file (default: thecal's reference library)."
)

_LIMIT_FIELDS = (
    ("daily_dose_soft_max", "daily dose, soft maximum"),
    ("daily_dose_hard_max", "daily dose, hard maximum"),
    ("bolus_dose_soft_max", "bolus, soft maximum"),
    ("bolus_dose_hard_max", "bolus, hard maximum"),
    ("start_dose_max", "starting dose, maximum"),
    ("titration_max_step_soft", "titration step, soft maximum"),
    ("titration_max_step_hard", "titration step, hard maximum"),
    ("titration_min_interval_soft", "time between increases, soft minimum"),
    ("titration_min_interval_hard", "time between increases, hard minimum"),
    ("stability_max_interval", "longest time in the pump (stability)"),
    ("first_fill_max_interval", "longest time in the pump after a first fill"),
    ("high_risk_withdrawal", "life-threatening withdrawal"),
)


# ---------------------------------------------------------------------------
# thecal drugs


def _shown(drug: DrugEntry, value: Any) -> Any:
    if isinstance(value, Mass | DoseRate | Concentration):
        return drug.show(value)
    if isinstance(value, TitrationStep):
        return value.show(drug.display_unit)
    if isinstance(value, bool):
        return value
    return str(value)


def _sourced(library: DrugLibrary, drug: DrugEntry, item: Sourced[Any]) -> dict[str, Any]:
    return {
        "value": _shown(drug, item.value),
        "provenance": item.provenance,
        "source": item.source,
        "site_default": item.site_default,
        "citation": library.cite(item),
        "note": item.note,
    }


def drugs_payload(library: DrugLibrary) -> dict[str, Any]:
    """The library as plain data: every number with its provenance."""
    entries = []
    for drug in library.drugs:
        limits = {}
        for name, _label in _LIMIT_FIELDS:
            item = getattr(drug, name)
            limits[name] = _sourced(library, drug, item) if item is not None else None
        concentrations = []
        for entry in drug.concentrations:
            own = entry.stability_max_interval
            concentrations.append(
                {
                    **_sourced(library, drug, entry.concentration),
                    "stability_max_interval": (
                        _sourced(library, drug, own) if own is not None else None
                    ),
                    "concentration_note": entry.note,
                }
            )
        entries.append(
            {
                "id": drug.id,
                "name": drug.name,
                "aliases": list(drug.aliases),
                "drug_class": drug.drug_class,
                "opioid": drug.opioid,
                "dose_unit": drug.display_unit.value,
                "approval": "approved" if drug.approved_for_pump.value else "off-label",
                "approved_for_pump": _sourced(library, drug, drug.approved_for_pump),
                "concentrations": concentrations,
                "limits": limits,
            }
        )
    return {
        "library": {"name": library.name, "version": library.version},
        "drugs": entries,
        "sources": dict(library.sources),
    }


def _provenance_text(item: dict[str, Any]) -> Any:
    from rich.text import Text  # text output only: a JSON answer never loads rich

    if item["site_default"]:
        return Text("site default", style="yellow")
    return Text(item["provenance"], style="cyan")


def render_drugs(payload: dict[str, Any]) -> None:
    """Show the library: per drug, its approval, concentrations and limits with provenance."""
    from rich.table import Table
    from rich.text import Text

    meta = payload["library"]
    console.print(f"[bold]{meta['name']}[/bold] (version {meta['version']})")
    console.print(
        "Numbers marked [cyan]source Sn[/cyan] are published (see the sources below); "
        "[yellow]site default[/yellow] means no published number was found: review it locally."
    )
    labels = dict(_LIMIT_FIELDS)
    for drug in payload["drugs"]:
        approval = drug["approved_for_pump"]
        status = (
            Text("approved for implanted pumps", style="green")
            if drug["approval"] == "approved"
            else Text("OFF-LABEL: not approved for implanted pumps", style="bold red")
        )
        title = Text.assemble(
            (drug["id"], "bold"), f"  {drug['name']}  ·  ", status, "  (",
            _provenance_text(approval), f")  ·  doses in {drug['dose_unit']}",
        )  # fmt: skip
        table = Table(title=title, title_justify="left", show_header=True, expand=False)
        table.add_column("limit")
        table.add_column("value", justify="right")
        table.add_column("provenance")
        for item in drug["concentrations"]:
            table.add_row("concentration", item["value"], _provenance_text(item))
            own = item["stability_max_interval"]
            if own is not None:
                table.add_row(
                    f"  stability at {item['value']}", own["value"], _provenance_text(own)
                )
        for name, limit in drug["limits"].items():
            if limit is None:
                continue
            value = limit["value"]
            if isinstance(value, bool):
                value = "yes" if value else "no"
            table.add_row(labels[name], str(value), _provenance_text(limit))
        console.print()
        console.print(table)
    console.print()
    console.print("[bold]Sources[/bold]")
    for key, citation in payload["sources"].items():
        console.print(f"  {key}: {citation}", highlight=False)


def drugs(
    library_file: str | None = LIBRARY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The drug library: limits, approval status and the source of every number."""
    payload = drugs_payload(open_library(library_file))
    if as_json:
        emit_json(payload)
    else:
        render_drugs(payload)


# ---------------------------------------------------------------------------
# thecal check


def _verdicts(evaluation: Evaluation) -> list[dict[str, Any]]:
    return [
        {
            "outcome": verdict.outcome.value,
            "rule": verdict.rule.value,
            "message": verdict.message,
            "value": verdict.value_text,
            "bound": verdict.bound_text,
            "source": verdict.citation,
            "needs_reason": verdict.needs_reason,
        }
        for verdict in evaluation.verdicts
    ]


def _summary(prescription: Prescription, library: DrugLibrary, pump: PumpModel) -> dict[str, Any]:
    drug = library.find(prescription.drug)
    minimum = pump.minimum_rate.value

    def show(value: Concentration | Mass) -> str:
        if drug is None:
            return str(value)
        if isinstance(value, Mass):
            return drug.show(DoseRate(value.amount))
        return drug.show(value)

    return {
        "drug": prescription.drug,
        "concentration": show(prescription.concentration),
        "mode": prescription.mode.value,
        "content_hash": prescription.content_hash,
        "programmed_daily_dose": show(programmed_daily_dose(prescription, minimum)),
        "worst_case_daily_dose": show(worst_case_daily_dose(prescription, minimum)),
    }


def check_payload(
    proposed: Prescription,
    library: DrugLibrary,
    pump: PumpModel,
    pump_is_default: bool,
    context: Context | None = None,
) -> dict[str, Any]:
    """Evaluate a proposal in `context` (default: nothing known but the pump) and describe
    the outcome as plain data; `pump` is the pump model the doses are shown for."""
    context = context or Context(pump=pump)
    current = context.current
    evaluation = evaluate(proposed, library, context)
    notes = list(evaluation.notes)
    if pump_is_default:
        notes.insert(0, f"pump model not given: checked against {pump.id} ({pump.label})")
    return {
        "allowed": evaluation.allowed,
        "verdicts": _verdicts(evaluation),
        "needs_reasons": [verdict.rule.value for verdict in evaluation.warnings],
        "refused_by": [verdict.rule.value for verdict in evaluation.refusals],
        "notes": notes,
        "proposed": _summary(proposed, library, pump),
        "current": _summary(current, library, pump) if current is not None else None,
        "pump": {"id": pump.id, "label": pump.label, "default": pump_is_default},
        "library": {"name": library.name, "version": library.version},
    }


_STYLE = {
    Outcome.ALLOWED.value: "green",
    Outcome.WARNING.value: "yellow",
    Outcome.REFUSED.value: "bold red",
}


def render_check(payload: dict[str, Any]) -> None:
    """Show verdicts as a table and a one-line conclusion."""
    from rich.table import Table
    from rich.text import Text

    proposed = payload["proposed"]
    line = (
        f"[bold]{proposed['drug']}[/bold] {proposed['concentration']}, {proposed['mode']}: "
        f"programmed {proposed['programmed_daily_dose']}, worst case "
        f"{proposed['worst_case_daily_dose']}"
    )
    console.print(line)
    if payload["current"] is not None:
        current = payload["current"]
        console.print(
            f"current: {current['drug']} {current['concentration']}, {current['mode']}: "
            f"programmed {current['programmed_daily_dose']}",
            highlight=False,
        )
    table = Table(show_header=True)
    table.add_column("outcome")
    table.add_column("rule")
    table.add_column("message")
    for verdict in payload["verdicts"]:
        outcome = verdict["outcome"]
        table.add_row(Text(outcome, style=_STYLE[outcome]), verdict["rule"], verdict["message"])
    console.print(table)
    for note in payload["notes"]:
        console.print(f"note: {note}", style="dim", highlight=False)
    if not payload["allowed"]:
        console.print(
            f"[bold red]REFUSED[/bold red] by {', '.join(payload['refused_by'])}: "
            "this prescription cannot be written to a pump."
        )
    elif payload["needs_reasons"]:
        console.print(
            f"[yellow]ALLOWED WITH WARNINGS[/yellow]: a stated reason is needed to override "
            f"{', '.join(payload['needs_reasons'])}."
        )
    else:
        console.print("[green]ALLOWED[/green]: every rule passed.")


def _record_context(
    implant_id: int,
    database: str | None,
    library_file: str | None,
    drug: str,
    now: datetime | None,
) -> tuple[PumpModel, Context]:
    """The implant's pump model and its safety context from the clinic record."""
    from thecal.cli.clinic import open_clinic
    from thecal.clinic.access import Actor
    from thecal.clinic.errors import ServiceError
    from thecal.clinic.service import implants, prescriptions

    clinic = open_clinic(database, library=Path(library_file) if library_file else None, now=now)
    try:
        with clinic.read(Actor.system("command line")) as call:
            implant = implants.get_implant(call, implant_id)
            context = prescriptions.safety_context(call, implant_id, drug)
    except ServiceError as error:
        fail(f"--implant: {error.message}")
    finally:
        clinic.database.dispose()
    return find_pump_model(implant.pump_model), context


def check(
    prescription_file: str = typer.Argument(..., help="The proposed prescription (TOML)."),
    current_file: str | None = typer.Option(
        None, "--current", help="The prescription the pump runs now (TOML)."
    ),
    pump_model: str | None = typer.Option(
        None, "--pump", help="Pump model id (default: peristaltic-20; see `thecal drugs`)."
    ),
    library_file: str | None = LIBRARY_OPTION,
    last_increase: str | None = typer.Option(
        None, "--last-increase", help="When the dose was last increased (ISO date-time)."
    ),
    now_text: str | None = typer.Option(
        None, "--now", help="The current time (ISO date-time; default: this computer's clock)."
    ),
    implant: int | None = typer.Option(
        None,
        "--implant",
        help="Judge it in this implant's clinic record: its prescription in force, last dose "
        "increase and pump model, on the clinic's clock (needs the clinic database).",
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        "-d",
        help="The clinic database for --implant (URL or SQLite file; default "
        "$THECAL_DATABASE_URL, else ./var/clinic.sqlite).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a proposed prescription: exit 0 when nothing is refused, 3 when something is."""
    library = open_library(library_file)
    proposed = open_prescription(prescription_file)
    if implant is not None:
        given = {"--current": current_file, "--last-increase": last_increase, "--pump": pump_model}
        if any(value is not None for value in given.values()):
            names = ", ".join(name for name, value in given.items() if value is not None)
            fail(
                f"{names}: with --implant the current prescription, the last increase and the "
                "pump come from the clinic record; give one or the other"
            )
        _check_in_record(proposed, library, library_file, implant, database, now_text, as_json)
        return
    if database is not None:
        fail("--database: only used with --implant (the implant whose record to judge in)")
    pump, pump_is_default = pick_pump(pump_model)
    current = open_prescription(current_file, "--current") if current_file else None
    last = parse_moment(last_increase, "--last-increase") if last_increase else None
    now = parse_moment(now_text, "--now") if now_text else None
    clock_note = None
    if last is not None and now is None:
        # The shell may read the clock; the evaluator never does.
        now = datetime.now().astimezone() if is_aware(last) else datetime.now()
        clock_note = f"--now not given: used this computer's clock, {now.isoformat()}"
    if last is not None and now is not None and is_aware(last) != is_aware(now):
        fail("--last-increase and --now: give both with a time-zone offset or both without")
    context = Context(current, last, now, pump)
    payload = check_payload(proposed, library, pump, pump_is_default, context)
    if clock_note:
        payload["notes"].append(clock_note)
    _show_check(payload, as_json)


def _show_check(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(payload)
    else:
        render_check(payload)
    if not payload["allowed"]:
        raise typer.Exit(EXIT_REFUSED)


def _check_in_record(
    proposed: Prescription,
    library: DrugLibrary,
    library_file: str | None,
    implant: int,
    database: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """`thecal check --implant`: the history comes from the clinic record, whole."""
    now = parse_moment(now_text, "--now") if now_text else None
    if now is not None and not is_aware(now):
        fail("--now: with --implant give the clinic's time with its offset, e.g. 2026-03-02T08:00Z")
    pump, context = _record_context(implant, database, library_file, proposed.drug, now)
    payload = check_payload(proposed, library, pump, False, context)
    payload["notes"].insert(
        0,
        f"judged in the clinic record of implant {implant} ({pump.id}), at "
        f"{context.now.isoformat() if context.now else 'an unknown time'}",
    )
    _show_check(payload, as_json)
