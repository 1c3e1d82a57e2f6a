"""`thecal sim SCENARIO.toml`: run a pump-twin scenario and show what happened.

Thin wiring: reads the scenario file (prescriptions named by path are resolved relative
to it), runs `thecal.pump.scenario.run_scenario` with a progress bar, and prints a
readable timeline, or one JSON object (`--json`), and optionally plots true against
estimated reservoir and the delivered dose (`--plot FILE.png`).
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from thecal.cli.output import console, emit_json, err_console, to_jsonable, user_errors
from thecal.pump.scenario import ScenarioResult, parse_scenario, run_scenario
from thecal.pump.twin import SimEvent
from thecal.therapy.prescription import Prescription
from thecal.therapy.prescription_toml import prescription_from_fields, read_prescription
from thecal.therapy.quantities import decimal_text

# Routine patient-controller traffic, hidden from the default timeline (see --all).
_ROUTINE = {"PatientBolusRequest"}


def _resolver(base: Path) -> Any:
    def resolve(value: object, where: str) -> Prescription:
        if isinstance(value, str):
            path = (base / value).resolve()
            if not path.exists():
                raise ValueError(f"{where}: no such prescription file: {value}")
            return read_prescription(path)
        if isinstance(value, dict):
            return prescription_from_fields(value)
        raise ValueError(f"{where}: give a prescription file path or an inline table")

    return resolve


def load_scenario_file(path: Path) -> Any:
    """Parse a scenario file; `ValueError` with every problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    return parse_scenario(data, _resolver(path.parent))


def _routine(event: SimEvent) -> bool:
    details = dict(event.details)
    if details.get("command") in _ROUTINE:
        return True
    return event.kind in ("bolus_started", "bolus_ended") and details.get("kind") == "patient"


def _event_json(event: SimEvent) -> dict[str, Any]:
    return {
        "time": event.time,
        "local_time": event.local_time,
        "source": event.source,
        "kind": event.kind,
        "message": event.message,
        "details": dict(event.details),
    }


def result_json(result: ScenarioResult) -> dict[str, Any]:
    """The `--json` object: events, summary and samples."""
    s = result.summary
    summary = {
        "title": s.title,
        "model": s.model,
        "mode": s.mode,
        "start": s.start,
        "end": s.end,
        "drug": s.drug,
        "delivered_volume_ml": s.delivered_volume,
        "delivered_dose_mcg": s.delivered_dose,
        "pocket_dose_mcg": s.pocket_dose,
        "true_reservoir_ml": s.true_reservoir,
        "estimated_reservoir_ml": s.estimated_reservoir,
        "alarms_raised": dict(s.alarms_raised),
        "patient_boluses_granted": s.patient_boluses_granted,
        "patient_boluses_denied": s.patient_boluses_denied,
        "refills": [
            {
                "expected_ml": r.expected,
                "aspirated_ml": r.aspirated,
                "difference_ml": r.difference,
                "delivery_error": r.reconciliation.delivery_error,
                "discrepancy": r.discrepancy,
                "new_solution": r.new_solution,
                "flagged": r.flagged,
                "message": r.reconciliation.message,
            }
            for r in s.refills
        ],
        "final_state": s.final_state,
        "battery_charge": s.battery_charge,
        "pump_dead": s.pump_dead,
    }
    samples = [
        {
            "time": p.time,
            "true_reservoir_ml": p.true_reservoir,
            "estimated_reservoir_ml": p.estimated_reservoir,
            "delivered_volume_ml": p.delivered_volume,
            "delivered_dose_mcg": p.delivered_dose,
        }
        for p in result.samples
    ]
    return {
        "events": [_event_json(e) for e in result.events],
        "summary": summary,
        "samples": samples,
    }


def print_timeline(result: ScenarioResult, show_all: bool) -> None:
    s = result.summary
    console.print(
        f"[bold]{s.title}[/bold]  ({s.model}, {s.mode.value}, {s.start} to {s.end})",
        soft_wrap=True,
    )
    hidden = 0
    for event in result.events:
        if not show_all and _routine(event):
            hidden += 1
            continue
        when = event.time.strftime("%Y-%m-%d %H:%M")
        style = {"hardware": "magenta", "clinic": "cyan"}.get(event.source, "")
        if event.kind == "alarm_raised":
            style = "red"
        text = f"{when}  {event.source:<8} {event.kind:<22} {event.message}"
        console.print(text, style=style or None, markup=False, highlight=False, soft_wrap=True)
    if hidden:
        console.print(f"({hidden} routine patient-bolus events hidden; --all shows them)")
    console.print()
    console.print("[bold]Summary[/bold]")
    mg = decimal_text(s.delivered_dose.mg, 3)
    console.print(f"  delivered: {s.delivered_volume} ({mg} mg of {s.drug})", markup=False)
    if s.pocket_dose:
        console.print(f"  injected into the pocket: {s.pocket_dose}", markup=False)
    console.print(
        f"  reservoir: true {s.true_reservoir}, estimated {s.estimated_reservoir}", markup=False
    )
    alarms = ", ".join(f"{k} x{n}" for k, n in s.alarms_raised) or "none"
    console.print(f"  alarms raised: {alarms}", markup=False)
    console.print(
        f"  patient boluses: {s.patient_boluses_granted} granted, "
        f"{s.patient_boluses_denied} denied",
        markup=False,
    )
    flagged = sum(1 for r in s.refills if r.flagged)
    console.print(f"  refills: {len(s.refills)} ({flagged} flagged)", markup=False)
    console.print(f"  final state: {s.final_state}" + (" (pump dead)" if s.pump_dead else ""))


def sim(
    scenario: Path = typer.Argument(..., help="Scenario TOML file (see examples/scenarios/)."),
    json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG of reservoir and dose."),
    show_all: bool = typer.Option(False, "--all", help="Also show routine patient-bolus events."),
) -> None:
    """Run a pump-twin scenario: a timeline of events and a summary."""
    with user_errors():
        loaded = load_scenario_file(scenario)
    total = (loaded.end - loaded.start).total_seconds()
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.fields[day]}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=total < 7 * 86_400 or not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("sim", total=total, day="")

        def progress(moment: datetime) -> None:
            bar.update(
                task,
                completed=(moment - loaded.start).total_seconds(),
                day=moment.strftime("%Y-%m-%d"),
            )

        result = run_scenario(loaded, progress)
    if plot is not None:
        from thecal.cli.pump_plot import plot_result

        with user_errors():
            plot_result(result, plot)
    if json:
        emit_json(to_jsonable(result_json(result)))
    else:
        print_timeline(result, show_all)
        if plot is not None:
            console.print(f"plot written to {plot}", markup=False)
