"""`thecal calc ...`: the dosing calculators.

Thin wiring over `thecal.therapy.calculators`: options are read as text and parsed
exactly (never as floats); each command calls its calculator, which decides everything
and returns a typed result; the result becomes one payload (shared with `thecal tour`),
printed as text or as one JSON object. Missing or doubly given options are the
calculators' typed `InputProblem`s, worded here with the options' names.
JSON numbers are truncated toward zero (never rounded up); the matching ``*_text``
keys give the same values as readable text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction
from typing import Any

import typer

from thecal.cli.output import console, emit_json, fail, user_errors
from thecal.cli.therapy_support import (
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    days,
    find_drug,
    number,
    open_library,
    open_prescription,
    parse_moment,
    pick_pump,
    plain,
)
from thecal.therapy.calculators import (
    CalculatorInputError,
    InputProblem,
    MissingOrConflictingInput,
)
from thecal.therapy.calculators.baclofen_start import baclofen_start
from thecal.therapy.calculators.bridge import ChangeBridge, bridge_for_change, solution_change
from thecal.therapy.calculators.fluid_path import FluidPath, fluid_path
from thecal.therapy.calculators.priming import PrimingBolus, priming_for_path, priming_rate
from thecal.therapy.calculators.rate import DrugRate, rate_for_drug
from thecal.therapy.calculators.refill import RefillForecast, refill_forecast
from thecal.therapy.calculators.route_conversion import (
    ConversionTable,
    convert_dose,
    default_conversions,
    load_conversions,
    parse_ratio,
    parse_route,
)
from thecal.therapy.calculators.titration_plan import TitrationPlan, titration_plan
from thecal.therapy.library import DrugEntry
from thecal.therapy.pump_models import PumpModel, find_catheter_model
from thecal.therapy.quantities import DoseRate, Duration, decimal_text
from thecal.therapy.units import (
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_length_cm,
    parse_mass,
    parse_volume,
    parse_volume_per_cm,
    parse_volume_rate,
)

__all__ = [
    "app",
    "baclofen_payload",
    "bridge_payload",
    "convert_payload",
    "priming_payload",
    "rate_payload",
    "refill_payload",
    "refill_rows",
    "render_titrate",
    "show_rows",
    "titrate_payload",
]

app = typer.Typer(
    cls=OneLineErrorsGroup,
    help="Dosing calculators: rate, refill, priming, bridge, convert, baclofen-start, titrate.",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of text.")
LIBRARY_OPTION = typer.Option(None, "--library", help="A clinic's drug library file.")


# How each missing or doubly given input reads with this command's options.
_OPTION_WORDING = {
    InputProblem.MINIMUM_RATE_NEEDS_PUMP: "--pump is required for a minimum-rate prescription",
    InputProblem.BOTH_LENGTHS: "give --implanted-length or --trimmed-length, not both",
    InputProblem.TRIMMED_NEEDS_CATHETER_LENGTH: (
        "--trimmed-length needs --catheter-length or --catheter MODEL"
    ),
    InputProblem.NO_IMPLANTED_LENGTH: (
        "give --implanted-length, or --trimmed-length with --catheter-length or --catheter"
    ),
    InputProblem.NO_VOLUME_PER_CM: (
        "--catheter-volume-per-cm (e.g. '0.0026 mL/cm') or --catheter MODEL is required"
    ),
    InputProblem.NO_TUBING_VOLUME: "--tubing-volume (e.g. '0.14 mL') or --pump MODEL is required",
    InputProblem.BOTH_OLD_SOLUTIONS: "give --current or --old-dose/--old-concentration, not both",
    InputProblem.NO_OLD_SOLUTION: (
        "give --current FILE, or --old-dose (e.g. '400 mcg/day') and --old-concentration"
    ),
    InputProblem.BOTH_NEW_SOLUTIONS: "give --new or --new-concentration, not both",
    InputProblem.DRUG_DIFFERS: "--drug {drug} differs from the prescription's {prescribed}",
    InputProblem.CONCENTRATION_DIFFERS: (
        "--concentration differs from the prescription's; leave it out"
    ),
    InputProblem.DRUG_WITHOUT_CONCENTRATION: (
        "give --drug and --concentration together (for the stability limit)"
    ),
}


@contextmanager
def _inputs(**context: str) -> Iterator[None]:
    """`user_errors`, with missing or conflicting inputs worded with this command's options
    (`context` fills the wording's blanks)."""
    with user_errors():
        try:
            yield
        except MissingOrConflictingInput as error:
            fail(_OPTION_WORDING[error.problem_kind].format(**context))


def show_rows(payload: dict[str, Any], rows: list[tuple[str, str]]) -> None:
    """Print labelled rows, then the payload's warnings and notes."""
    from rich.table import Table  # text output only: a JSON answer never loads rich

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    for warning in payload.get("warnings", []):
        console.print(f"warning: {warning}", style="yellow", highlight=False)
    for note in payload.get("notes", []):
        console.print(f"note: {note}", style="dim", highlight=False)


def _out(payload: dict[str, Any], as_json: bool, rows: list[tuple[str, str]]) -> None:
    if as_json:
        emit_json(payload)
    else:
        show_rows(payload, rows)


# ---------------------------------------------------------------------------
# rate


def rate_payload(result: DrugRate) -> dict[str, Any]:
    """A rate conversion for one drug as plain data."""
    drug, conversion = result.drug, result.conversion
    return {
        "drug": drug.id,
        "concentration": drug.show(conversion.concentration),
        "dose": drug.show(conversion.dose_rate),
        "dose_mcg_per_day": number(conversion.dose_rate.mcg_per_day),
        "volume_rate_ml_per_day": number(conversion.volume_rate.ml_per_day),
        "volume_rate_ml_per_hour": number(conversion.volume_rate.ml_per_hour),
        "volume_rate_text": str(conversion.volume_rate),
        "warnings": list(result.warnings),
    }


@app.command("rate", cls=OneLineErrorsCommand)
def rate(
    drug_name: str | None = typer.Option(None, "--drug", help="Drug id or name, e.g. morphine."),
    concentration: str | None = typer.Option(None, "--concentration", help="e.g. '10 mg/mL'."),
    dose: str | None = typer.Option(None, "--dose", help="Daily dose, e.g. '4 mg/day'."),
    volume_rate: str | None = typer.Option(
        None, "--volume-rate", help="Or the reverse: a volume rate, e.g. '0.4 mL/day'."
    ),
    library_file: str | None = LIBRARY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Volume rate (mL/day) for a daily dose at a concentration, or the reverse."""
    library = open_library(library_file)
    if drug_name is None:
        fail(f"--drug is required; accepted: {library.drug_ids()}")
    drug = find_drug(library, drug_name)
    if concentration is None:
        fail("--concentration is required; accepted: e.g. '10 mg/mL' or '500 mcg/mL'")
    if (dose is None) == (volume_rate is None):
        fail("give exactly one of --dose (e.g. '4 mg/day') or --volume-rate (e.g. '0.4 mL/day')")
    with user_errors():
        strength = parse_concentration(concentration, "--concentration")
        daily = parse_dose_rate(dose, "--dose") if dose is not None else None
        volume = parse_volume_rate(volume_rate, "--volume-rate") if volume_rate else None
        payload = rate_payload(rate_for_drug(drug, strength, daily, volume))
    _out(
        payload,
        as_json,
        [
            ("dose", payload["dose"]),
            ("concentration", payload["concentration"]),
            (
                "volume rate",
                f"{payload['volume_rate_text']} "
                f"({decimal_text(Fraction(str(payload['volume_rate_ml_per_hour'])), 6)} mL/h)",
            ),
        ],
    )


# ---------------------------------------------------------------------------
# refill


def _patient_bolus_note(counted: bool | None) -> list[str]:
    if counted is None:
        return []
    if counted:
        return ["worst-case patient boluses counted (every allowed bolus, as early as possible)"]
    return ["patient boluses NOT counted (--no-patient-boluses)"]


def refill_payload(forecast: RefillForecast) -> dict[str, Any]:
    """Low-reservoir alarm, empty and refill-by times for a fill, as plain data."""
    projection = forecast.projection
    stability = forecast.plan.stability
    return {
        "start": projection.start,
        "fill_ml": number(projection.fill.ml),
        "alarm_threshold_ml": number(projection.alarm_threshold.ml),
        "average_volume_rate_ml_per_day": number(projection.average_volume_rate.ml_per_day),
        "days_to_low_reservoir_alarm": number(projection.days_to_low_alarm, 6),
        "days_to_empty": number(projection.days_to_empty, 6),
        "days_to_refill": number(projection.days_to_refill, 6),
        "low_reservoir_alarm_at": projection.low_alarm_at,
        "empty_at": projection.empty_at,
        "refill_by": projection.refill_by,
        "limited_by": projection.limited_by,
        "stability_days": number(stability.value.days, 6) if stability else None,
        "stability_provenance": stability.provenance if stability else None,
        "first_fill": forecast.first_fill,
        "includes_patient_boluses": projection.includes_patient_boluses,
        "drug": forecast.drug.id if forecast.drug else None,
        "warnings": list(forecast.warnings),
        "notes": _patient_bolus_note(forecast.patient_boluses_counted) + list(forecast.notes),
    }


def _moment(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value is not None else "never"


def refill_rows(payload: dict[str, Any]) -> list[tuple[str, str]]:
    def in_days(key: str) -> str:
        value = payload[key]
        return days(Fraction(str(value))) if value is not None else "never"

    stability = (
        f"{decimal_text(Fraction(str(payload['stability_days'])), 2)} days "
        f"({payload['stability_provenance']})"
        if payload["stability_days"] is not None
        else "not applied"
    )
    return [
        ("start", _moment(payload["start"])),
        (
            "fill / alarm at",
            f"{plain(payload['fill_ml'])} mL / {plain(payload['alarm_threshold_ml'])} mL",
        ),
        ("average rate", f"{plain(payload['average_volume_rate_ml_per_day'])} mL/day"),
        (
            "low-reservoir alarm",
            f"{_moment(payload['low_reservoir_alarm_at'])} "
            f"(after {in_days('days_to_low_reservoir_alarm')})",
        ),
        ("empty", f"{_moment(payload['empty_at'])} (after {in_days('days_to_empty')})"),
        ("stability limit", stability),
        (
            "REFILL BY",
            f"{_moment(payload['refill_by'])} (limited by {payload['limited_by'] or 'nothing'})",
        ),
    ]


@app.command("refill", cls=OneLineErrorsCommand)
def refill(
    reservoir: str | None = typer.Option(None, "--reservoir", help="Fill volume, e.g. '20 mL'."),
    alarm_threshold: str | None = typer.Option(
        None, "--alarm-threshold", help="Low-reservoir alarm volume, e.g. '2 mL'."
    ),
    volume_rate: str | None = typer.Option(None, "--volume-rate", help="e.g. '0.5 mL/day'."),
    prescription_file: str | None = typer.Option(
        None, "--prescription", help="Or a prescription file (TOML)."
    ),
    drug_name: str | None = typer.Option(None, "--drug", help="Drug (for its stability limit)."),
    concentration: str | None = typer.Option(None, "--concentration", help="e.g. '25 mcg/mL'."),
    start_text: str | None = typer.Option(
        None, "--start", help="Fill time, ISO date-time on the pump's clock (default: now)."
    ),
    no_patient_boluses: bool = typer.Option(
        False, "--no-patient-boluses", help="Leave out worst-case patient boluses."
    ),
    first_fill: bool = typer.Option(
        False, "--first-fill", help="The pump's first fill with this drug (e.g. ziconotide)."
    ),
    pump_model: str | None = typer.Option(
        None, "--pump", help="Pump model: refuses overfilling, needed for minimum-rate mode."
    ),
    library_file: str | None = LIBRARY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """When the low-reservoir alarm sounds, when the pump runs dry, and the refill-by date."""
    library = open_library(library_file)
    if reservoir is None:
        fail("--reservoir is required; accepted: a fill volume, e.g. '20 mL'")
    if alarm_threshold is None:
        fail("--alarm-threshold is required; accepted: a volume, e.g. '2 mL'")
    if (volume_rate is None) == (prescription_file is None):
        fail("give exactly one of --volume-rate (e.g. '0.5 mL/day') or --prescription FILE")
    pump = pick_pump(pump_model)[0] if pump_model else None
    notes: list[str] = []
    if start_text is not None:
        start = parse_moment(start_text, "--start")
    else:
        start = datetime.now().replace(second=0, microsecond=0)
        notes.append(f"--start not given: used this computer's clock, {start.isoformat()}")
    prescription = open_prescription(prescription_file) if prescription_file else None
    drug = find_drug(library, drug_name) if drug_name else None
    prescribed = prescription.drug if prescription is not None else ""
    with _inputs(drug=drug_name or "", prescribed=prescribed):
        forecast = refill_forecast(
            library,
            parse_volume(reservoir, "--reservoir"),
            parse_volume(alarm_threshold, "--alarm-threshold"),
            start,
            prescription=prescription,
            volume_rate=parse_volume_rate(volume_rate, "--volume-rate") if volume_rate else None,
            drug=drug,
            concentration=(
                parse_concentration(concentration, "--concentration") if concentration else None
            ),
            include_patient_boluses=not no_patient_boluses,
            first_fill=first_fill,
            pump=pump,
        )
    payload = refill_payload(forecast)
    payload["notes"] = notes + payload["notes"]
    _out(payload, as_json, refill_rows(payload))


# ---------------------------------------------------------------------------
# catheter and tubing (priming and bridge)


def _path_from_options(
    implanted: str | None,
    catheter_length: str | None,
    trimmed: str | None,
    catheter_model: str | None,
    per_cm: str | None,
    tubing: str | None,
    pump: PumpModel | None,
) -> FluidPath:
    """Parse the catheter options and complete them from the models (`fluid_path`)."""
    return fluid_path(
        implanted_length_cm=(
            parse_length_cm(implanted, "--implanted-length") if implanted is not None else None
        ),
        catheter_length_cm=(
            parse_length_cm(catheter_length, "--catheter-length")
            if catheter_length is not None
            else None
        ),
        trimmed_length_cm=(
            parse_length_cm(trimmed, "--trimmed-length") if trimmed is not None else None
        ),
        catheter=find_catheter_model(catheter_model) if catheter_model else None,
        volume_per_cm=(
            parse_volume_per_cm(per_cm, "--catheter-volume-per-cm") if per_cm is not None else None
        ),
        tubing_volume=parse_volume(tubing, "--tubing-volume") if tubing is not None else None,
        pump=pump,
    )


CATHETER_OPTIONS = {
    "implanted": typer.Option(None, "--implanted-length", help="Implanted length, e.g. '80 cm'."),
    "catheter_length": typer.Option(None, "--catheter-length", help="Full catheter length (cm)."),
    "trimmed": typer.Option(None, "--trimmed-length", help="Length trimmed off (cm)."),
    "catheter": typer.Option(None, "--catheter", help="Catheter model, e.g. prometra-110."),
    "per_cm": typer.Option(None, "--catheter-volume-per-cm", help="e.g. '0.0026 mL/cm'."),
    "tubing": typer.Option(None, "--tubing-volume", help="Pump tubing volume, e.g. '0.14 mL'."),
    "pump": typer.Option(None, "--pump", help="Pump model (its tubing volume and rates)."),
}


# ---------------------------------------------------------------------------
# priming


def priming_payload(path: FluidPath, result: PrimingBolus) -> dict[str, Any]:
    """Priming volume and duration for one catheter and pump, as plain data."""
    rate = result.rate
    return {
        "implanted_length_cm": number(result.implanted_length_cm),
        "catheter_volume_per_cm_ml": number(result.volume_per_cm.ml),
        "catheter_volume_ml": number(result.catheter_volume.ml),
        "tubing_volume_ml": number(result.tubing_volume.ml),
        "priming_volume_ml": number(result.volume.ml),
        "priming_rate_ml_per_day": number(rate.ml_per_day) if rate is not None else None,
        "priming_rate_source": result.rate_source,
        "duration_minutes": number(result.duration.minutes) if result.duration else None,
        "duration_text": str(result.duration) if result.duration else None,
        "provenance": dict(path.provenance),
        "warnings": list(result.warnings),
    }


def priming_rows(payload: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("implanted length", f"{plain(payload['implanted_length_cm'])} cm"),
        (
            "catheter volume",
            f"{plain(payload['catheter_volume_ml'], 6)} mL "
            f"({plain(payload['catheter_volume_per_cm_ml'], 6)} mL/cm × "
            f"{plain(payload['implanted_length_cm'])} cm)",
        ),
        ("pump tubing volume", f"{plain(payload['tubing_volume_ml'], 6)} mL"),
        ("PRIMING VOLUME", f"{plain(payload['priming_volume_ml'], 6)} mL"),
    ]
    if payload["duration_text"] is not None:
        rows.append(
            (
                "duration",
                f"{payload['duration_text']} at {plain(payload['priming_rate_ml_per_day'])} "
                "mL/day "
                f"({payload['priming_rate_source']})",
            )
        )
    return rows


@app.command("priming", cls=OneLineErrorsCommand)
def priming(
    implanted: str | None = CATHETER_OPTIONS["implanted"],
    catheter_length: str | None = CATHETER_OPTIONS["catheter_length"],
    trimmed: str | None = CATHETER_OPTIONS["trimmed"],
    catheter: str | None = CATHETER_OPTIONS["catheter"],
    per_cm: str | None = CATHETER_OPTIONS["per_cm"],
    tubing: str | None = CATHETER_OPTIONS["tubing"],
    pump_model: str | None = CATHETER_OPTIONS["pump"],
    rate_text: str | None = typer.Option(
        None, "--rate", help="Priming rate, e.g. '24 mL/day' (default: the pump's bolus rate)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Priming bolus: catheter volume + pump tubing volume, and its duration."""
    pump = pick_pump(pump_model)[0] if pump_model else None
    with _inputs():
        path = _path_from_options(implanted, catheter_length, trimmed, catheter, per_cm, tubing,
                                  pump)  # fmt: skip
        given = parse_volume_rate(rate_text, "--rate") if rate_text else None
        result = priming_for_path(path, priming_rate(given, pump))
    payload = priming_payload(path, result)
    _out(payload, as_json, priming_rows(payload))


# ---------------------------------------------------------------------------
# bridge


def bridge_payload(result: ChangeBridge, provenance: dict[str, str]) -> dict[str, Any]:
    """Volume, rate and duration that keep the old daily dose until the new solution arrives,
    as plain data; `provenance` says where the dead volume came from."""
    bolus, change = result.bolus, result.change
    drug, new_drug = change.drug, change.new_drug
    show_old = drug.show if drug is not None else str
    show_new = new_drug.show if new_drug is not None else show_old
    new_concentration = bolus.new_concentration
    entered = bolus.entered_dose_rate
    return {
        "drug": drug.id if drug is not None else None,
        "new_drug": new_drug.id if new_drug is not None else None,
        "old_daily_dose": show_old(bolus.old_daily_dose),
        "old_concentration": show_old(bolus.old_concentration),
        "new_concentration": show_new(new_concentration) if new_concentration else None,
        "dead_volume_ml": number(bolus.dead_volume.ml),
        "bridge_volume_ml": number(bolus.dead_volume.ml),
        "bridge_volume_rate_ml_per_day": number(bolus.volume_rate.ml_per_day),
        "bridge_volume_rate_ml_per_hour": number(bolus.volume_rate.ml_per_hour),
        "bridge_duration_hours": number(bolus.duration.hours),
        "bridge_duration_text": str(bolus.duration),
        "old_drug_in_dead_volume": show_old(bolus.old_drug_in_dead_volume),
        "entered_dose_rate": show_new(entered) if entered is not None else None,
        "provenance": provenance,
        "warnings": list(result.warnings),
    }


def bridge_rows(payload: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("old solution", f"{payload['old_concentration']} at {payload['old_daily_dose']}"),
        ("dead volume", f"{plain(payload['dead_volume_ml'], 6)} mL (tubing + catheter)"),
        ("old drug in it", payload["old_drug_in_dead_volume"]),
        (
            "BRIDGE RATE",
            f"{plain(payload['bridge_volume_rate_ml_per_day'], 6)} mL/day (the old daily dose)",
        ),
        ("BRIDGE DURATION", f"{plain(payload['bridge_duration_hours'], 2)} h"),
    ]
    if payload["entered_dose_rate"] is not None:
        rows.append(
            (
                "entered as",
                f"{payload['entered_dose_rate']}: the bridge rate as a pump told it holds "
                f"{payload['new_concentration']} displays it; the patient receives the old "
                f"{payload['old_daily_dose']}",
            )
        )
    return rows


@app.command("bridge", cls=OneLineErrorsCommand)
def bridge(
    current_file: str | None = typer.Option(
        None, "--current", help="The prescription running now (old solution)."
    ),
    new_file: str | None = typer.Option(None, "--new", help="The new prescription."),
    old_dose: str | None = typer.Option(None, "--old-dose", help="Or: old daily dose."),
    old_concentration: str | None = typer.Option(
        None, "--old-concentration", help="Or: old concentration."
    ),
    new_concentration: str | None = typer.Option(
        None, "--new-concentration", help="Or: new concentration."
    ),
    drug_name: str | None = typer.Option(None, "--drug", help="Drug (for display units)."),
    dead_text: str | None = typer.Option(
        None,
        "--dead-volume",
        help="Tubing + catheter volume, e.g. '0.35 mL'.",
    ),
    implanted: str | None = CATHETER_OPTIONS["implanted"],
    catheter_length: str | None = CATHETER_OPTIONS["catheter_length"],
    trimmed: str | None = CATHETER_OPTIONS["trimmed"],
    catheter: str | None = CATHETER_OPTIONS["catheter"],
    per_cm: str | None = CATHETER_OPTIONS["per_cm"],
    tubing: str | None = CATHETER_OPTIONS["tubing"],
    pump_model: str | None = CATHETER_OPTIONS["pump"],
    library_file: str | None = LIBRARY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Bridge bolus after a drug or concentration change: keep the OLD daily dose until the
    new solution reaches the catheter tip."""
    library = open_library(library_file)
    pump = pick_pump(pump_model)[0] if pump_model else None
    current = open_prescription(current_file, "--current") if current_file else None
    new = open_prescription(new_file, "--new") if new_file else None
    drug = find_drug(library, drug_name) if drug_name else None
    with _inputs():
        change = solution_change(
            library,
            current=current,
            old_daily_dose=parse_dose_rate(old_dose, "--old-dose") if old_dose else None,
            old_concentration=(
                parse_concentration(old_concentration, "--old-concentration")
                if old_concentration
                else None
            ),
            new=new,
            new_concentration=(
                parse_concentration(new_concentration, "--new-concentration")
                if new_concentration
                else None
            ),
            drug=drug,
            pump=pump,
        )
        if dead_text is not None:
            dead = parse_volume(dead_text, "--dead-volume")
            provenance = {"dead_volume": "given"}
        else:
            path = _path_from_options(implanted, catheter_length, trimmed, catheter, per_cm,
                                      tubing, pump)  # fmt: skip
            dead, provenance = path.dead_volume, dict(path.provenance)
        payload = bridge_payload(bridge_for_change(change, dead, pump), provenance)
    _out(payload, as_json, bridge_rows(payload))


# ---------------------------------------------------------------------------
# convert


def convert_payload(
    dose: DoseRate,
    from_route: str,
    to_route: str,
    table: ConversionTable | None = None,
    ratio: Fraction | None = None,
) -> dict[str, Any]:
    """A morphine daily dose converted between routes, rounded down."""
    table = table or default_conversions()
    source, target = parse_route(from_route, table), parse_route(to_route, table)
    result = convert_dose(dose, source, target, table, ratio)
    return {
        "drug": result.drug,
        "from": source.value,
        "to": target.value,
        "input_dose_mg_per_day": number(dose.mg_per_day),
        "dose_mg_per_day": number(result.converted.mg_per_day),
        "exact_dose_mg_per_day": number(result.exact.mg_per_day),
        "rounding_step_mg_per_day": number(result.rounding_step.mg_per_day),
        "ratio": number(result.ratio),
        "ratio_text": result.ratio_text,
        "ratio_source": result.ratio_source,
        "warnings": list(result.warnings),
    }


def convert_rows(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("from", f"{plain(payload['input_dose_mg_per_day'], 6)} mg/day {payload['from']} "
                 f"{payload['drug']}"),
        ("ratio", f"{payload['ratio_text']} {payload['from']}:{payload['to']} "
                  f"({payload['ratio_source']})"),
        ("exact", f"{plain(payload['exact_dose_mg_per_day'], 6)} mg/day"),
        ("CONVERTED", f"{plain(payload['dose_mg_per_day'], 6)} mg/day {payload['to']} "
                      "(rounded down)"),
    ]  # fmt: skip


@app.command("convert", cls=OneLineErrorsCommand)
def convert(
    from_route: str | None = typer.Option(
        None, "--from", help="Route now: oral, iv, epidural, intrathecal."
    ),
    to_route: str | None = typer.Option(None, "--to", help="Route to convert to."),
    dose: str | None = typer.Option(None, "--dose", help="Daily morphine dose, e.g. '90 mg/day'."),
    ratio_text: str | None = typer.Option(
        None, "--ratio", help="Override the FROM:TO ratio, e.g. '300:1'."
    ),
    conversions_file: str | None = typer.Option(
        None, "--conversions", help="A clinic's conversion table (TOML)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Opioid (morphine) route conversion, rounded DOWN, with its warnings."""
    accepted_routes = "oral, iv, epidural, intrathecal"
    if from_route is None:
        fail(f"--from is required; accepted: {accepted_routes}")
    if to_route is None:
        fail(f"--to is required; accepted: {accepted_routes}")
    if dose is None:
        fail("--dose is required; accepted: a daily dose, e.g. '90 mg/day'")
    with user_errors():
        table = load_conversions(conversions_file) if conversions_file else None
        daily = parse_dose_rate(dose, "--dose")
        ratio = parse_ratio(ratio_text, "--ratio") if ratio_text else None
        payload = convert_payload(daily, from_route, to_route, table, ratio)
    _out(payload, as_json, convert_rows(payload))


# ---------------------------------------------------------------------------
# baclofen-start


def _effect(text: str) -> Duration:
    stripped = text.strip()
    try:
        effect = Duration.from_hours(stripped)  # a bare number is hours
    except (ValueError, TypeError):
        return parse_duration(stripped, "--effect-hours")
    if effect.is_negative():
        raise CalculatorInputError("--effect-hours", f"{text!r} is negative", "hours, e.g. '6'")
    return effect


def baclofen_payload(screening: Any, effect: Duration) -> dict[str, Any]:
    """The initial daily baclofen dose from an effective screening bolus."""
    result = baclofen_start(screening, effect)
    return {
        "screening_dose_mcg": number(result.screening_dose.mcg),
        "effect_hours": number(result.effect.hours),
        "long_effect": result.long_effect,
        "factor": number(result.factor),
        "daily_dose_mcg": number(result.daily_dose.mcg_per_day),
        "hourly_mcg": number(result.hourly_mcg, 6),
        "rule": result.source,
        "warnings": list(result.warnings),
    }


@app.command("baclofen-start", cls=OneLineErrorsCommand)
def baclofen(
    screening_dose: str | None = typer.Option(
        None, "--screening-dose", help="The effective screening bolus, e.g. '50 mcg'."
    ),
    effect_hours: str | None = typer.Option(
        None, "--effect-hours", help="How long its effect lasted, in hours, e.g. '6'."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Initial daily baclofen dose: the screening dose if its effect lasted more than 8 h,
    otherwise twice it."""
    if screening_dose is None:
        fail("--screening-dose is required; accepted: the effective bolus, e.g. '50 mcg'")
    if effect_hours is None:
        fail("--effect-hours is required; accepted: hours, e.g. '6' or '6 h'")
    with user_errors():
        dose = parse_mass(screening_dose, "--screening-dose")
        payload = baclofen_payload(dose, _effect(effect_hours))
    _out(
        payload,
        as_json,
        [
            ("screening", f"{plain(payload['screening_dose_mcg'])} mcg, "
                          f"effect {plain(payload['effect_hours'])} h"),
            ("rule", payload["rule"]),
            ("DAILY DOSE", f"{plain(payload['daily_dose_mcg'], 6)} mcg/day "
                           f"({plain(payload['hourly_mcg'], 6)} mcg/h)"),
        ],
    )  # fmt: skip


# ---------------------------------------------------------------------------
# titrate


def titrate_payload(
    plan: TitrationPlan, drug: DrugEntry, begin: datetime | None = None
) -> dict[str, Any]:
    """A titration plan of `drug` as plain data; with `begin`, each step's date and time."""
    steps = []
    for planned in plan.steps:
        volume = planned.volume_rate
        steps.append(
            {
                "index": planned.index,
                "after_hours": number(planned.after.hours),
                "after_days": number(planned.after.days, 6),
                "at": planned.at(begin) if begin is not None else None,
                "dose": drug.show(planned.dose_rate),
                "dose_mcg_per_day": number(planned.dose_rate.mcg_per_day),
                "increase": drug.show(planned.increase),
                "volume_rate_ml_per_day": number(volume.ml_per_day) if volume else None,
            }
        )
    concentration = plan.concentration
    return {
        "drug": drug.id,
        "start": drug.show(plan.start),
        "target": drug.show(plan.target),
        "step": plan.step.show(drug.display_unit),
        "interval_hours": number(plan.interval.hours),
        "reaches_target_after_days": number(plan.reaches_target_after.days, 6),
        "concentration": drug.show(concentration) if concentration else None,
        "steps": steps,
        "provenance": plan.provenance,
        "warnings": list(plan.warnings),
    }


def render_titrate(payload: dict[str, Any]) -> None:
    """Show a titration plan: its rule in one line, then a table of its steps."""
    from rich.table import Table

    provenance = payload["provenance"]
    console.print(
        f"[bold]{payload['drug']}[/bold]: start {payload['start']} ({provenance['start']}), "
        f"+{payload['step']} ({provenance['step']}) every "
        f"{decimal_text(Fraction(str(payload['interval_hours'])), 2)} h "
        f"({provenance['interval']}), up to {payload['target']} ({provenance['target']})"
    )
    table = Table(show_header=True)
    for column in ("step", "after", "at", "daily dose", "increase", "mL/day"):
        table.add_column(column, justify="right")
    for step in payload["steps"]:
        at = step["at"]
        table.add_row(
            str(step["index"]),
            days(Fraction(str(step["after_days"]))),
            at.isoformat(sep=" ", timespec="minutes") if at is not None else "-",
            step["dose"],
            step["increase"],
            str(step["volume_rate_ml_per_day"]) if step["volume_rate_ml_per_day"] else "-",
        )
    console.print(table)
    show_rows(payload, [])


@app.command("titrate", cls=OneLineErrorsCommand)
def titrate(
    drug_name: str | None = typer.Option(None, "--drug", help="Drug, e.g. ziconotide."),
    start: str | None = typer.Option(
        None, "--start", help="Starting daily dose (default: library)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="Target daily dose (default: soft max)."
    ),
    step: str | None = typer.Option(None, "--step", help="Increase per step (default: library)."),
    interval: str | None = typer.Option(
        None, "--interval", help="Time between steps, e.g. '48 h'."
    ),
    concentration: str | None = typer.Option(None, "--concentration", help="For mL/day per step."),
    begin: str | None = typer.Option(None, "--from", help="Start date-time (ISO) for dated steps."),
    library_file: str | None = LIBRARY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A titration plan (start, steps, interval, maximum) from the library's sourced limits."""
    library = open_library(library_file)
    if drug_name is None:
        fail(f"--drug is required; accepted: {library.drug_ids()}")
    drug = find_drug(library, drug_name)
    moment = parse_moment(begin, "--from") if begin else None
    with user_errors():
        plan = titration_plan(
            drug,
            parse_dose_rate(start, "--start") if start else None,
            parse_dose_rate(target, "--target") if target else None,
            parse_dose_rate(step, "--step") if step else None,
            parse_duration(interval, "--interval") if interval else None,
            parse_concentration(concentration, "--concentration") if concentration else None,
        )
    payload = titrate_payload(plan, drug, moment)
    if as_json:
        emit_json(payload)
    else:
        render_titrate(payload)
