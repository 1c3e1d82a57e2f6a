"""Interrogations imported from a pump: checked against the implant, they re-anchor the
refill projection, mirror the pump's alarms and bring a battery replacement forward."""

from __future__ import annotations

import json
from datetime import timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.clinic.support import (
    MORPHINE_4MG,
    SYSTEM,
    add_implant,
    add_patient,
    filled_baclofen_pump,
    later,
    prescribe,
    refill,
)
from thecal.clinic import fhir
from thecal.clinic.errors import Conflict, Invalid
from thecal.clinic.interrogation import InterrogationDocument, reported, stored_document
from thecal.clinic.service import Clinic, FixedClock, implants, interrogations
from thecal.programmer.reading import reading_of
from thecal.pump import PumpTwin
from thecal.pump.commands import Accepted, PatientBolusRequest, Role
from thecal.pump.firmware import SimulationMode
from thecal.therapy.prescription_toml import parse_prescription
from thecal.therapy.quantities import Concentration, Volume
from thecal.therapy.units import parse_volume


def document(clock: FixedClock, **status: Any) -> dict[str, Any]:
    return {
        "format": "thecal-interrogation/1",
        "interrogated_at": clock.now().isoformat(),
        "pump": {"model": "peristaltic-20", "serial": "PS-P-1"},
        "status": {
            "mode": "simple_continuous",
            "delivering": True,
            "reservoir_estimate": "12 mL",
            **status,
        },
        "alarms": [],
        "event_log": [],
    }


def import_(clinic: Clinic, implant_id: int, data: dict[str, Any]) -> Any:
    doc = InterrogationDocument.model_validate(data)
    return clinic.perform(
        SYSTEM, lambda call: interrogations.import_interrogation(call, implant_id, doc)
    )


def test_a_reading_from_another_pump_is_refused(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    data = document(clock)
    data["pump"]["serial"] = "SOMEONE-ELSE"
    with pytest.raises(Invalid) as caught:
        import_(clinic, implant_id, data)
    assert (caught.value.code, caught.value.accepted) == ("wrong_pump", "PS-P-1")


def test_the_pump_estimate_moves_the_refill_date(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 5)
    before = clinic.perform(SYSTEM, lambda c: implants.get_implant(c, implant_id))
    # Programmed delivery says 16 mL remain; the pump says 10 mL (more boluses, say).
    import_(clinic, implant_id, document(clock, reservoir_estimate="10 mL"))
    after = clinic.perform(SYSTEM, lambda c: implants.get_implant(c, implant_id))
    # 8 mL to the alarm at 0.8 mL/day = 10 days, less the 7-day baclofen margin.
    assert after.schedule.next_refill_due == clock.now() + timedelta(days=3)
    assert before.schedule.next_refill_due is not None
    assert after.schedule.next_refill_due < before.schedule.next_refill_due


def test_a_pump_at_eri_needs_its_replacement_now(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 1)
    view = import_(clinic, implant_id, document(clock, battery={"state": "eri"}))
    assert any("replacement" in warning for warning in view.warnings)
    implant = clinic.perform(SYSTEM, lambda c: implants.get_implant(c, implant_id))
    assert implant.schedule.replacement_due == clock.now()


def test_a_pump_running_another_prescription_is_flagged(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 1)
    view = import_(clinic, implant_id, document(clock, prescription_hash="0" * 64))
    assert view.prescription_matches is False
    assert any("differs" in warning for warning in view.warnings)


def test_alarms_are_mirrored_and_cleared_when_the_pump_no_longer_reports_them(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 1)
    raised = (clock.now() - timedelta(hours=2)).isoformat()
    first = document(clock)
    first["alarms"] = [{"kind": "low_reservoir", "priority": "non_critical",
                        "raised_at": raised, "active": True}]  # fmt: skip
    import_(clinic, implant_id, first)
    active = clinic.perform(SYSTEM, lambda c: interrogations.list_alarms(c, implant_id, True))
    assert [a.kind for a in active] == ["low_reservoir"]
    later(clock, 1)
    import_(clinic, implant_id, document(clock))
    assert clinic.perform(SYSTEM, lambda c: interrogations.list_alarms(c, implant_id, True)) == []


def test_the_same_interrogation_imported_twice_is_a_conflict(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 1)
    data = document(clock)
    import_(clinic, implant_id, data)
    with pytest.raises(Conflict):
        import_(clinic, implant_id, data)


def test_an_acknowledged_alarm_cannot_be_acknowledged_again(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 1)
    data = document(clock)
    data["alarms"] = [{"kind": "motor_stall", "priority": "critical",
                       "raised_at": clock.now().isoformat(), "active": True}]  # fmt: skip
    view = import_(clinic, implant_id, data)
    assert any("critical" in warning for warning in view.warnings)
    alarm = clinic.perform(SYSTEM, lambda c: interrogations.list_alarms(c, implant_id))[0]
    form = interrogations.AcknowledgeForm(note="called the patient")
    done = clinic.perform(SYSTEM, lambda c: interrogations.acknowledge_alarm(c, alarm.id, form))
    assert done.acknowledged_at == clock.now()
    with pytest.raises(Conflict):
        clinic.perform(SYSTEM, lambda c: interrogations.acknowledge_alarm(c, alarm.id, form))


def test_a_reading_from_the_pump_twin_imports_with_its_estimate_and_boluses(
    clinic: Clinic, clock: FixedClock
) -> None:

    patient = add_patient(clinic, diagnosis="cancer_pain")
    implant = add_implant(clinic, patient.id, serial="SIM-0001")
    rx_input = {**MORPHINE_4MG, "patient_bolus": {
        "dose": "0.2 mg", "duration": "10 min", "lockout": "3 h", "max_per_24h": 4}}  # fmt: skip
    saved = prescribe(clinic, implant.id, rx_input)
    refill(clinic, implant.id, drug="morphine", concentration="10 mg/mL")

    local = clock.now().replace(tzinfo=None)  # the clinic runs on UTC: pump clock = UTC
    twin = PumpTwin.implant(
        "peristaltic-20", local, drug="morphine", concentration=Concentration.from_mg_per_ml(10),
        fill=Volume.from_ml(20), prescription=saved.prescription,
        mode=SimulationMode.ANALYTIC,
    )  # fmt: skip
    twin.advance(local + timedelta(days=2))
    assert isinstance(twin.send(PatientBolusRequest(), Role.PATIENT), Accepted)
    twin.advance(local + timedelta(days=3))
    later(clock, 3)
    reading = reading_of(twin.view())  # typed: filed as read, nothing turned into text
    view = clinic.perform(
        SYSTEM, lambda call: interrogations.file_reading(call, implant.id, reading)
    )
    assert view.prescription_matches is True
    assert parse_volume(view.reservoir_estimate, "filed") == reported(reading.reservoir_estimate)
    with clinic.read(SYSTEM) as call:
        bundle = fhir.export_patient(call, patient.id)
    boluses = [e["resource"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "MedicationAdministration"
               and e["resource"]["dosage"]["text"] == "patient bolus"]  # fmt: skip
    assert [b["dosage"]["dose"]["value"] for b in boluses] == [200]


def programmer_json(twin: PumpTwin) -> str:
    """Exactly what `thecal programmer interrogate --json` prints for this pump's report."""
    from thecal.cli.output import to_jsonable
    from thecal.cli.programmer import plain

    return json.dumps(to_jsonable({"report": plain(twin.view())}))


def test_the_programmers_interrogate_json_is_imported_as_printed(
    clinic: Clinic, clock: FixedClock
) -> None:
    patient = add_patient(clinic, diagnosis="cancer_pain")
    implant = add_implant(clinic, patient.id, serial="SIM-0001")
    saved = prescribe(clinic, implant.id, MORPHINE_4MG)
    refill(clinic, implant.id, drug="morphine", concentration="10 mg/mL")
    local = clock.now().replace(tzinfo=None)
    twin = PumpTwin.implant(
        "peristaltic-20", local, drug="morphine", concentration=Concentration.from_mg_per_ml(10),
        fill=Volume.from_ml(20), prescription=saved.prescription,
        mode=SimulationMode.ANALYTIC,
    )  # fmt: skip
    twin.advance(local + timedelta(days=5))
    later(clock, 5)
    data = json.loads(programmer_json(twin))
    view = clinic.perform(
        SYSTEM, lambda c: interrogations.import_programmer_output(c, implant.id, data)
    )
    assert view.reservoir_estimate == "18 mL"  # 5 days at 0.4 mL/day from 20 mL
    assert view.prescription_matches is True
    assert view.battery_state == "normal"


def test_something_else_than_programmer_output_is_refused_in_one_message(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    with pytest.raises(Invalid) as caught:
        clinic.perform(
            SYSTEM,
            lambda c: interrogations.import_programmer_output(c, implant_id, {"report": {}}),
        )
    assert caught.value.code == "not_an_interrogation"


def test_a_pump_in_reach_is_matched_to_its_active_implant_by_serial(clinic: Clinic) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    found = clinic.perform(SYSTEM, lambda call: implants.find_active_by_serial(call, "PS-P-1"))
    assert found is not None and found.id == implant_id
    nobody = clinic.perform(SYSTEM, lambda call: implants.find_active_by_serial(call, "PS-X"))
    assert nobody is None


def test_a_pump_estimate_without_an_exact_decimal_is_filed_truncated_never_rounded_up(
    clock: FixedClock,
) -> None:
    local = clock.now().replace(tzinfo=None)
    rx = parse_prescription(
        'drug = "morphine"\nconcentration = "10 mg/mL"\nmode = "simple_continuous"\n'
        'rate = "4 mg/day"\n'
    )
    twin = PumpTwin.implant(
        "peristaltic-20", local, drug="morphine", concentration=Concentration.from_mg_per_ml(10),
        fill=Volume.from_ml(20), prescription=rx, mode=SimulationMode.ANALYTIC,
    )  # fmt: skip
    twin.advance(local + timedelta(seconds=7))  # 0.4 mL/day for 7 s: no exact decimal
    exact = twin.view().reservoir.estimated
    document = stored_document(reading_of(twin.view()), ZoneInfo("UTC"))
    filed = parse_volume(document.status.reservoir_estimate, "stored")
    assert filed == reported(exact)
    assert filed <= exact and exact - filed < Volume(Fraction(1, 10**9))
