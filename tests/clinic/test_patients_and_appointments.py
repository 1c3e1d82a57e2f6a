"""Patients, pain assessments, candidacy records and appointments through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.clinic.support import SYSTEM, T0, add_patient, filled_baclofen_pump, later
from thecal.clinic.errors import Conflict, Invalid
from thecal.clinic.service import (
    Clinic,
    FixedClock,
    appointments,
    assessments,
    candidacy,
    patient_page,
    patients,
)


def test_two_people_editing_one_patient_cannot_overwrite_each_other(clinic: Clinic) -> None:
    patient = add_patient(clinic)
    first = patients.PatientUpdate(version=patient.version, weight_kg="71")
    second = patients.PatientUpdate(version=patient.version, weight_kg="69")
    saved = clinic.perform(SYSTEM, lambda c: patients.update_patient(c, patient.id, first))
    with pytest.raises(Conflict) as caught:
        clinic.perform(SYSTEM, lambda c: patients.update_patient(c, patient.id, second))
    assert (caught.value.code, caught.value.accepted) == ("stale_version", str(saved.version))
    assert clinic.perform(SYSTEM, lambda c: patients.get_patient(c, patient.id)).weight_kg == "71"


def test_a_medical_record_number_is_unique(clinic: Clinic) -> None:
    add_patient(clinic, "MRN-7")
    with pytest.raises(Conflict):
        add_patient(clinic, "MRN-7")


def test_a_birth_date_in_the_future_is_refused(clinic: Clinic) -> None:
    form = patients.PatientForm(
        mrn="F-1", given_name="A", family_name="B", birth_date=T0.date() + timedelta(days=1),
        sex="male", diagnosis="cancer_pain",
    )  # fmt: skip
    with pytest.raises(Invalid) as caught:
        clinic.perform(SYSTEM, lambda c: patients.create_patient(c, form))
    assert caught.value.field == "birth_date"


def test_patients_are_found_by_the_start_of_a_name_or_mrn(clinic: Clinic) -> None:
    add_patient(clinic, "AB-1")
    add_patient(clinic, "CD-2")
    found = clinic.perform(SYSTEM, lambda c: patients.list_patients(c, "cd"))
    assert [p.mrn for p in found.items] == ["CD-2"]
    assert clinic.perform(SYSTEM, lambda c: patients.list_patients(c, "lee")).total == 2


def test_a_pain_assessment_needs_a_score_or_an_ashworth_grade(clinic: Clinic) -> None:
    patient = add_patient(clinic)
    form = assessments.PainAssessmentForm(note="nothing measured")
    with pytest.raises(Invalid):
        clinic.perform(SYSTEM, lambda c: assessments.record_pain_assessment(c, patient.id, form))


def test_a_pain_diary_entry_cannot_be_dated_in_the_future(clinic: Clinic) -> None:
    patient = add_patient(clinic)
    form = assessments.PainAssessmentForm(score=4, assessed_at=T0 + timedelta(hours=1))
    with pytest.raises(Invalid) as caught:
        clinic.perform(SYSTEM, lambda c: assessments.record_pain_assessment(c, patient.id, form))
    assert caught.value.field == "assessed_at"


def test_screening_eligibility_is_computed_not_typed(clinic: Clinic) -> None:
    patient = add_patient(clinic, diagnosis="failed_back_surgery_syndrome")
    form = candidacy.ScreeningForm(
        conservative_therapies_tried=True, no_other_surgical_option=True,
        no_untreated_addiction=True, no_infection=True, body_size_adequate=True,
        implant_depth_adequate=True, psychological_evaluation="not_done",
    )  # fmt: skip
    result = clinic.perform(SYSTEM, lambda c: candidacy.record_screening(c, patient.id, form))
    assert not result.eligible
    assert result.unmet == ["psychological evaluation required for non-cancer pain"]


def test_a_trial_records_success_by_the_family_criterion(clinic: Clinic) -> None:
    patient = add_patient(clinic)  # spasticity
    form = candidacy.TrialForm(method="single_shot", drug="lioresal", dose="50 mcg",
                               baseline_ashworth="4", post_ashworth="2")  # fmt: skip
    trial = clinic.perform(SYSTEM, lambda c: candidacy.record_trial(c, patient.id, form))
    assert (trial.drug, trial.success, trial.criterion) == (
        "baclofen",
        True,
        "ashworth_drop_2_points",
    )


def test_a_trial_dose_in_the_wrong_unit_is_refused(clinic: Clinic) -> None:
    patient = add_patient(clinic)
    form = candidacy.TrialForm(method="single_shot", drug="baclofen", dose="50 mcg/day",
                               baseline_ashworth="4", post_ashworth="2")  # fmt: skip
    with pytest.raises(Invalid) as caught:
        clinic.perform(SYSTEM, lambda c: candidacy.record_trial(c, patient.id, form))
    assert caught.value.field == "dose"


def test_a_refill_visit_after_the_due_date_needs_a_reason(clinic: Clinic) -> None:
    patient_id, _ = filled_baclofen_pump(clinic)
    late = appointments.AppointmentForm(kind="refill", starts_at=T0 + timedelta(days=30))
    with pytest.raises(Invalid) as caught:
        clinic.perform(SYSTEM, lambda c: appointments.book_appointment(c, patient_id, late))
    assert caught.value.code == "refill_booked_after_due"
    excused = late.model_copy(update={"late_reason": "patient abroad; bridge arranged"})
    booked = clinic.perform(SYSTEM, lambda c: appointments.book_appointment(c, patient_id, excused))
    assert booked.late_reason == "patient abroad; bridge arranged"


def test_rescheduling_with_a_stale_version_is_a_conflict(clinic: Clinic) -> None:
    patient_id, _ = filled_baclofen_pump(clinic)
    form = appointments.AppointmentForm(kind="follow_up", starts_at=T0 + timedelta(days=3))
    booked = clinic.perform(SYSTEM, lambda c: appointments.book_appointment(c, patient_id, form))
    move = appointments.AppointmentUpdate(version=booked.version, starts_at=T0 + timedelta(days=4))
    clinic.perform(SYSTEM, lambda c: appointments.update_appointment(c, booked.id, move))
    with pytest.raises(Conflict):
        clinic.perform(SYSTEM, lambda c: appointments.update_appointment(c, booked.id, move))


def test_the_patient_page_gathers_the_whole_record(clinic: Clinic, clock: FixedClock) -> None:
    patient_id, implant_id = filled_baclofen_pump(clinic)
    later(clock, 2)
    page = clinic.perform(SYSTEM, lambda c: patient_page.patient_page(c, patient_id))
    assert page.implant is not None and page.implant.id == implant_id
    assert page.prescription is not None and page.prescription.drug == "baclofen"
    assert page.expected_now is not None and page.expected_now.expected == "18.4 mL"
    assert [o.drug_id for o in page.therapy_options] == ["baclofen"]
    assert len(page.refills) == 1


def test_a_pain_assessment_stores_its_segments_and_suggested_tip_level(clinic: Clinic) -> None:
    patient = add_patient(clinic, diagnosis="cancer_pain")
    form = assessments.PainAssessmentForm(score=7, regions=["front.upper_arm.right"])
    saved = clinic.perform(
        SYSTEM, lambda c: assessments.record_pain_assessment(c, patient.id, form)
    )
    assert saved.mapping is not None
    assert saved.mapping.segments[0] == "C5"
    assert saved.mapping.suggested_tip_level.startswith("C")
    assert "not a clinical guideline" in saved.mapping.disclaimer
    again = clinic.perform(SYSTEM, lambda c: assessments.list_pain_assessments(c, patient.id))
    assert again[0].mapping == saved.mapping


def test_an_unknown_body_region_is_refused_with_the_accepted_ids(clinic: Clinic) -> None:
    patient = add_patient(clinic)
    form = assessments.PainAssessmentForm(score=5, regions=["front.tail"])
    with pytest.raises(Invalid) as caught:
        clinic.perform(SYSTEM, lambda c: assessments.record_pain_assessment(c, patient.id, form))
    assert caught.value.field == "regions"
    assert caught.value.accepted is not None and "front.upper_arm.right" in caught.value.accepted


@pytest.mark.parametrize(("entered", "stored"), [("t10", "T10"), (" L1 ", "L1"), ("C1", "C1")])
def test_a_catheter_tip_level_is_stored_in_canonical_form(
    clinic: Clinic, entered: str, stored: str
) -> None:
    from thecal.clinic.service import implants

    patient = add_patient(clinic)
    form = implants.ImplantForm(
        pump_model="peristaltic-20", serial="S-1", catheter_model="generic-two-piece",
        catheter_trimmed_length_cm="70", catheter_tip_level=entered,
    )  # fmt: skip
    saved = clinic.perform(SYSTEM, lambda c: implants.implant_pump(c, patient.id, form))
    assert saved.catheter_tip_level == stored


def test_a_tip_level_that_is_not_a_vertebra_is_refused(clinic: Clinic) -> None:
    from thecal.clinic.service import implants

    patient = add_patient(clinic)
    form = implants.ImplantForm(
        pump_model="peristaltic-20", serial="S-1", catheter_model="generic-two-piece",
        catheter_trimmed_length_cm="70", catheter_tip_level="T13",
    )  # fmt: skip
    with pytest.raises(Invalid) as caught:
        clinic.perform(SYSTEM, lambda c: implants.implant_pump(c, patient.id, form))
    assert caught.value.field == "catheter_tip_level"
    assert caught.value.accepted is not None and "T1-T12" in caught.value.accepted
