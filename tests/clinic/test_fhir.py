"""FHIR R4 export: a collection Bundle that validates with the fhir.resources R4B models and
carries the record: patient, pump and catheter, prescriptions with dosage and timing,
refills and boluses, pain scores and reservoir volumes, appointments."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from tests.clinic.support import (
    SYSTEM,
    add_implant,
    add_patient,
    later,
    prescribe,
    refill,
)
from thecal.clinic import fhir
from thecal.clinic.interrogation import InterrogationDocument
from thecal.clinic.service import (
    Clinic,
    FixedClock,
    appointments,
    assessments,
    interrogations,
    prescriptions,
)

FLEX_WITH_BOLUS = {
    "drug": "morphine",
    "concentration": "10 mg/mL",
    "mode": "flex",
    "steps": [{"start": "00:00", "rate": "3 mg/day"}, {"start": "08:00", "rate": "4 mg/day"}],
    "patient_bolus": {"dose": "0.2 mg", "duration": "10 min", "lockout": "3 h", "max_per_24h": 4},
}


def a_full_record(clinic: Clinic, clock: FixedClock) -> int:
    patient = add_patient(clinic, diagnosis="cancer_pain")
    implant = add_implant(clinic, patient.id)
    prescribe(clinic, implant.id, FLEX_WITH_BOLUS)
    refill(clinic, implant.id, drug="morphine", concentration="10 mg/mL")
    pain = assessments.PainAssessmentForm(score=6, note="worse at night")
    clinic.perform(SYSTEM, lambda c: assessments.record_pain_assessment(c, patient.id, pain))
    later(clock, 10)
    reading = InterrogationDocument.model_validate(
        {
            "format": "thecal-interrogation/1",
            "interrogated_at": clock.now().isoformat(),
            "pump": {"model": "peristaltic-20", "serial": "PS-1"},
            "status": {"mode": "flex", "delivering": True, "reservoir_estimate": "14 mL"},
            "event_log": [
                {
                    "seq": 7,
                    "at": (clock.now() - timedelta(hours=5)).isoformat(),
                    "kind": "patient_bolus",
                    "detail": {"dose": "0.2 mg"},
                },
                {
                    "seq": 8,
                    "at": (clock.now() - timedelta(hours=4)).isoformat(),
                    "kind": "alarm_test",
                },
            ],
        }
    )
    clinic.perform(SYSTEM, lambda c: interrogations.import_interrogation(c, implant.id, reading))
    visit = appointments.AppointmentForm(kind="refill", starts_at=clock.now() + timedelta(days=7))
    clinic.perform(SYSTEM, lambda c: appointments.book_appointment(c, patient.id, visit))
    return patient.id


def export(clinic: Clinic, patient_id: int) -> dict[str, Any]:
    with clinic.read(SYSTEM) as call:
        return fhir.export_patient(call, patient_id)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_export_is_a_valid_r4_bundle(clinic: Clinic, clock: FixedClock) -> None:
    bundle = export(clinic, a_full_record(clinic, clock))
    parsed = Bundle.model_validate_json(json.dumps(bundle))  # the R4B models, not R5
    assert parsed.type == "collection"
    counts = Counter(entry.resource.get_resource_type() for entry in parsed.entry)
    assert counts == {
        "Patient": 1,
        "Device": 2,  # pump and catheter
        "MedicationRequest": 1,
        "MedicationAdministration": 2,  # the fill and one patient bolus
        "Observation": 2,  # the pain score and the pump's reservoir estimate
        "Appointment": 1,
    }


def test_every_reference_points_into_the_bundle(clinic: Clinic, clock: FixedClock) -> None:
    bundle = export(clinic, a_full_record(clinic, clock))
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    text = json.dumps(bundle)
    references = {part.split('"')[0] for part in text.split('"reference": "')[1:]}
    assert references and references <= urls


def test_flex_steps_and_the_patient_bolus_become_timed_dosages(
    clinic: Clinic, clock: FixedClock
) -> None:
    bundle = export(clinic, a_full_record(clinic, clock))
    dosages = resources(bundle, "MedicationRequest")[0]["dosageInstruction"]
    steps = [d for d in dosages if "timeOfDay" in d.get("timing", {}).get("repeat", {})]
    assert [d["timing"]["repeat"]["timeOfDay"] for d in steps] == [["00:00:00"], ["08:00:00"]]
    assert [d["doseAndRate"][0]["rateQuantity"]["value"] for d in steps] == [3000, 4000]
    prn = next(d for d in dosages if d.get("asNeededBoolean"))
    assert prn["maxDosePerPeriod"]["numerator"] == {
        "value": 800,
        "unit": "mcg",
        "system": "http://unitsofmeasure.org",
        "code": "ug",
    }
    assert all(d["route"]["coding"][0]["code"] == "72607000" for d in dosages)


def test_pain_scores_use_the_loinc_code(clinic: Clinic, clock: FixedClock) -> None:
    bundle = export(clinic, a_full_record(clinic, clock))
    scores = [o for o in resources(bundle, "Observation") if "valueInteger" in o]
    assert scores[0]["code"]["coding"][0]["code"] == fhir.LOINC_PAIN_SCORE
    assert scores[0]["valueInteger"] == 6


def test_the_reservoir_estimate_is_an_observation_in_millilitres(
    clinic: Clinic, clock: FixedClock
) -> None:
    bundle = export(clinic, a_full_record(clinic, clock))
    volumes = [o for o in resources(bundle, "Observation") if "valueQuantity" in o]
    assert volumes[0]["valueQuantity"]["value"] == 14
    assert volumes[0]["valueQuantity"]["code"] == "mL"


def test_exporting_twice_gives_the_same_bundle(clinic: Clinic, clock: FixedClock) -> None:
    patient_id = a_full_record(clinic, clock)
    assert export(clinic, patient_id) == export(clinic, patient_id)


def test_superseded_prescriptions_are_exported_as_completed(
    clinic: Clinic, clock: FixedClock
) -> None:
    patient_id = a_full_record(clinic, clock)
    later(clock, 2)
    implant_id = 1
    form = prescriptions.PrescribeForm.model_validate(
        {"prescription": {**FLEX_WITH_BOLUS, "patient_bolus": None}}
    )
    clinic.perform(SYSTEM, lambda c: prescriptions.prescribe(c, implant_id, form.order()))
    statuses = sorted(
        r["status"] for r in resources(export(clinic, patient_id), "MedicationRequest")
    )
    assert statuses == ["active", "completed"]
