"""Everything the patient page shows, in one read: the patient, the pump and its schedule,
the current prescription and its history, refills, pain scores, candidacy, appointments,
alarms and the last interrogation. A patient may read their own page.

This is a hot read (the benchmark's "patient page"): one query per kind of record, each
on an index, and the refill expectation is computed from rows already fetched.
"""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.diagnoses import therapies_for
from thecal.clinic.service import (
    appointments,
    assessments,
    candidacy,
    implants,
    interrogations,
    prescriptions,
    refills,
)
from thecal.clinic.service.common import View, load, stored_prescription
from thecal.clinic.service.core import Call
from thecal.clinic.service.patients import PatientView, patient_view
from thecal.clinic.storage.models import (
    Alarm,
    Appointment,
    AppointmentStatus,
    Implant,
    ImplantStatus,
    Interrogation,
    PainAssessment,
    Patient,
    PrescriptionRecord,
    Refill,
    Screening,
    Trial,
)

__all__ = ["PatientPage", "TherapyOptionView", "patient_page"]


class TherapyOptionView(View):
    drug_id: str
    name: str
    approved_for_pump: bool
    high_risk_withdrawal: bool


class PatientPage(View):
    patient: PatientView
    therapy_options: list[TherapyOptionView]
    implant: implants.ImplantView | None
    past_implants: list[implants.ImplantView]
    prescription: prescriptions.PrescriptionView | None
    prescription_history: list[prescriptions.PrescriptionView]
    expected_now: refills.ExpectationView | None
    refills: list[refills.RefillView]
    pain_assessments: list[assessments.PainAssessmentView]
    screenings: list[candidacy.ScreeningView]
    trials: list[candidacy.TrialView]
    appointments: list[appointments.AppointmentView]
    active_alarms: list[interrogations.AlarmView]
    last_interrogation: interrogations.InterrogationView | None
    recent_limit: int = Field(description="How many refills, pain scores, prescriptions shown")


def _newest_first(rows: list[PrescriptionRecord]) -> list[PrescriptionRecord]:
    return sorted(rows, key=lambda r: (r.active_from, r.id), reverse=True)


def patient_page(call: Call, patient_id: int, recent: int = 20) -> PatientPage:
    """The patient page (newest `recent` refills, pain scores and prescriptions)."""
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    patient = load(call, Patient, patient_id, "patient")
    session = call.session
    every_implant = list(
        session.scalars(
            select(Implant)
            .where(Implant.patient_id == patient_id)
            .order_by(Implant.implanted_at.desc(), Implant.id.desc())
        )
    )
    current = next((i for i in every_implant if i.status is ImplantStatus.ACTIVE), None)
    rx_view = None
    history_views: list[prescriptions.PrescriptionView] = []
    expected = None
    refill_views: list[refills.RefillView] = []
    alarm_views: list[interrogations.AlarmView] = []
    reading_view = None
    if current is not None:
        records = list(
            session.scalars(
                select(PrescriptionRecord)
                .where(PrescriptionRecord.implant_id == current.id)
                .order_by(PrescriptionRecord.active_from, PrescriptionRecord.id)
            )
        )
        newest = _newest_first(records)
        history_views = [prescriptions.prescription_view(r) for r in newest[:recent]]
        active = [r for r in newest if r.status.value == "active"]
        rx_view = prescriptions.prescription_view(active[0]) if active else None
        refill_rows = list(
            session.scalars(
                select(Refill)
                .where(Refill.implant_id == current.id)
                .order_by(Refill.performed_at.desc(), Refill.id.desc())
                .limit(recent)
            )
        )
        refill_views = [refills.stored_refill_view(row) for row in refill_rows]
        reading = session.scalars(
            select(Interrogation)
            .where(Interrogation.implant_id == current.id)
            .order_by(Interrogation.interrogated_at.desc(), Interrogation.id.desc())
            .limit(1)
        ).first()
        reading_view = interrogations.interrogation_view(reading) if reading else None
        history = [(record, stored_prescription(record)) for record in records]
        expected = refills.expectation_view_from(
            call, current, refill_rows[0] if refill_rows else None, reading, history
        )
        alarm_views = [
            interrogations.alarm_view(alarm, patient_id)
            for alarm in session.scalars(
                select(Alarm)
                .where(Alarm.implant_id == current.id, Alarm.active.is_(True))
                .order_by(Alarm.raised_at.desc(), Alarm.id.desc())
            )
        ]
    pain = session.scalars(
        select(PainAssessment)
        .where(PainAssessment.patient_id == patient_id)
        .order_by(PainAssessment.assessed_at.desc(), PainAssessment.id.desc())
        .limit(recent)
    )
    screenings = session.scalars(
        select(Screening)
        .where(Screening.patient_id == patient_id)
        .order_by(Screening.decided_at.desc(), Screening.id.desc())
    )
    trials = session.scalars(
        select(Trial)
        .where(Trial.patient_id == patient_id)
        .order_by(Trial.performed_at.desc(), Trial.id.desc())
    )
    upcoming = session.scalars(
        select(Appointment)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at >= call.now,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    options = [
        TherapyOptionView(
            drug_id=o.drug_id,
            name=o.name,
            approved_for_pump=o.approved_for_pump,
            high_risk_withdrawal=o.high_risk_withdrawal,
        )
        for o in therapies_for(patient.diagnosis, call.library)
    ]
    return PatientPage(
        patient=patient_view(patient),
        therapy_options=options,
        implant=implants.implant_view(call, current) if current else None,
        past_implants=[implants.implant_view(call, i) for i in every_implant if i is not current],
        prescription=rx_view,
        prescription_history=history_views,
        expected_now=expected,
        refills=refill_views,
        pain_assessments=[assessments.assessment_view(row) for row in pain],
        screenings=[candidacy.screening_view(row) for row in screenings],
        trials=[candidacy.trial_view(row) for row in trials],
        appointments=[appointments.appointment_view(row) for row in upcoming],
        active_alarms=alarm_views,
        last_interrogation=reading_view,
        recent_limit=recent,
    )
