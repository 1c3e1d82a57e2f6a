"""One test per hazard in docs/hazards.md, named after the hazard it covers; and a check
that every test the hazard list names exists."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

from tests.pump.support import (
    BACLOFEN,
    T0,
    accepted,
    baclofen,
    clinician,
    implant,
    morphine_pca,
    patient,
    rejected,
    request,
)
from thecal.pump import EarlyBatteryDepletion, MotorStall, MriExposure, RateError
from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import (
    Interrogate,
    PatientBolusRequest,
    PrimingBolus,
    RegisterRefill,
    Rejection,
    Role,
    SetClock,
    Stop,
    WritePrescription,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import Hold, TherapyState
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Volume
from thecal.therapy.refill import Discrepancy, DryEvidence, InterruptionRisk

ROOT = Path(__file__).resolve().parents[2]


def active(twin) -> set[AlarmKind]:
    return {alarm.kind for alarm in twin.view().alarms}


def test_hazard_list_names_only_tests_that_exist():
    text = (ROOT / "docs" / "hazards.md").read_text(encoding="utf-8")
    references = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", text)
    assert len(references) >= 20
    for path, name in references:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in names, f"{path}::{name} is named in docs/hazards.md but does not exist"


def test_hazard_over_infusion_is_flagged_at_refill():
    twin = implant(baclofen(1000), faults=(RateError(T0, None, Fraction(6, 5)),))
    twin.advance(T0 + timedelta(days=20))
    rec = accepted(twin.refill_visit(Volume.from_ml(20)).response).payload
    assert rec.flagged and rec.discrepancy is Discrepancy.LESS_THAN_EXPECTED


def test_hazard_overfill_is_refused():
    twin = implant(baclofen())
    command = RegisterRefill(Volume.zero(), Volume.from_ml("20.5"), "baclofen", BACLOFEN)
    assert rejected(clinician(twin, command)).reason is Rejection.OVER_CAPACITY


def test_hazard_an_aspirate_larger_than_the_reservoir_is_refused():
    twin = implant(baclofen())
    command = RegisterRefill(Volume.from_ml(25), Volume.from_ml(20), "baclofen", BACLOFEN)
    refusal = rejected(clinician(twin, command))
    assert refusal.reason is Rejection.OVER_CAPACITY
    assert "25 mL is more than the 20 mL reservoir holds" in refusal.message
    assert not any(event.kind is LogKind.REFILL for event in twin.view().events)


def test_hazard_a_refill_under_a_brand_name_keeps_the_prescription_running():
    twin = implant(baclofen())
    twin.advance(T0 + timedelta(days=5))
    command = RegisterRefill(Volume.from_ml(19), Volume.from_ml(20), " Lioresal", BACLOFEN)
    rec = accepted(clinician(twin, command)).payload
    assert (rec.new_solution, rec.drug) == (False, "baclofen")
    view = twin.view()
    assert view.therapy.state is TherapyState.RUNNING
    assert not view.reservoir.awaiting_prescription


def test_hazard_a_pump_found_empty_at_refill_is_flagged_with_the_day_it_ran_dry():
    twin = implant(baclofen(400), fill_ml=3)  # 0.2 mL/day: the empty level after 10 days
    twin.advance(T0 + timedelta(days=11))
    alarm = next(a for a in twin.view().alarms if a.kind is AlarmKind.EMPTY_RESERVOIR)
    rec = accepted(twin.refill_visit(Volume.from_ml(20)).response).payload
    assert rec.discrepancy is Discrepancy.EMPTY_RESERVOIR
    dry = rec.reconciliation.ran_dry
    assert dry is not None and dry.evidence is DryEvidence.PUMP_ALARM
    assert dry.most_likely_at == alarm.raised_at
    assert dry.risk is InterruptionRisk.WITHDRAWAL_WATCH
    assert rec.reconciliation.delivery_error is None


def test_hazard_repeated_patient_requests_cannot_exceed_the_daily_maximum():
    twin = implant(morphine_pca(lockout_h=1, max_per_24h=3))
    granted = 0
    for minute in range(60, 24 * 60, 20):  # a request every 20 minutes for a day
        twin.advance(T0 + timedelta(minutes=minute))
        if not hasattr(patient(twin, PatientBolusRequest()), "reason"):
            granted += 1
    assert granted == 3


def test_hazard_a_bolus_sent_twice_is_delivered_once():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=4))
    tap = request(PatientBolusRequest(), "tap-7", Role.PATIENT)
    twin.handle(tap)
    twin.advance(twin.now + timedelta(seconds=30))
    twin.handle(tap)  # the link retried
    twin.advance(twin.now + timedelta(hours=1))
    reference = implant(morphine_pca())
    reference.advance(T0 + timedelta(hours=4))
    reference.handle(request(PatientBolusRequest(), "once", Role.PATIENT))
    reference.advance(twin.now)
    assert twin.truth().pumped_volume == reference.truth().pumped_volume


def test_hazard_prescription_with_wrong_hash_is_refused():
    twin = implant(baclofen(400))
    tampered = baclofen(1800)
    refusal = rejected(clinician(twin, WritePrescription(tampered, baclofen(400).content_hash)))
    assert refusal.reason is Rejection.HASH_MISMATCH
    assert twin.view().prescription == baclofen(400)


def test_hazard_firmware_refuses_a_hard_limit_prescription():
    twin = implant(baclofen(400))
    over = baclofen(2001)
    assert rejected(clinician(twin, WritePrescription(over, over.content_hash))).reason is (
        Rejection.HARD_LIMIT
    )


def test_hazard_prescription_for_another_solution_is_refused():
    twin = implant(baclofen(400))
    wrong = Prescription(
        "baclofen",
        Concentration.from_mcg_per_ml(500),
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mcg_per_day(400),
    )
    assert rejected(clinician(twin, WritePrescription(wrong, wrong.content_hash))).reason is (
        Rejection.INVALID_ARGUMENT
    )


def test_hazard_new_solution_runs_minimum_rate_until_its_prescription():
    twin = implant(baclofen(400))
    twin.advance(T0 + timedelta(days=5))
    twin.refill_visit(Volume.from_ml(20), concentration=Concentration.from_mcg_per_ml(500))
    view = twin.view()
    assert view.therapy.state is TherapyState.MINIMUM_RATE
    assert view.therapy.volume_rate == twin.profile.model.minimum_rate.value


def test_hazard_patient_cannot_program_the_pump():
    twin = implant(baclofen())
    rx = baclofen(1500)
    response = twin.handle(request(WritePrescription(rx, rx.content_hash), "p", Role.PATIENT))
    assert rejected(response).reason is Rejection.NOT_PERMITTED
    assert twin.view().prescription == baclofen()


def test_hazard_motor_stall_raises_a_critical_alarm():
    twin = implant(baclofen(), faults=(MotorStall(T0 + timedelta(hours=2)),))
    twin.advance(T0 + timedelta(hours=3))
    assert AlarmKind.MOTOR_STALL in active(twin)


def test_hazard_mri_hold_until_interrogated():
    scan = T0 + timedelta(days=16)  # the low-reservoir alarm is sounding
    twin = implant(
        baclofen(400),
        fill_ml=5,
        faults=(MriExposure(scan, scan + timedelta(minutes=20), Duration.zero()),),
    )
    twin.advance(scan + timedelta(hours=2))
    assert Hold.MRI_LATCH in twin.view().therapy.holds
    accepted(clinician(twin, Interrogate()))
    assert Hold.MRI_LATCH not in twin.view().therapy.holds


def test_hazard_flow_activated_valve_limits_mri_discharge():
    scan = T0 + timedelta(days=1)
    twin = implant(
        baclofen(400),
        model="valve-accumulator-20",
        faults=(MriExposure(scan, scan + timedelta(minutes=20), Duration.zero()),),
    )
    twin.advance(scan - timedelta(seconds=1))
    before = twin.truth().reservoir_volume
    twin.advance(scan + timedelta(hours=3))
    assert before - twin.truth().reservoir_volume <= Volume.from_ul(10) + Volume.from_ul("2.5")


def test_hazard_eri_warns_90_days_before_end_of_service():
    twin = implant(baclofen(400), battery_charge=Fraction(9, 100))
    twin.advance(T0 + timedelta(days=30))
    battery = twin.view().battery
    assert AlarmKind.ERI in active(twin)
    assert battery.eos_at - battery.eri_at == timedelta(days=90)


def test_hazard_low_battery_reset_alarms_and_drops_to_minimum_rate():
    twin = implant(baclofen(400), faults=(EarlyBatteryDepletion(T0, None, Fraction(40)),))
    twin.advance(T0 + timedelta(days=150))
    assert AlarmKind.LOW_BATTERY_RESET in active(twin)
    assert twin.view().therapy.state is TherapyState.MINIMUM_RATE


def test_hazard_empty_reservoir_alarm_drops_to_minimum_rate():
    twin = implant(baclofen(400), fill_ml=3)
    twin.advance(T0 + timedelta(days=11))
    assert AlarmKind.EMPTY_RESERVOIR in active(twin)
    assert twin.view().therapy.state is TherapyState.MINIMUM_RATE


def test_hazard_alarm_never_restarts_a_stopped_pump():
    twin = implant(baclofen(400), fill_ml=3)
    accepted(clinician(twin, Stop()))
    twin.refill_visit(Volume.from_ml(1))  # at the empty level: the empty alarm is raised
    twin.advance(T0 + timedelta(days=2))
    assert AlarmKind.EMPTY_RESERVOIR in active(twin)
    assert twin.view().therapy.state is TherapyState.STOPPED
    assert twin.truth().pumped_volume == Volume.zero()


def test_hazard_clock_change_cannot_shorten_lockout_or_reset_the_daily_maximum():
    twin = implant(morphine_pca(lockout_h=3))
    twin.advance(T0 + timedelta(hours=4))
    accepted(patient(twin, PatientBolusRequest()))
    twin.advance(twin.now + timedelta(minutes=20))  # the bolus has finished
    accepted(clinician(twin, SetClock(twin.local_now + timedelta(hours=4))))
    assert rejected(patient(twin, PatientBolusRequest())).reason is Rejection.LOCKOUT


def test_hazard_clock_change_reports_the_schedule_effect():
    twin = implant(baclofen(480))  # 0.24 mL/day
    back = accepted(clinician(twin, SetClock(twin.local_now - timedelta(hours=1)))).payload
    assert back.repeated_volume == Volume.from_ml("0.01")


def test_hazard_priming_bolus_rate_is_limited():
    twin = implant(baclofen())
    too_fast = PrimingBolus(Volume.from_ml(1), Duration.from_minutes(30))  # 48 mL/day
    assert rejected(clinician(twin, too_fast)).reason is Rejection.HARD_LIMIT
