"""Helpers for building clinic scenarios in tests (imported by the test modules)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from thecal.clinic.access import Actor, Role
from thecal.clinic.auth import PasswordProfile
from thecal.clinic.service import (
    Clinic,
    ClinicSettings,
    FixedClock,
    implants,
    patients,
    prescriptions,
    refills,
    users,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SETTINGS = ClinicSettings(password_profile=PasswordProfile.TESTING_ONLY)

SYSTEM = Actor.system("test")


# --- building blocks for scenarios ------------------------------------------------------


def add_patient(
    clinic: Clinic, mrn: str = "P-1", diagnosis: str = "spasticity_multiple_sclerosis"
) -> patients.PatientView:
    form = patients.PatientForm(
        mrn=mrn,
        given_name="Ann",
        family_name="Lee",
        birth_date=date(1970, 1, 1),
        sex="female",
        diagnosis=diagnosis,
    )
    return clinic.perform(SYSTEM, lambda call: patients.create_patient(call, form))


def add_implant(
    clinic: Clinic, patient_id: int, pump: str = "peristaltic-20", serial: str = "PS-1"
) -> implants.ImplantView:
    catheter = "prometra-110" if pump.startswith("valve") else "generic-two-piece"
    form = implants.ImplantForm(
        pump_model=pump,
        serial=serial,
        catheter_model=catheter,
        catheter_trimmed_length_cm="70",
        catheter_tip_level="T10",
    )
    return clinic.perform(SYSTEM, lambda call: implants.implant_pump(call, patient_id, form))


BACLOFEN_400 = {
    "drug": "baclofen",
    "concentration": "500 mcg/mL",
    "mode": "simple_continuous",
    "rate": "400 mcg/day",
}
MORPHINE_4MG = {
    "drug": "morphine",
    "concentration": "10 mg/mL",
    "mode": "simple_continuous",
    "rate": "4 mg/day",
}


def prescribe(
    clinic: Clinic, implant_id: int, rx: dict[str, Any], reasons: dict[str, str] | None = None
) -> prescriptions.PrescriptionView:
    form = prescriptions.PrescribeForm.model_validate(
        {"prescription": rx, "override_reasons": reasons or {}}
    )
    return clinic.perform(
        SYSTEM, lambda call: prescriptions.prescribe(call, implant_id, form.order())
    )


def refill(
    clinic: Clinic,
    implant_id: int,
    added: str = "20 mL",
    aspirated: str | None = None,
    drug: str = "baclofen",
    concentration: str = "500 mcg/mL",
    key: str | None = None,
    new_prescription: dict[str, Any] | None = None,
) -> refills.RefillView:
    form = refills.RefillForm.model_validate(
        {
            "drug": drug,
            "concentration": concentration,
            "lot": "LOT-1",
            "volume_added": added,
            "aspirated_volume": aspirated,
            "prescription": {"prescription": new_prescription} if new_prescription else None,
        }
    )
    return clinic.perform(SYSTEM, lambda call: refills.record_refill(call, implant_id, form, key))


def filled_baclofen_pump(clinic: Clinic, mrn: str = "P-1") -> tuple[int, int]:
    """A patient with a 20 mL pump on baclofen 400 mcg/day, filled at T0: (patient, implant)."""
    patient = add_patient(clinic, mrn)
    implant = add_implant(clinic, patient.id, serial=f"PS-{mrn}")
    prescribe(clinic, implant.id, BACLOFEN_400)
    refill(clinic, implant.id)
    return patient.id, implant.id


def add_user(
    clinic: Clinic, username: str, role: Role, patient_id: int | None = None
) -> users.UserView:
    form = users.UserForm(
        username=username,
        display_name=username,
        role=role,
        password=PASSWORD,
        patient_id=patient_id,
    )
    return clinic.perform(SYSTEM, lambda call: users.create_user(call, form))


def login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def later(clock: FixedClock, days: float) -> None:
    clock.advance(timedelta(days=days))
