"""The one safety context: what the evaluator needs besides the proposal (the prescription
in force, the last dose increase, the time now, the pump), built from the clinic record by
`prescriptions.safety_context`; and the one reader of stored prescriptions, which refuses
a record altered outside thecal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.clinic.support import (
    BACLOFEN_400,
    MORPHINE_4MG,
    SYSTEM,
    T0,
    add_implant,
    add_patient,
    prescribe,
)
from thecal.clinic.errors import Conflict
from thecal.clinic.service import Clinic, FixedClock, implants, prescriptions
from thecal.therapy.quantities import DoseRate
from thecal.therapy.safety import Context


def morphine(rate: str, drug: str = "morphine") -> dict[str, Any]:
    return {**MORPHINE_4MG, "drug": drug, "rate": rate}


def history(clinic: Clinic, clock: FixedClock, steps: list[tuple[float, dict[str, Any]]]) -> int:
    """A morphine pump whose prescriptions are saved `hours` after T0, one per step (with a
    reason for every warning); the clinic's clock ends at the last step."""
    patient = add_patient(clinic, diagnosis="cancer_pain")
    implant_id = add_implant(clinic, patient.id).id
    for hours, rx in steps:
        clock.set(T0 + timedelta(hours=hours))
        reasons = {rule: "set up by the test" for rule in _warnings(clinic, implant_id, rx)}
        prescribe(clinic, implant_id, rx, reasons)
    return implant_id


def _warnings(clinic: Clinic, implant_id: int, rx: dict[str, Any]) -> list[str]:
    proposed = prescriptions.to_prescription(prescriptions.PrescriptionInput.model_validate(rx))
    with clinic.read(SYSTEM) as call:
        return prescriptions.evaluate_prescription(call, implant_id, proposed).needs_reason


def context(clinic: Clinic, implant_id: int, drug: str = "morphine", **options: Any) -> Context:
    with clinic.read(SYSTEM) as call:
        return prescriptions.safety_context(call, implant_id, drug, **options)


@pytest.mark.parametrize(
    ("steps", "last_increase_hours"),
    [
        ([(0, morphine("4 mg/day"))], None),
        ([(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day"))], 30),
        ([(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day")), (60, morphine("4.2 mg/day"))],
         30),  # a decrease is not an increase
        ([(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day", drug="infumorph"))], 30),
        ([(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day")),
          (60, morphine("4.4 mg/day", drug="Morphine Sulfate"))], 30),  # alias, no change
    ],
)  # fmt: skip
def test_the_last_increase_of_the_drug_comes_from_the_record_whatever_its_name(
    clinic: Clinic,
    clock: FixedClock,
    steps: list[tuple[float, dict[str, Any]]],
    last_increase_hours: float | None,
) -> None:
    implant_id = history(clinic, clock, steps)
    found = context(clinic, implant_id)
    expected = None if last_increase_hours is None else T0 + timedelta(hours=last_increase_hours)
    assert found.last_increase_at == expected
    assert found.now == clock.now()


def test_the_context_holds_the_prescription_in_force_and_the_pump(
    clinic: Clinic, clock: FixedClock
) -> None:
    implant_id = history(clinic, clock, [(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day"))])
    found = context(clinic, implant_id)
    with clinic.read(SYSTEM) as call:
        in_force = prescriptions.current_prescription(call, implant_id)
    assert in_force is not None and found.current == in_force.prescription
    assert found.pump is not None and found.pump.id == "peristaltic-20"


def test_a_stored_prescription_sent_is_judged_against_the_history_before_it(
    clinic: Clinic, clock: FixedClock
) -> None:
    """The pump session sends the prescription in force: its own increase is not its last."""
    steps = [(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day")), (40, morphine("4.8 mg/day"))]
    implant_id = history(clinic, clock, steps)
    with clinic.read(SYSTEM) as call:
        sent = prescriptions.current_prescription(call, implant_id)
    assert sent is not None
    found = context(clinic, implant_id, record_id=sent.id)
    assert found.last_increase_at == T0 + timedelta(hours=30)
    assert found.current is not None and found.current.rate != sent.prescription.rate
    assert context(clinic, implant_id).last_increase_at == T0 + timedelta(hours=40)


def test_a_replacement_pump_continues_the_history_of_the_pump_it_replaces(
    clinic: Clinic, clock: FixedClock
) -> None:
    old = history(clinic, clock, [(0, morphine("4 mg/day")), (30, morphine("4.4 mg/day"))])
    with clinic.read(SYSTEM) as call:
        patient_id = implants.get_implant(call, old).patient_id
    clock.set(T0 + timedelta(hours=40))
    form = implants.ImplantForm(
        pump_model="peristaltic-40", serial="PS-NEW", catheter_model="generic-two-piece",
        catheter_trimmed_length_cm="70", catheter_tip_level="T10", replaces_implant_id=old,
    )  # fmt: skip
    new = clinic.perform(SYSTEM, lambda call: implants.implant_pump(call, patient_id, form)).id
    found = context(clinic, new)
    assert found.current is not None and found.current.rate == DoseRate.from_mg_per_day("4.4")
    assert found.last_increase_at == T0 + timedelta(hours=30)
    assert found.pump is not None and found.pump.id == "peristaltic-40"


def test_a_constant_flow_pump_has_nothing_to_program_in_its_context(
    clinic: Clinic, clock: FixedClock
) -> None:
    patient = add_patient(clinic, diagnosis="spasticity_stroke")
    implant_id = add_implant(clinic, patient.id, pump="constant-flow-30").id
    prescribe(clinic, implant_id, {**BACLOFEN_400, "rate": "500 mcg/day"})
    found = context(clinic, implant_id, "baclofen")
    assert found.pump is None and found.current is not None


# --- a stored prescription altered outside thecal ---------------------------------------------


@pytest.mark.parametrize(
    "alteration",
    [
        "UPDATE prescriptions SET toml = replace(toml, '4 mg/day', '40 mg/day')",
        "UPDATE prescriptions SET content_hash = 'f00d'",
    ],
)
def test_a_stored_prescription_altered_outside_thecal_is_refused_not_used(
    clinic: Clinic, clock: FixedClock, alteration: str
) -> None:
    implant_id = history(clinic, clock, [(0, morphine("4 mg/day"))])
    with clinic.database.write_engine.begin() as connection:
        connection.execute(text(alteration))
    for read in (
        lambda call: prescriptions.current_prescription(call, implant_id),
        lambda call: prescriptions.safety_context(call, implant_id, "morphine"),
    ):
        with pytest.raises(Conflict) as caught, clinic.read(SYSTEM) as call:
            read(call)
        assert caught.value.code == "record_altered"
        assert "altered outside thecal" in caught.value.message


def test_the_context_is_on_the_clinics_clock(clinic: Clinic, clock: FixedClock) -> None:
    implant_id = history(clinic, clock, [(0, morphine("4 mg/day"))])
    clock.set(datetime(2026, 2, 1, 12, tzinfo=T0.tzinfo))
    assert context(clinic, implant_id).now == datetime(2026, 2, 1, 12, tzinfo=T0.tzinfo)
