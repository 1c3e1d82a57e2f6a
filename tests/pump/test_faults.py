"""Each injected fault: what the firmware sees (alarms, log, estimate) and what the
clinic sees (interrogation, refill reconciliation)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from fractions import Fraction

from tests.pump.support import (
    T0,
    accepted,
    baclofen,
    baclofen_flex,
    clinician,
    implant,
    morphine_pca,
    patient,
    rejected,
)
from thecal.pump import (
    CatheterOcclusion,
    ClockDrift,
    EarlyBatteryDepletion,
    MemoryCorruption,
    MotorStall,
    MriExposure,
    PocketFill,
    PowerLoss,
    PumpTwin,
    RateError,
    project_battery,
)
from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import (
    Interrogate,
    PatientBolusRequest,
    PostMriCheck,
    Rejection,
    ResetFlowValve,
    Resume,
    SetClock,
    WritePrescription,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import BatteryState, Hold, TherapyState
from thecal.pump.profiles import device_profile
from thecal.therapy.quantities import Concentration, Duration, Volume, VolumeRate
from thecal.therapy.refill import Discrepancy, DryEvidence

DAY = timedelta(days=1)


def kinds(twin: PumpTwin) -> set[AlarmKind]:
    return {alarm.kind for alarm in twin.view().alarms}


def reconcile(twin: PumpTwin):
    return accepted(twin.refill_visit(Volume.from_ml(20)).response).payload


# --- rate error -------------------------------------------------------------------------


def test_over_infusion_is_invisible_to_the_firmware_and_flagged_at_refill():
    twin = implant(baclofen(1000), faults=(RateError(T0, None, Fraction(5, 4)),))
    twin.advance(T0 + 30 * DAY)
    assert not kinds(twin)  # the estimate follows programmed delivery [S10]
    assert twin.truth().reservoir_volume < twin.view().reservoir.estimated
    rec = reconcile(twin)
    assert rec.discrepancy is Discrepancy.LESS_THAN_EXPECTED
    assert rec.flagged
    error = rec.reconciliation.delivery_error
    assert error is not None and abs(error - Fraction(1, 4)) < Fraction(1, 1000)


def test_under_infusion_is_flagged_as_more_than_expected_at_refill():
    twin = implant(baclofen(1000), faults=(RateError(T0, None, Fraction(3, 4)),))
    twin.advance(T0 + 30 * DAY)
    rec = reconcile(twin)
    assert rec.discrepancy is Discrepancy.MORE_THAN_EXPECTED
    assert rec.difference.ml > 0


def test_a_rate_error_within_the_accuracy_band_and_volume_limit_is_not_flagged():
    twin = implant(baclofen(400), faults=(RateError(T0, None, Fraction(105, 100)),))
    twin.advance(T0 + 30 * DAY)
    rec = reconcile(twin)
    assert rec.discrepancy is Discrepancy.NONE
    assert not rec.flagged


# --- motor stall ---------------------------------------------------------------------


def test_transient_motor_stall_raises_a_critical_alarm_that_clears_when_the_motor_turns():
    start = T0 + 2 * DAY
    twin = implant(baclofen(400), faults=(MotorStall(start, start + timedelta(hours=5)),))
    twin.advance(start + timedelta(hours=1))
    assert AlarmKind.MOTOR_STALL in kinds(twin)
    assert Hold.MOTOR_STALL in twin.view().therapy.holds
    stalled_at = twin.truth().pumped_volume
    twin.advance(start + timedelta(hours=4))
    assert twin.truth().pumped_volume == stalled_at  # nothing moves while stalled
    twin.advance(start + timedelta(hours=7))
    assert AlarmKind.MOTOR_STALL not in kinds(twin)
    log = [e.kind for e in twin.view().events]
    assert LogKind.ALARM_RAISED in log and LogKind.ALARM_CLEARED in log
    # The firmware did not count what it could not deliver: no false discrepancy.
    rec = reconcile(twin)
    assert rec.discrepancy is Discrepancy.NONE


def test_a_stall_is_detected_at_the_first_stroke_after_it_begins():
    start = T0 + timedelta(hours=10)
    twin = implant(baclofen(400), faults=(MotorStall(start),))
    twin.advance(start + timedelta(hours=1))
    stall = next(a for a in twin.view().alarms if a.kind is AlarmKind.MOTOR_STALL)
    # 0.2 mL/day is one 0.5 µL stroke every 216 s.
    assert start < stall.raised_at <= start + timedelta(seconds=216)


def test_permanent_motor_stall_keeps_alarming_and_the_post_mri_check_says_so():
    start = T0 + DAY
    twin = implant(baclofen(400), faults=(MotorStall(start),))
    twin.advance(start + 5 * DAY)
    assert AlarmKind.MOTOR_STALL in kinds(twin)
    check = accepted(clinician(twin, PostMriCheck())).payload
    assert check.motor_ok is False


# --- catheter occlusion --------------------------------------------------------------


def test_catheter_occlusion_delivers_nothing_and_shows_as_more_than_expected():
    start = T0 + 5 * DAY
    twin = implant(baclofen(1000), faults=(CatheterOcclusion(start, None, Fraction(0)),))
    twin.advance(start)
    delivered = twin.truth().delivered_dose
    twin.advance(start + 20 * DAY)
    assert twin.truth().delivered_dose == delivered
    assert not kinds(twin)  # the firmware cannot see an occlusion
    rec = reconcile(twin)
    assert rec.discrepancy is Discrepancy.MORE_THAN_EXPECTED


# --- pocket fill -----------------------------------------------------------------------


def test_pocket_fill_puts_the_drug_in_the_pocket_and_the_next_refill_finds_less():
    visit = T0 + 30 * DAY
    twin = implant(baclofen(600), faults=(PocketFill(visit, visit + timedelta(minutes=30)),))
    twin.advance(visit)
    first = twin.refill_visit(Volume.from_ml(20))
    assert first.injection.into_pocket == Volume.from_ml(20)
    assert twin.truth().pocket_dose.mcg == 40_000
    assert accepted(first.response).payload.discrepancy is Discrepancy.NONE
    twin.advance(visit + 30 * DAY)
    assert twin.truth().ran_dry and not kinds(twin)  # no low-reservoir alarm: it is calculated
    rec = reconcile(twin)
    # Nothing came back: an empty reservoir, dated from the fill that went into the pocket.
    assert rec.discrepancy is Discrepancy.EMPTY_RESERVOIR
    assert rec.aspirated == Volume.zero()
    ran_dry = rec.reconciliation.ran_dry
    assert ran_dry is not None and ran_dry.evidence is DryEvidence.UNEXPLAINED_LOSS
    assert ran_dry.earliest_at == visit


# --- early battery depletion ------------------------------------------------------------


def test_early_battery_depletion_brings_eri_before_the_projection():
    twin = implant(baclofen(400), faults=(EarlyBatteryDepletion(T0, None, Fraction(20)),))
    projected = project_battery("peristaltic-20", T0, VolumeRate(Fraction(1, 5)))
    assert projected.eri_at is not None
    twin.advance(T0 + timedelta(days=150))
    battery = twin.view().battery
    assert battery.state is not BatteryState.NORMAL
    assert battery.eri_at is not None and battery.eri_at < projected.eri_at - timedelta(days=365)


def test_low_battery_reset_drops_to_minimum_rate_with_a_critical_alarm():
    twin = implant(baclofen(400), faults=(EarlyBatteryDepletion(T0, None, Fraction(40)),))
    twin.advance(T0 + timedelta(days=150))
    view = twin.view()
    assert AlarmKind.LOW_BATTERY_RESET in kinds(twin)
    assert view.therapy.state is TherapyState.MINIMUM_RATE
    assert view.battery.state is BatteryState.LOW_BATTERY_RESET
    assert any(e.kind is LogKind.BOOT and e.detail("cause") == "low_battery" for e in view.events)
    assert rejected(clinician(twin, Resume())).reason is Rejection.INVALID_STATE


# --- memory corruption --------------------------------------------------------------


def test_memory_corruption_puts_the_pump_in_the_safe_state_with_a_critical_alarm():
    hit = T0 + 3 * DAY
    twin = implant(baclofen(400), faults=(MemoryCorruption(hit, None, "prescription"),))
    twin.advance(hit + timedelta(hours=2))
    view = twin.view()
    assert AlarmKind.MEMORY_ERROR in kinds(twin)
    assert view.therapy.state is TherapyState.MINIMUM_RATE
    rx = baclofen(400)
    accepted(clinician(twin, WritePrescription(rx, rx.content_hash)))
    assert AlarmKind.MEMORY_ERROR not in kinds(twin)
    assert twin.view().therapy.state is TherapyState.RUNNING


# --- clock drift -------------------------------------------------------------------------


def test_clock_drift_moves_the_schedule_and_shows_at_interrogation():
    twin = implant(baclofen_flex(), faults=(ClockDrift(T0, None, Fraction(500)),))  # +500 ppm
    twin.advance(T0 + timedelta(days=100))
    report = accepted(clinician(twin, Interrogate())).payload
    drift = report.local_time - twin.now
    assert drift == timedelta(seconds=4320)  # 500 ppm of 100 days: 72 minutes fast
    accepted(clinician(twin, SetClock(twin.now)))
    assert twin.local_now == twin.now


# --- MRI ---------------------------------------------------------------------------------


def test_mri_suspends_infusion_and_the_rotor_may_stay_bound_for_hours():
    scan = T0 + 2 * DAY
    fault = MriExposure(scan, scan + timedelta(minutes=30), Duration.from_hours(6))
    twin = implant(baclofen(400), faults=(fault,))
    twin.advance(scan + timedelta(minutes=10))
    assert Hold.MRI_FIELD in twin.view().therapy.holds
    twin.advance(scan + timedelta(hours=1))
    assert AlarmKind.MOTOR_STALL in kinds(twin)  # gear binding [S39]
    twin.advance(scan + timedelta(hours=8))
    assert AlarmKind.MOTOR_STALL not in kinds(twin)
    assert twin.view().therapy.delivering


def test_a_pump_alarming_when_the_field_came_waits_to_be_interrogated():
    scan = T0 + 16 * DAY  # the low-reservoir alarm sounds from day 15
    fault = MriExposure(scan, scan + timedelta(minutes=30), Duration.zero())
    twin = implant(baclofen(400), fill_ml=5, faults=(fault,))
    twin.advance(scan + timedelta(hours=5))
    assert Hold.MRI_LATCH in twin.view().therapy.holds
    assert not twin.view().therapy.delivering
    accepted(clinician(twin, Interrogate()))
    assert twin.view().therapy.delivering


def test_a_patient_controller_status_request_also_releases_the_post_mri_hold():
    scan = T0 + 16 * DAY
    fault = MriExposure(scan, scan + timedelta(minutes=30), Duration.zero())
    twin = implant(morphine_pca(), fill_ml=5, faults=(fault,))
    twin.advance(scan + timedelta(hours=1))
    from thecal.pump.commands import StatusSummary

    accepted(patient(twin, StatusSummary()))
    assert Hold.MRI_LATCH not in twin.view().therapy.holds


def test_valve_pump_flow_activated_valve_lets_at_most_10_microlitres_then_needs_a_reset():
    scan = T0 + DAY
    fault = MriExposure(scan, scan + timedelta(minutes=30), Duration.zero())
    twin = implant(baclofen(400), model="valve-accumulator-20", faults=(fault,))
    unexposed = implant(baclofen(400), model="valve-accumulator-20")
    unexposed.advance(scan)
    before = unexposed.truth().pumped_volume  # the same pump up to the scan
    twin.advance(scan + timedelta(hours=2))
    assert twin.truth().pumped_volume - before == Volume.from_ul(10)
    assert AlarmKind.FLOW_VALVE_CLOSED in kinds(twin)
    accepted(clinician(twin, ResetFlowValve()))
    assert AlarmKind.FLOW_VALVE_CLOSED not in kinds(twin)
    twin.advance(twin.now + timedelta(hours=2))
    assert twin.truth().pumped_volume - before > Volume.from_ul(10)


def test_valve_pump_without_a_flow_activated_valve_discharges_its_reservoir_in_mri():
    profile = device_profile("valve-accumulator-20")
    no_fav = dataclasses.replace(
        profile, flow_activated_valve=dataclasses.replace(profile.flow_activated_valve, value=False)
    )
    twin = implant(baclofen(400), model="valve-accumulator-20")
    twin.hardware.profile = no_fav
    scan = T0 + DAY
    twin.advance(scan)
    twin.inject_fault(MriExposure(scan, scan + timedelta(minutes=30), Duration.zero()))
    assert twin.truth().reservoir_volume == Volume.zero()  # the overdose hazard [S31]


def test_constant_flow_pump_is_unaffected_by_mri():
    scan = T0 + DAY
    fault = MriExposure(scan, scan + timedelta(hours=1), Duration.from_hours(5))
    twins = [
        PumpTwin.implant(
            "constant-flow-30",
            T0,
            drug="morphine",
            concentration=Concentration.from_mg_per_ml(1),
            fill=Volume.from_ml(30),
            faults=faults,
        )
        for faults in ((), (fault,))
    ]
    for twin in twins:
        twin.advance(T0 + 3 * DAY)
    assert twins[0].truth().pumped_volume == twins[1].truth().pumped_volume


# --- power loss ------------------------------------------------------------------------------


def test_power_loss_restarts_from_memory_keeping_the_prescription_and_cancelling_a_bolus():
    rx = morphine_pca()
    twin = implant(rx)
    twin.advance(T0 + timedelta(hours=4))
    accepted(patient(twin, PatientBolusRequest()))
    twin.inject_fault(PowerLoss(twin.now + timedelta(minutes=2)))
    twin.advance(twin.now + timedelta(minutes=5))
    view = twin.view()
    assert view.prescription == rx
    assert view.bolus is None
    assert view.events[-1].kind is LogKind.BOOT
    assert view.therapy.state is TherapyState.RUNNING
