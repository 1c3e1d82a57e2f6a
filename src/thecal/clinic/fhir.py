"""FHIR R4 export of one patient's record as a collection Bundle.

Built and validated with the `fhir.resources` **R4B** models (R4 is what most servers
accept; the package's default import is R5): every resource is validated as it is made,
and the Bundle as a whole.

- Patient; Device for each pump and each catheter (model, serial, catheter lengths and
  tip level);
- MedicationRequest for every prescription, with one Dosage per delivery element
  (continuous rate, each flex step at its time of day, periodic and single boluses, the
  patient bolus as an as-needed dose with its 24-hour cap), route intrathecal;
- MedicationAdministration for every refill (volume filled, lot) and every bolus in
  imported pump event logs;
- Observation for pain scores (LOINC 72514-3), Ashworth grades, and reservoir volumes
  (aspirated at refills, estimated by the pump at interrogations);
- Appointment for every appointment.

Quantities are exact decimals where the value has one; a value with no finite decimal
is truncated at nine places (never rounded up). Resource ids and fullUrls are stable
(UUIDv5 of the resource's identity), so two exports of the same record are equal.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.resource import Resource
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.interrogation import InterrogationDocument
from thecal.clinic.service.common import load, stored_prescription
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import (
    Appointment,
    AppointmentStatus,
    Implant,
    ImplantStatus,
    Interrogation,
    PainAssessment,
    Patient,
    PrescriptionRecord,
    PrescriptionStatus,
    Refill,
)
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import find_catheter_model, find_pump_model
from thecal.therapy.quantities import SECONDS_PER_DAY, decimal_text

__all__ = ["LOINC_PAIN_SCORE", "export_patient"]

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
THECAL = "urn:thecal:fhir"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC_PAIN_SCORE = "72514-3"
INTRATHECAL_ROUTE = {"system": SNOMED, "code": "72607000", "display": "Intrathecal route"}
_NAMESPACE = uuid.UUID("6f1d2f0e-2f7d-5a57-9d0a-7468656361ff")


def _ref(kind: str, key: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}/{key}')}"


def _id(kind: str, key: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{key}"))


def _decimal(value: Fraction) -> Decimal:
    return Decimal(decimal_text(value, 9))


def _quantity(value: Fraction, unit: str, code: str) -> dict[str, Any]:
    return {"value": _decimal(value), "unit": unit, "system": UCUM, "code": code}


def _mcg(value: Fraction) -> dict[str, Any]:
    return _quantity(value, "mcg", "ug")


def _mcg_per_day(value: Fraction) -> dict[str, Any]:
    return _quantity(value, "mcg/day", "ug/d")


def _ml(value: Fraction) -> dict[str, Any]:
    return _quantity(value, "mL", "mL")


def _when(moment: datetime) -> str:
    return moment.isoformat()


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}:00"


def _dosages(rx: Prescription) -> list[dict[str, Any]]:
    """One Dosage per delivery element of the prescription."""
    route = {"coding": [INTRATHECAL_ROUTE]}
    dosages: list[dict[str, Any]] = []
    daily = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
    if rx.mode is Mode.STOPPED:
        dosages.append({"text": "pump stopped: no delivery", "route": route})
    elif rx.mode is Mode.MINIMUM_RATE:
        dosages.append({"text": "minimum rate (keeps the catheter open)", "route": route})
    elif rx.mode is Mode.SIMPLE_CONTINUOUS and rx.rate is not None:
        dosages.append(
            {
                "text": f"continuous {rx.rate}",
                "route": route,
                "timing": daily,
                "doseAndRate": [{"rateQuantity": _mcg_per_day(rx.rate.amount)}],
            }
        )
    elif rx.mode is Mode.FLEX:
        for index, step in enumerate(rx.steps):
            end = rx.steps[index + 1].start.minute if index + 1 < len(rx.steps) else 24 * 60
            hours = Fraction(end - step.start.minute, 60)
            dosages.append(
                {
                    "sequence": index + 1,
                    "text": f"from {step.start} for {decimal_text(hours, 4)} h at {step.dose_rate}",
                    "route": route,
                    "timing": {
                        "repeat": {
                            "timeOfDay": [_clock(step.start.minute)],
                            "duration": _decimal(hours),
                            "durationUnit": "h",
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "d",
                        }
                    },
                    "doseAndRate": [{"rateQuantity": _mcg_per_day(step.dose_rate.amount)}],
                }
            )
    elif rx.mode is Mode.SINGLE_BOLUS and rx.bolus is not None:
        dosages.append(
            {
                "text": f"single bolus {rx.bolus.dose} over {rx.bolus.duration}",
                "route": route,
                "timing": {
                    "repeat": {
                        "count": 1,
                        "duration": _decimal(rx.bolus.duration.minutes),
                        "durationUnit": "min",
                    }
                },
                "doseAndRate": [{"doseQuantity": _mcg(rx.bolus.dose.amount)}],
            }
        )
    elif rx.mode is Mode.PERIODIC_BOLUS and rx.periodic is not None:
        if rx.rate is not None and rx.rate.amount > 0:
            dosages.append(
                {
                    "text": f"background {rx.rate}",
                    "route": route,
                    "timing": daily,
                    "doseAndRate": [{"rateQuantity": _mcg_per_day(rx.rate.amount)}],
                }
            )
        periodic = rx.periodic
        per_day = SECONDS_PER_DAY // int(periodic.interval.seconds)
        dosages.append(
            {
                "text": f"{periodic.bolus.dose} over {periodic.bolus.duration} every "
                f"{periodic.interval}, first at {periodic.first_start}",
                "route": route,
                "timing": {
                    "repeat": {
                        "frequency": per_day,
                        "period": 1,
                        "periodUnit": "d",
                        "duration": _decimal(periodic.bolus.duration.minutes),
                        "durationUnit": "min",
                    }
                },
                "doseAndRate": [{"doseQuantity": _mcg(periodic.bolus.dose.amount)}],
            }
        )
    if rx.patient_bolus is not None:
        pb = rx.patient_bolus
        dosages.append(
            {
                "text": f"patient bolus {pb.dose} over {pb.duration} as needed, lockout "
                f"{pb.lockout}, at most {pb.max_per_24h} in 24 h",
                "asNeededBoolean": True,
                "route": route,
                "timing": {
                    "repeat": {
                        "duration": _decimal(pb.duration.minutes),
                        "durationUnit": "min",
                    }
                },
                "doseAndRate": [{"doseQuantity": _mcg(pb.dose.amount)}],
                "maxDosePerPeriod": {
                    "numerator": _mcg(pb.dose.amount * pb.worst_case_count_per_24h()),
                    "denominator": _quantity(Fraction(1), "day", "d"),
                },
            }
        )
    return dosages


def _entry(resource: Resource, full_url: str) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource}


def export_patient(call: Call, patient_id: int) -> dict[str, Any]:
    """The patient's record as a FHIR R4 collection Bundle (a JSON-ready dict)."""
    authorize(call.actor, Permission.FHIR_EXPORT, patient_id)
    patient = load(call, Patient, patient_id, "patient")
    session = call.session
    patient_ref = _ref("Patient", patient.id)
    subject = {"reference": patient_ref, "display": f"{patient.given_name} {patient.family_name}"}
    entries: list[dict[str, Any]] = [
        _entry(
            FhirPatient.model_validate(
                {
                    "id": _id("Patient", patient.id),
                    "identifier": [{"system": f"{THECAL}:mrn", "value": patient.mrn}],
                    "name": [{"family": patient.family_name, "given": [patient.given_name]}],
                    "gender": patient.sex.value,
                    "birthDate": patient.birth_date.isoformat(),
                }
            ),
            patient_ref,
        )
    ]
    implants = session.scalars(
        select(Implant).where(Implant.patient_id == patient.id).order_by(Implant.id)
    ).all()
    for implant in implants:
        pump = find_pump_model(implant.pump_model)
        catheter = find_catheter_model(implant.catheter_model)
        active = implant.status is ImplantStatus.ACTIVE
        pump_ref = _ref("Device", f"pump-{implant.id}")
        entries.append(
            _entry(
                Device.model_validate(
                    {
                        "id": _id("Device", f"pump-{implant.id}"),
                        "status": "active" if active else "inactive",
                        "serialNumber": implant.serial,
                        "modelNumber": pump.id,
                        "deviceName": [{"name": pump.label, "type": "model-name"}],
                        "type": {"text": "Implantable intrathecal drug infusion pump"},
                        "patient": {"reference": patient_ref},
                        "property": [
                            {
                                "type": {"text": "reservoir volume"},
                                "valueQuantity": [_ml(implant.reservoir.amount)],
                            }
                        ],
                        "note": [
                            {
                                "text": f"implanted {implant.implanted_at.date().isoformat()}"
                                + (
                                    f"; explanted {implant.explanted_at.date().isoformat()} "
                                    f"({implant.explant_reason})"
                                    if implant.explanted_at
                                    else ""
                                )
                            }
                        ],
                    }
                ),
                pump_ref,
            )
        )
        entries.append(
            _entry(
                Device.model_validate(
                    {
                        "id": _id("Device", f"catheter-{implant.id}"),
                        "status": "active" if active else "inactive",
                        "modelNumber": catheter.id,
                        "deviceName": [{"name": catheter.label, "type": "model-name"}],
                        "type": {"text": "Intrathecal catheter"},
                        "patient": {"reference": patient_ref},
                        "parent": {"reference": pump_ref},
                        "property": [
                            {
                                "type": {"text": "length"},
                                "valueQuantity": [
                                    _quantity(implant.catheter_length_cm, "cm", "cm")
                                ],
                            },
                            {
                                "type": {"text": "trimmed length"},
                                "valueQuantity": [
                                    _quantity(implant.catheter_trimmed_length_cm, "cm", "cm")
                                ],
                            },
                            {
                                "type": {"text": "catheter tip vertebral level"},
                                "valueCode": [{"text": implant.catheter_tip_level}],
                            },
                        ],
                    }
                ),
                _ref("Device", f"catheter-{implant.id}"),
            )
        )
    records = session.scalars(
        select(PrescriptionRecord)
        .where(PrescriptionRecord.patient_id == patient.id)
        .order_by(PrescriptionRecord.active_from, PrescriptionRecord.id)
    ).all()
    for record in records:
        rx = stored_prescription(record)
        medication = {"text": f"{record.drug} {rx.concentration}"}
        period: dict[str, str] = {"start": _when(record.active_from)}
        if record.active_until is not None:
            period["end"] = _when(record.active_until)
        notes = [{"text": f"content hash {record.content_hash}"}]
        if record.override_reasons:
            reasons = "; ".join(f"{k}: {v}" for k, v in record.override_reasons.items())
            notes.append({"text": f"safety warnings overridden: {reasons}"})
        entries.append(
            _entry(
                MedicationRequest.model_validate(
                    {
                        "id": _id("MedicationRequest", record.id),
                        "status": "active"
                        if record.status is PrescriptionStatus.ACTIVE
                        else "completed",
                        "intent": "order",
                        "medicationCodeableConcept": medication,
                        "subject": subject,
                        "authoredOn": _when(record.entered_at),
                        "dosageInstruction": _dosages(rx),
                        "dispenseRequest": {"validityPeriod": period},
                        "note": notes,
                    }
                ),
                _ref("MedicationRequest", record.id),
            )
        )
    refills = session.scalars(
        select(Refill).where(Refill.patient_id == patient.id).order_by(Refill.performed_at)
    ).all()
    for refill in refills:
        text = (
            f"{'first fill' if refill.first_fill else 'refill'}: {refill.volume_added} of "
            f"{refill.drug} {refill.concentration}, lot {refill.lot}"
        )
        entries.append(
            _entry(
                MedicationAdministration.model_validate(
                    {
                        "id": _id("MedicationAdministration", f"refill-{refill.id}"),
                        "status": "completed",
                        "medicationCodeableConcept": {
                            "text": f"{refill.drug} {refill.concentration}"
                        },
                        "subject": subject,
                        "effectiveDateTime": _when(refill.performed_at),
                        "device": [{"reference": _ref("Device", f"pump-{refill.implant_id}")}],
                        "dosage": {
                            "text": text,
                            "route": {"coding": [INTRATHECAL_ROUTE]},
                            "dose": _ml(refill.volume_added.amount),
                        },
                        "note": [{"text": f"lot {refill.lot}"}],
                    }
                ),
                _ref("MedicationAdministration", f"refill-{refill.id}"),
            )
        )
        if refill.aspirated_volume is not None:
            entries.append(_reservoir_observation(
                f"refill-{refill.id}", subject, refill.implant_id, refill.performed_at,
                refill.aspirated_volume.amount, "volume aspirated at refill",
            ))  # fmt: skip
    readings = session.scalars(
        select(Interrogation)
        .join(Implant, Implant.id == Interrogation.implant_id)
        .where(Implant.patient_id == patient.id)
        .order_by(Interrogation.interrogated_at)
    ).all()
    boluses: set[str] = set()  # overlapping interrogations repeat events: keep each once
    for reading in readings:
        entries.append(_reservoir_observation(
            f"interrogation-{reading.id}", subject, reading.implant_id, reading.interrogated_at,
            reading.reservoir_estimate.amount, "reservoir volume estimated by the pump",
        ))  # fmt: skip
        document = InterrogationDocument.model_validate(reading.document)
        for event in document.event_log:
            dose = event.bolus_dose()
            if dose is None:
                continue
            key = f"bolus-{reading.implant_id}-{event.seq}"
            if key in boluses:
                continue
            boluses.add(key)
            entries.append(
                _entry(
                    MedicationAdministration.model_validate(
                        {
                            "id": _id("MedicationAdministration", key),
                            "status": "completed",
                            "medicationCodeableConcept": {"text": "as prescribed"},
                            "subject": subject,
                            "effectiveDateTime": _when(event.at),
                            "device": [{"reference": _ref("Device", f"pump-{reading.implant_id}")}],
                            "dosage": {
                                "text": event.kind.replace("_", " "),
                                "route": {"coding": [INTRATHECAL_ROUTE]},
                                "dose": _mcg(dose.amount),
                            },
                        }
                    ),
                    _ref("MedicationAdministration", key),
                )
            )
    assessments = session.scalars(
        select(PainAssessment)
        .where(PainAssessment.patient_id == patient.id)
        .order_by(PainAssessment.assessed_at)
    ).all()
    for assessment in assessments:
        entries.extend(_assessment_observations(assessment, subject))
    appointments = session.scalars(
        select(Appointment).where(Appointment.patient_id == patient.id).order_by(Appointment.id)
    ).all()
    status = {
        AppointmentStatus.BOOKED: "booked",
        AppointmentStatus.DONE: "fulfilled",
        AppointmentStatus.CANCELLED: "cancelled",
        AppointmentStatus.MISSED: "noshow",
    }
    for appointment in appointments:
        entries.append(
            _entry(
                FhirAppointment.model_validate(
                    {
                        "id": _id("Appointment", appointment.id),
                        "status": status[appointment.status],
                        "serviceType": [{"text": appointment.kind.value.replace("_", " ")}],
                        "description": appointment.note or appointment.kind.value,
                        "start": _when(appointment.starts_at),
                        "end": _when(appointment.starts_at + timedelta(minutes=30)),
                        "participant": [{"actor": subject, "status": "accepted"}],
                    }
                ),
                _ref("Appointment", appointment.id),
            )
        )
    bundle = Bundle.model_validate(
        {
            "id": _id("Bundle", f"patient-{patient.id}-{call.now.isoformat()}"),
            "type": "collection",
            "timestamp": _when(call.now),
            "entry": entries,
        }
    )
    result: dict[str, Any] = json.loads(bundle.model_dump_json())
    return result


def _reservoir_observation(
    key: str, subject: dict[str, str], implant_id: int, at: datetime, ml: Fraction, what: str
) -> dict[str, Any]:
    return _entry(
        Observation.model_validate(
            {
                "id": _id("Observation", key),
                "status": "final",
                "code": {
                    "coding": [{"system": THECAL, "code": "reservoir-volume", "display": what}],
                    "text": what,
                },
                "subject": subject,
                "effectiveDateTime": _when(at),
                "device": {"reference": _ref("Device", f"pump-{implant_id}")},
                "valueQuantity": _ml(ml),
            }
        ),
        _ref("Observation", key),
    )


def _assessment_observations(
    assessment: PainAssessment, subject: dict[str, str]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    regions = ", ".join(assessment.regions)
    notes = []
    if regions:
        notes.append({"text": f"body regions: {regions}"})
    if assessment.mapping:
        mapping = assessment.mapping
        notes.append(
            {
                "text": f"segments {', '.join(mapping['segments'])}; suggested catheter tip "
                f"{mapping['suggested_tip_level']} (derived, not a clinical guideline)"
            }
        )
    if assessment.note:
        notes.append({"text": assessment.note})
    if assessment.score is not None:
        key = f"pain-{assessment.id}"
        data: dict[str, Any] = {
            "id": _id("Observation", key),
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
            "code": {
                "coding": [
                    {
                        "system": LOINC,
                        "code": LOINC_PAIN_SCORE,
                        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                    }
                ],
                "text": "Pain score (0-10)",
            },
            "subject": subject,
            "effectiveDateTime": _when(assessment.assessed_at),
            "valueInteger": assessment.score,
        }
        if notes:
            data["note"] = notes
        found.append(_entry(Observation.model_validate(data), _ref("Observation", key)))
    if assessment.ashworth is not None:
        key = f"ashworth-{assessment.id}"
        found.append(
            _entry(
                Observation.model_validate(
                    {
                        "id": _id("Observation", key),
                        "status": "final",
                        "code": {
                            "coding": [
                                {
                                    "system": THECAL,
                                    "code": "modified-ashworth-scale",
                                    "display": "Modified Ashworth scale grade",
                                }
                            ],
                            "text": "Modified Ashworth scale grade",
                        },
                        "subject": subject,
                        "effectiveDateTime": _when(assessment.assessed_at),
                        "valueString": assessment.ashworth,
                    }
                ),
                _ref("Observation", key),
            )
        )
    return found
