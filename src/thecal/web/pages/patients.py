"""Patients: the searchable list, the new-patient form and the patient page (header,
implant, prescription, timeline of visits and three charts). Staff pages; a patient reads
their own record at `/me`, and the service refuses them anyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from thecal.clinic.access import Permission, Role, authorize
from thecal.clinic.diagnoses import Diagnosis, label_of
from thecal.clinic.errors import Conflict, Invalid
from thecal.clinic.service import appointments, interrogations, patients, reservoir_curve
from thecal.clinic.service.patient_page import PatientPage, patient_page
from thecal.clinic.service.reservoir_curve import ReservoirCurveView
from thecal.clinic.storage.models import Sex
from thecal.therapy.display import DoseUnit, dose_amount
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.units import format_quantity, parse_dose_rate
from thecal.web.charts import Chart, ChartPoint, time_chart
from thecal.web.forms import WHOLE_FORM, field_messages, labelled, service_message
from thecal.web.pumps import ProgrammerStation, PumpInReach
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["TimelineEntry", "prescription_words", "router", "timeline"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)

PATIENT_FIELDS = (
    "mrn", "given_name", "family_name", "birth_date", "sex", "weight_kg", "diagnosis", "note",
)  # fmt: skip
PATIENT_LABELS = {
    "mrn": "MRN", "given_name": "Given name", "family_name": "Family name",
    "birth_date": "Birth date", "sex": "Sex", "weight_kg": "Weight (kg)",
    "diagnosis": "Diagnosis", "note": "Note", "withdrawal_risk_factors": "Risk factors",
}  # fmt: skip
RISK_FACTORS = [
    (patients.WithdrawalRiskFactor.SPINAL_CORD_INJURY_T6_OR_ABOVE.value,
     "Spinal cord injury at T6 or above"),
    (patients.WithdrawalRiskFactor.COMMUNICATION_DIFFICULTIES.value, "Communication difficulties"),
    (patients.WithdrawalRiskFactor.PRIOR_WITHDRAWAL.value, "Prior withdrawal"),
]  # fmt: skip
assert {value for value, _ in RISK_FACTORS} == set(patients.WithdrawalRiskFactor)


@router.get("/patients")
def patient_list(request: Request, clinic: ClinicDep, actor: PageActor, q: str = "") -> Response:
    query = q[:100]
    with clinic.read(actor) as call:
        found = patients.list_patients(call, query, limit=100)
    return render(request, "patients.html", actor, found=found, q=query)


def _new_form(
    request: Request, actor: Any, values: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    return render(
        request,
        "patient_new.html",
        actor,
        status_code=status,
        values=values,
        errors=errors,
        diagnoses=[(d.value, label_of(d)) for d in Diagnosis],
        sexes=[s.value for s in Sex],
        risk_factors=RISK_FACTORS,
    )


@router.get("/patients/new")
def new_patient_page(request: Request, actor: PageActor) -> Response:
    authorize(actor, Permission.PATIENT_WRITE)
    return _new_form(request, actor, {"withdrawal_risk_factors": []}, {}, 200)


@router.post("/patients/new")
async def create_patient(request: Request, clinic: ClinicDep, actor: PageActor) -> Response:
    authorize(actor, Permission.PATIENT_WRITE)  # before reading the form: refuse, not correct
    posted = await request.form()
    values: dict[str, Any] = {name: str(posted.get(name, "")) for name in PATIENT_FIELDS}
    values["withdrawal_risk_factors"] = [str(v) for v in posted.getlist("withdrawal_risk_factors")]
    data = {k: v for k, v in values.items() if v != "" or k == "note"}
    try:
        form = patients.PatientForm.model_validate(data)
    except ValidationError as error:
        problems = field_messages(error, label=labelled(PATIENT_LABELS))
        return _new_form(request, actor, values, problems, 422)
    try:
        with clinic.write(actor) as call:
            created = patients.create_patient(call, form)
    except (Invalid, Conflict) as error:
        problems = {error.field or WHOLE_FORM: service_message(error)}
        return _new_form(request, actor, values, problems, 422)
    return RedirectResponse(f"/patients/{created.id}", status_code=303)


def prescription_words(rx: Prescription, library: DrugLibrary) -> list[str]:
    """A prescription as short sentences, doses in the drug's display unit."""
    entry = library.find(rx.drug)
    show = entry.show if entry is not None else format_quantity
    lines = [f"{rx.drug.capitalize()} at {show(rx.concentration)}."]
    if rx.mode is Mode.STOPPED:
        lines.append("The pump is stopped: it delivers nothing.")
    elif rx.mode is Mode.MINIMUM_RATE:
        lines.append("The pump runs at its minimum rate only (keeps the catheter open).")
    elif rx.rate is not None:
        lines.append(f"A steady {show(rx.rate)}, all day.")
    for index, step in enumerate(rx.steps):
        following = rx.steps[(index + 1) % len(rx.steps)].start
        lines.append(f"From {step.start} to {following}: {show(step.dose_rate)}.")
    if rx.bolus is not None:
        lines.append(
            f"One bolus of {show(rx.bolus.dose)} over {format_quantity(rx.bolus.duration)}."
        )
    if rx.periodic is not None:
        bolus = rx.periodic.bolus
        lines.append(
            f"A bolus of {show(bolus.dose)} over {format_quantity(bolus.duration)} every "
            f"{format_quantity(rx.periodic.interval)}, the first at "
            f"{rx.periodic.first_start}."
        )
    pb = rx.patient_bolus
    if pb is not None:
        lines.append(
            f"Patient bolus: {show(pb.dose)} over {format_quantity(pb.duration)}, at most "
            f"{pb.max_per_24h} in 24 hours, at least {format_quantity(pb.lockout)} apart."
        )
    else:
        lines.append("No patient-requested boluses.")
    return lines


@dataclass(frozen=True)
class TimelineEntry:
    """One visit or record on the patient's timeline."""

    at: datetime
    kind: str
    summary: str
    detail: str = ""


def timeline(
    page: PatientPage,
    readings: list[interrogations.InterrogationView],
    visits: list[appointments.AppointmentView],
) -> list[TimelineEntry]:
    """Refills, interrogations, prescriptions, pain scores, screenings, trials and
    appointments (past and booked), newest first."""
    entries: list[TimelineEntry] = []
    for refill in page.refills:
        detail = refill.discrepancy_message if refill.discrepancy.value != "none" else ""
        entries.append(
            TimelineEntry(
                refill.performed_at,
                "Refill",
                f"{refill.drug} {refill.concentration}, {refill.volume_added} added"
                + (f", {refill.aspirated_volume} aspirated" if refill.aspirated_volume else ""),
                detail,
            )
        )
    for reading in readings:
        entries.append(
            TimelineEntry(
                reading.interrogated_at,
                "Interrogation",
                f"reservoir {reading.reservoir_estimate}, {reading.alarms} alarm(s)"
                + (f", battery {reading.battery_state.value}" if reading.battery_state else ""),
                "; ".join(reading.warnings),
            )
        )
    for rx in page.prescription_history:
        entries.append(
            TimelineEntry(
                rx.active_from,
                "Prescription",
                f"{rx.drug} {rx.concentration}, {rx.mode.value.replace('_', ' ')}, "
                f"{rx.daily_dose} ({rx.status.value})",
                rx.note,
            )
        )
    for pain in page.pain_assessments:
        parts = []
        if pain.score is not None:
            parts.append(f"pain {pain.score}/10")
        if pain.ashworth is not None:
            parts.append(f"Ashworth {pain.ashworth}")
        entries.append(
            TimelineEntry(pain.assessed_at, "Pain assessment", ", ".join(parts), pain.note)
        )
    for screening in page.screenings:
        verdict = (
            "eligible" if screening.eligible else "not eligible: " + ", ".join(screening.unmet)
        )
        entries.append(TimelineEntry(screening.decided_at, "Screening", verdict, screening.note))
    for trial in page.trials:
        entries.append(
            TimelineEntry(
                trial.performed_at,
                "Trial",
                f"{trial.drug} {trial.dose} ({trial.method.value.replace('_', ' ')}): "
                f"{'success' if trial.success else 'not a success'}, {trial.improvement}",
                trial.note,
            )
        )
    for visit in visits:
        entries.append(
            TimelineEntry(
                visit.starts_at,
                "Appointment",
                f"{visit.kind.value.replace('_', ' ')} ({visit.status.value})",
                visit.note,
            )
        )
    return sorted(entries, key=lambda e: e.at, reverse=True)


def pain_chart(page: PatientPage, tz: tzinfo) -> Chart:
    points = [
        ChartPoint(p.assessed_at, float(p.score))
        for p in page.pain_assessments
        if p.score is not None
    ]
    return time_chart(
        "pain-chart",
        "Pain scores over time",
        f"{len(points)} pain scores on a 0 to 10 scale, oldest to newest.",
        points,
        y_label="Pain score",
        unit="/10",
        y_max=10,
        tz=tz,
    )


def dose_chart(page: PatientPage, unit: DoseUnit | None, now: datetime, tz: tzinfo) -> Chart:
    shown = unit or DoseUnit.MCG
    history = sorted(page.prescription_history, key=lambda rx: rx.active_from)
    if history:  # one drug per axis: doses of different drugs do not compare
        history = [rx for rx in history if rx.drug == history[-1].drug]
    points = [
        ChartPoint(
            rx.active_from,
            float(dose_amount(parse_dose_rate(rx.daily_dose.removeprefix("≈ ")), shown)),
        )
        for rx in history
        if rx.daily_dose
    ]
    if points and points[-1].at < now:
        points.append(ChartPoint(now, points[-1].value))  # the last dose holds until now
    drug = history[-1].drug if history else ""
    return time_chart(
        "dose-chart",
        "Daily dose over time",
        f"Programmed daily dose of {drug or 'the drug'} in {shown.value}/day, each dose "
        "holding until the next prescription.",
        points,
        y_label="Daily dose",
        unit=f"{shown.value}/day",
        step=True,
        tz=tz,
    )


def reservoir_chart(curve: ReservoirCurveView | None, tz: tzinfo) -> Chart:
    points = [ChartPoint(p.at, float(p.volume_ml)) for p in curve.points] if curve else []
    threshold = float(curve.alarm_threshold_ml) if curve else None
    description = "No refill and prescription on record yet."
    if curve is not None:
        description = (
            f"Expected reservoir content from {curve.basis} to the refill-by date, counting "
            f"the most patient boluses the settings allow; the dashed line is the "
            f"low-reservoir alarm at {curve.alarm_threshold_ml} mL."
        )
    return time_chart(
        "reservoir-chart",
        "Reservoir projection",
        description,
        points,
        y_label="Reservoir",
        unit="mL",
        threshold=threshold,
        threshold_label=f"low-reservoir alarm {curve.alarm_threshold_ml} mL" if curve else "",
        tz=tz,
    )


@router.get("/patients/{patient_id}")
def patient_detail(
    request: Request, clinic: ClinicDep, actor: PageActor, patient_id: int
) -> Response:
    if actor.role is Role.PATIENT and actor.patient_id == patient_id:
        return RedirectResponse("/me", status_code=303)  # their own view, in their words
    with clinic.read(actor) as call:
        page = patient_page(call, patient_id)
        readings: list[interrogations.InterrogationView] = []
        curve = None
        unit = None
        if page.implant is not None:
            readings = interrogations.list_interrogations(call, page.implant.id)
            curve = reservoir_curve.reservoir_curve(call, page.implant.id)
        if page.prescription_history:
            drug = call.library.find(page.prescription_history[0].drug)
            unit = drug.display_unit if drug is not None else None
        visits = appointments.list_appointments(call, patient_id)
        rx = page.prescription
        words = prescription_words(rx.prescription, call.library) if rx else []
        now = call.now
        tz = call.tz
    return render(
        request,
        "patient.html",
        actor,
        page=page,
        age=_age(page.patient.birth_date, now),
        entries=timeline(page, readings, visits),
        rx_words=words,
        charts=[pain_chart(page, tz), dose_chart(page, unit, now, tz), reservoir_chart(curve, tz)],
        pump_in_reach=_pump_in_reach(request, page.implant.serial if page.implant else None),
    )


def _pump_in_reach(request: Request, serial: str | None) -> PumpInReach | None:
    """The implant's pump, when this server's programmer station reaches it."""
    station: ProgrammerStation | None = request.app.state.station
    if station is None or serial is None:
        return None
    return station.pump(serial)


def _age(birth: Any, now: datetime) -> int:
    years: int = now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))
    return years
