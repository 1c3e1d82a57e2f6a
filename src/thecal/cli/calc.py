"""`thecal calc ...`: the dosing calculators.

Thin wiring over `thecal.therapy.calculators` and `thecal.therapy.projection`:
options are read as text and parsed exactly (never as floats), each command builds
one payload (shared with `thecal tour`) and prints it as text or as one JSON object.
JSON numbers are truncated toward zero (never rounded up); the matching ``*_text``
keys give the same values as readable text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

import typer
from rich.table import Table

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
from thecal.therapy.calculators import CalculatorInputError
from thecal.therapy.calculators.baclofen_start import baclofen_start
from thecal.therapy.calculators.bridge import bridge_bolus, dead_volume
from thecal.therapy.calculators.priming import implanted_length, priming_bolus
from thecal.therapy.calculators.rate import dose_rate_for, volume_rate_for
from thecal.therapy.calculators.refill import refill_date, stability_limit
from thecal.therapy.calculators.route_conversion import (
    ConversionTable,
    convert_dose,
    default_conversions,
    load_conversions,
    parse_ratio,
    parse_route,
)
from thecal.therapy.calculators.titration_plan import titration_plan
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.library import DrugEntry, DrugLibrary
from thecal.therapy.local_time import shift
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.projection import constant_pattern, prescription_pattern
from thecal.therapy.pump_models import PumpModel, find_catheter_model
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Volume, decimal_text
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
    "titrate_payload",
]

app = typer.Typer(
    cls=OneLineErrorsGroup,
    help="Dosing calculators: rate, refill, priming, bridge, convert, baclofen-start, titrate.",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of text.")
LIBRARY_OPTION = typer.Option(None, "--library", help="A clinic's drug library file.")


def _show(payload: dict[str, Any], rows: list[tuple[str, str]]) -> None:
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
        _show(payload, rows)


def _hours(duration: Duration | None) -> float | None:
    return number(duration.hours) if duration is not None else None


# ---------------------------------------------------------------------------
# rate


def rate_payload(
    drug: DrugEntry, concentration: Concentration, dose: DoseRate | None, volume: Any
) -> dict[str, Any]:
    """Dose rate <-> volume rate for one concentration of `drug`."""
    if dose is not None:
        result = volume_rate_for(dose, concentration)
    else:
        result = dose_rate_for(volume, concentration)
    warnings = []
    if drug.concentration_entry(concentration) is None:
        listed = ", ".join(drug.show(c.concentration.value) for c in drug.concentrations)
        warnings.append(
            f"{drug.show(concentration)} is not a library concentration of {drug.id} "
            f"(library: {listed})"
        )
    return {
        "drug": drug.id,
        "concentration": drug.show(concentration),
        "dose": drug.show(result.dose_rate),
        "dose_mcg_per_day": number(result.dose_rate.mcg_per_day),
        "volume_rate_ml_per_day": number(result.volume_rate.ml_per_day),
        "volume_rate_ml_per_hour": number(result.volume_rate.ml_per_hour),
        "volume_rate_text": str(result.volume_rate),
        "warnings": warnings,
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
        payload = rate_payload(drug, strength, daily, volume)
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


def refill_payload(
    fill: Volume,
    alarm: Volume,
    start: datetime,
    prescription: Prescription | None = None,
    volume_rate: Any = None,
    drug: DrugEntry | None = None,
    concentration: Concentration | None = None,
    include_patient_boluses: bool = True,
    first_fill: bool = False,
    pump: PumpModel | None = None,
) -> dict[str, Any]:
    """Low-reservoir alarm, empty and refill-by times for a fill."""
    notes: list[str] = []
    warnings: list[str] = []
    if prescription is not None:
        minimum = pump.minimum_rate.value if pump is not None else None
        if prescription.mode is Mode.MINIMUM_RATE and minimum is None:
            raise ValueError("--pump is required for a minimum-rate prescription")
        pattern = prescription_pattern(prescription, start, minimum, include_patient_boluses)
        if prescription.patient_bolus is not None:
            notes.append(
                "worst-case patient boluses counted (every allowed bolus, as early as possible)"
                if include_patient_boluses
                else "patient boluses NOT counted (--no-patient-boluses)"
            )
    else:
        pattern = constant_pattern(volume_rate)
    stability = None
    if drug is not None and concentration is not None:
        stability, found = stability_limit(drug, concentration, first_fill)
        warnings.extend(found)
    else:
        notes.append("no drug given: the refill date is not capped by drug stability")
    plan = refill_date(pattern, fill, alarm, start, stability, pump, include_patient_boluses)
    warnings.extend(plan.warnings)
    projection = plan.projection
    return {
        "start": start,
        "fill_ml": number(fill.ml),
        "alarm_threshold_ml": number(alarm.ml),
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
        "first_fill": first_fill,
        "includes_patient_boluses": include_patient_boluses,
        "drug": drug.id if drug else None,
        "warnings": warnings,
        "notes": notes,
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
    with user_errors():
        fill = parse_volume(reservoir, "--reservoir")
        alarm = parse_volume(alarm_threshold, "--alarm-threshold")
        rate = parse_volume_rate(volume_rate, "--volume-rate") if volume_rate else None
        strength = parse_concentration(concentration, "--concentration") if concentration else None
        drug = find_drug(library, drug_name) if drug_name else None
        if prescription is not None:
            rx_drug = library.find(prescription.drug)
            if drug is not None and drug is not rx_drug:
                fail(f"--drug {drug_name} differs from the prescription's {prescription.drug}")
            if strength is not None and strength != prescription.concentration:
                fail("--concentration differs from the prescription's; leave it out")
            drug, strength = rx_drug, prescription.concentration
            if drug is None:
                notes.append(f"{prescription.drug} is not in the library: no stability limit")
        elif (drug is None) != (strength is None):
            fail("give --drug and --concentration together (for the stability limit)")
        payload = refill_payload(
            fill,
            alarm,
            start,
            prescription,
            rate,
            drug,
            strength,
            not no_patient_boluses,
            first_fill,
            pump,
        )
    payload["notes"] = notes + payload["notes"]
    _out(payload, as_json, refill_rows(payload))


# ---------------------------------------------------------------------------
# catheter and tubing (priming and bridge)


@dataclass(frozen=True)
class _Path:
    implanted_length_cm: Fraction
    volume_per_cm: Volume
    maximum_length_cm: Fraction | None
    tubing_volume: Volume
    provenance: dict[str, str]


def _fluid_path(
    implanted: str | None,
    catheter_length: str | None,
    trimmed: str | None,
    catheter_model: str | None,
    per_cm: str | None,
    tubing: str | None,
    pump: PumpModel | None,
) -> _Path:
    provenance: dict[str, str] = {}
    model = find_catheter_model(catheter_model) if catheter_model else None
    full: Fraction | None = None
    if catheter_length is not None:
        full = parse_length_cm(catheter_length, "--catheter-length")
        provenance["catheter_length"] = "given"
    elif model is not None:
        full = model.length_cm.value
        provenance["catheter_length"] = f"{model.id}: {model.length_cm.provenance}"
    if implanted is not None and trimmed is not None:
        raise ValueError("give --implanted-length or --trimmed-length, not both")
    if implanted is not None:
        length = parse_length_cm(implanted, "--implanted-length")
        provenance["implanted_length"] = "given"
    elif trimmed is not None:
        if full is None:
            raise ValueError("--trimmed-length needs --catheter-length or --catheter MODEL")
        length = implanted_length(full, parse_length_cm(trimmed, "--trimmed-length"))
        provenance["implanted_length"] = "catheter length − trimmed length"
    else:
        raise ValueError(
            "give --implanted-length, or --trimmed-length with --catheter-length or --catheter"
        )
    if per_cm is not None:
        volume_per_cm = parse_volume_per_cm(per_cm, "--catheter-volume-per-cm")
        provenance["catheter_volume_per_cm"] = "given"
    elif model is not None:
        volume_per_cm = model.volume_per_cm.value
        provenance["catheter_volume_per_cm"] = f"{model.id}: {model.volume_per_cm.provenance}"
    else:
        raise ValueError(
            "--catheter-volume-per-cm (e.g. '0.0026 mL/cm') or --catheter MODEL is required"
        )
    if tubing is not None:
        tubing_volume = parse_volume(tubing, "--tubing-volume")
        provenance["tubing_volume"] = "given"
    elif pump is not None:
        tubing_volume = pump.tubing_volume.value
        provenance["tubing_volume"] = f"{pump.id}: {pump.tubing_volume.provenance}"
    else:
        raise ValueError("--tubing-volume (e.g. '0.14 mL') or --pump MODEL is required")
    return _Path(length, volume_per_cm, full, tubing_volume, provenance)


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


def priming_payload(path: _Path, rate: Any, rate_source: str | None) -> dict[str, Any]:
    """Priming volume and duration for one catheter and pump."""
    result = priming_bolus(
        path.implanted_length_cm,
        path.volume_per_cm,
        path.tubing_volume,
        rate,
        path.maximum_length_cm,
    )
    return {
        "implanted_length_cm": number(result.implanted_length_cm),
        "catheter_volume_per_cm_ml": number(result.volume_per_cm.ml),
        "catheter_volume_ml": number(result.catheter_volume.ml),
        "tubing_volume_ml": number(result.tubing_volume.ml),
        "priming_volume_ml": number(result.volume.ml),
        "priming_rate_ml_per_day": number(rate.ml_per_day) if rate is not None else None,
        "priming_rate_source": rate_source,
        "duration_minutes": number(result.duration.minutes) if result.duration else None,
        "duration_text": str(result.duration) if result.duration else None,
        "provenance": path.provenance,
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
    with user_errors():
        path = _fluid_path(implanted, catheter_length, trimmed, catheter, per_cm, tubing, pump)
        rate = parse_volume_rate(rate_text, "--rate") if rate_text else None
        source = "given" if rate is not None else None
        if rate is None and pump is not None:
            rate = pump.max_bolus_volume_rate.value
            source = f"{pump.id} bolus rate, {pump.max_bolus_volume_rate.provenance}"
        payload = priming_payload(path, rate, source)
    _out(payload, as_json, priming_rows(payload))


# ---------------------------------------------------------------------------
# bridge


def bridge_payload(
    old_dose: DoseRate,
    old_concentration: Concentration,
    dead: Volume,
    new_concentration: Concentration | None,
    drug: DrugEntry | None,
    new_drug: DrugEntry | None = None,
    pump: PumpModel | None = None,
    provenance: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Volume, rate and duration that keep the old daily dose until the new solution arrives."""
    result = bridge_bolus(old_dose, old_concentration, dead, new_concentration)
    show_old = drug.show if drug is not None else str
    show_new = new_drug.show if new_drug is not None else show_old
    warnings = []
    if pump is not None and result.volume_rate < pump.min_volume_rate.value:
        warnings.append(
            f"the bridge rate {result.volume_rate} is below the lowest rate "
            f"{pump.min_volume_rate.value} the pump can run"
        )
    if drug is not None and new_drug is not None and drug is not new_drug:
        warnings.append(
            f"drug change: {drug.id} keeps reaching the patient for {result.duration}; "
            f"{new_drug.id} starts only after the bridge"
        )
    entered = result.entered_dose_rate
    return {
        "drug": drug.id if drug is not None else None,
        "new_drug": new_drug.id if new_drug is not None else None,
        "old_daily_dose": show_old(old_dose),
        "old_concentration": show_old(old_concentration),
        "new_concentration": show_new(new_concentration) if new_concentration else None,
        "dead_volume_ml": number(result.dead_volume.ml),
        "bridge_volume_ml": number(result.dead_volume.ml),
        "bridge_volume_rate_ml_per_day": number(result.volume_rate.ml_per_day),
        "bridge_volume_rate_ml_per_hour": number(result.volume_rate.ml_per_hour),
        "bridge_duration_hours": number(result.duration.hours),
        "bridge_duration_text": str(result.duration),
        "old_drug_in_dead_volume": show_old(result.old_drug_in_dead_volume),
        "entered_dose_rate": show_new(entered) if entered is not None else None,
        "provenance": provenance or {},
        "warnings": warnings,
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
    with user_errors():
        drug, new_drug, dose, strength, new_strength = _bridge_inputs(
            library, current, new, old_dose, old_concentration, new_concentration, drug_name, pump
        )
        provenance: dict[str, str] = {}
        if dead_text is not None:
            dead = parse_volume(dead_text, "--dead-volume")
            provenance["dead_volume"] = "given"
        else:
            path = _fluid_path(implanted, catheter_length, trimmed, catheter, per_cm, tubing, pump)
            catheter_part = path.volume_per_cm.scaled(path.implanted_length_cm)
            dead = dead_volume(catheter_part, path.tubing_volume)
            provenance = path.provenance
        payload = bridge_payload(dose, strength, dead, new_strength, drug, new_drug, pump,
                                 provenance)  # fmt: skip
    _out(payload, as_json, bridge_rows(payload))


def _bridge_inputs(
    library: DrugLibrary,
    current: Prescription | None,
    new: Prescription | None,
    old_dose: str | None,
    old_concentration: str | None,
    new_concentration: str | None,
    drug_name: str | None,
    pump: PumpModel | None,
) -> tuple[DrugEntry | None, DrugEntry | None, DoseRate, Concentration, Concentration | None]:
    drug = library.get(drug_name) if drug_name else None
    if current is not None:
        if old_dose is not None or old_concentration is not None:
            raise ValueError("give --current or --old-dose/--old-concentration, not both")
        minimum = pump.minimum_rate.value if pump is not None else None
        if current.mode is Mode.MINIMUM_RATE and minimum is None:
            raise ValueError("--pump is required when the current prescription is minimum rate")
        dose = DoseRate(programmed_daily_dose(current, minimum).amount)
        strength = current.concentration
        drug = library.find(current.drug) or drug
    else:
        if old_dose is None or old_concentration is None:
            raise ValueError(
                "give --current FILE, or --old-dose (e.g. '400 mcg/day') and --old-concentration"
            )
        dose = parse_dose_rate(old_dose, "--old-dose")
        strength = parse_concentration(old_concentration, "--old-concentration")
    new_strength: Concentration | None = None
    new_drug = drug
    if new is not None:
        if new_concentration is not None:
            raise ValueError("give --new or --new-concentration, not both")
        new_strength = new.concentration
        new_drug = library.find(new.drug)
    elif new_concentration is not None:
        new_strength = parse_concentration(new_concentration, "--new-concentration")
    return drug, new_drug, dose, strength, new_strength


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
    drug: DrugEntry,
    start: DoseRate | None = None,
    target: DoseRate | None = None,
    step: DoseRate | None = None,
    interval: Duration | None = None,
    concentration: Concentration | None = None,
    begin: datetime | None = None,
) -> dict[str, Any]:
    """A titration plan from the library's sourced limits (or given values)."""
    plan = titration_plan(drug, start, target, step, interval, concentration)
    steps = []
    for planned in plan.steps:
        at = shift(begin, planned.after.to_timedelta_floor()) if begin is not None else None
        volume = planned.volume_rate
        steps.append(
            {
                "index": planned.index,
                "after_hours": number(planned.after.hours),
                "after_days": number(planned.after.days, 6),
                "at": at,
                "dose": drug.show(planned.dose_rate),
                "dose_mcg_per_day": number(planned.dose_rate.mcg_per_day),
                "increase": drug.show(planned.increase),
                "volume_rate_ml_per_day": number(volume.ml_per_day) if volume else None,
            }
        )
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
    _show(payload, [])


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
        payload = titrate_payload(
            drug,
            parse_dose_rate(start, "--start") if start else None,
            parse_dose_rate(target, "--target") if target else None,
            parse_dose_rate(step, "--step") if step else None,
            parse_duration(interval, "--interval") if interval else None,
            parse_concentration(concentration, "--concentration") if concentration else None,
            moment,
        )
    if as_json:
        emit_json(payload)
    else:
        render_titrate(payload)
