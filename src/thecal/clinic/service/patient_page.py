"""Everything the patient page shows, in one read: the patient, the pump and its schedule,
the current prescription and its history, refills, pain scores, candidacy, appointments,
alarms and the last interrogation. A patient may read their own page."""

from __future__ import annotations

from pydantic import Field

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
from thecal.clinic.service.common import View, load
from thecal.clinic.service.core import Call
from thecal.clinic.service.patients import PatientView, patient_view
from thecal.clinic.storage.models import ImplantStatus, Patient

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
    recent_limit: int = Field(description="How many refills and pain scores are included")


def patient_page(call: Call, patient_id: int, recent: int = 20) -> PatientPage:
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    patient = load(call, Patient, patient_id, "patient")
    every_implant = implants.list_implants(call, patient_id)
    current = next((i for i in every_implant if i.status is ImplantStatus.ACTIVE), None)
    past = [i for i in every_implant if i is not current]
    rx = rx_history = expected = None
    refill_list: list[refills.RefillView] = []
    alarms: list[interrogations.AlarmView] = []
    reading = None
    if current is not None:
        rx = prescriptions.current_prescription(call, current.id)
        rx_history = prescriptions.list_prescriptions(call, current.id)[:recent]
        expected = refills.refill_expectation(call, current.id)
        refill_list = refills.list_refills(call, current.id)[:recent]
        alarms = interrogations.list_alarms(call, current.id, active_only=True)
        readings = interrogations.list_interrogations(call, current.id)
        reading = readings[0] if readings else None
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
        implant=current,
        past_implants=past,
        prescription=rx,
        prescription_history=rx_history or [],
        expected_now=expected,
        refills=refill_list,
        pain_assessments=assessments.list_pain_assessments(call, patient_id, recent),
        screenings=candidacy.list_screenings(call, patient_id),
        trials=candidacy.list_trials(call, patient_id),
        appointments=appointments.list_appointments(call, patient_id, upcoming_only=True),
        active_alarms=alarms,
        last_interrogation=reading,
        recent_limit=recent,
    )
