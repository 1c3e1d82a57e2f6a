"""What the firmware shows: the interrogation report, the patient's status, and their
parts (therapy, reservoir with its projection, battery, alarms, patient-bolus
availability). Reading a view changes nothing."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from thecal.pump.alarms import ALARM_CATALOGUE, Priority
from thecal.pump.bolus import starts_in_window
from thecal.pump.firmware.boluses import patient_check
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import delivering, holds
from thecal.pump.payloads import (
    AlarmStatus,
    BatteryState,
    BatteryStatus,
    BolusStatus,
    InterrogationReport,
    PatientBolusAvailability,
    PatientStatus,
    ReservoirStatus,
    TherapyState,
    TherapyStatus,
)
from thecal.pump.timebase import DAY_US, duration_us
from thecal.therapy.prescription import Mode
from thecal.therapy.quantities import DoseRate, Volume, VolumeRate

__all__ = [
    "alarm_statuses",
    "availability",
    "battery_status",
    "patient_status",
    "programmed_rate",
    "projection",
    "report",
    "reservoir_status",
    "therapy_status",
]


def programmed_rate(fw: FirmwareCore) -> VolumeRate:
    """The programmed volume rate right now (0 while a hold stops delivery)."""
    if not delivering(fw):
        return VolumeRate(Fraction(0))
    rate, _ = fw.programmed().rate_at(fw.ram.ticks)
    return VolumeRate(rate * DAY_US)


def projection(fw: FirmwareCore) -> tuple[datetime | None, datetime | None]:
    """Projected low-reservoir alarm and empty-level times at the programmed rate (the
    schedule without a running bolus; none for a single-bolus prescription), rounded
    down to the microsecond."""
    r = fw.ram
    rx = r.prescription
    if r.therapy.state is TherapyState.RUNNING and rx is not None and rx.mode is Mode.SINGLE_BOLUS:
        return None, None
    schedule = fw.programmed(with_bolus=False)
    now = r.ticks

    def when(volume: Fraction) -> datetime | None:
        if volume <= 0:
            return None
        moment = schedule.time_to_move(now, volume)
        return None if moment is None else fw.local(now + int(moment - now))

    low = r.therapy.estimate - r.settings.low_reservoir_threshold.amount
    return when(low), when(r.therapy.estimate - fw.empty)


def availability(fw: FirmwareCore) -> PatientBolusAvailability | None:
    """Whether a patient bolus would be given now, and why not (None if none is prescribed)."""
    r = fw.ram
    rx = r.prescription
    if rx is None or rx.patient_bolus is None:
        return None
    pb = rx.patient_bolus
    problem, verdict = patient_check(fw)
    count = len(starts_in_window(r.therapy.patient_starts, r.ticks))
    if problem is not None:
        return PatientBolusAvailability(
            False,
            problem.reason,
            problem.message,
            pb.dose,
            count,
            pb.max_per_24h,
            problem.retry_after,
        )
    assert verdict is not None
    retry = fw.local(verdict.retry_after) if verdict.retry_after is not None else None
    return PatientBolusAvailability(
        verdict.allowed, verdict.reason, verdict.message, pb.dose, count, pb.max_per_24h, retry
    )


def alarm_statuses(fw: FirmwareCore) -> tuple[AlarmStatus, ...]:
    """Every active alarm with its tones sounded so far and its next tone."""
    r = fw.ram
    out = []
    for alarm in r.therapy.alarms:
        spec = ALARM_CATALOGUE[alarm.kind]
        repeat = (
            r.settings.critical_repeat
            if spec.priority is Priority.CRITICAL
            else fw.profile.non_critical_repeat.value
        )
        every = duration_us(repeat)
        elapsed = r.ticks - alarm.raised_ticks
        sounded = elapsed // every + 1 if alarm.acknowledged_at is None else 0
        next_tone = None
        if alarm.sounding:
            next_tone = fw.local(alarm.raised_ticks + (elapsed // every + 1) * every)
        if alarm.acknowledged_ticks is not None:
            acked_ticks = alarm.acknowledged_ticks
            sounded = max(0, acked_ticks - alarm.raised_ticks) // every + 1
        out.append(
            AlarmStatus(
                alarm.kind,
                spec.priority,
                spec.tones,
                spec.response,
                alarm.raised_at,
                alarm.acknowledged_at,
                next_tone,
                sounded,
            )
        )
    return tuple(out)


def therapy_status(fw: FirmwareCore) -> TherapyStatus:
    r = fw.ram
    rate = programmed_rate(fw)
    return TherapyStatus(
        r.therapy.state,
        r.therapy.cause.value.replace("_", " "),
        rate.amount > 0,
        holds(fw),
        rate,
        DoseRate(rate.amount * r.therapy.concentration.amount),
    )


def battery_status(fw: FirmwareCore) -> BatteryStatus:
    r = fw.ram
    if fw.profile.battery is None:
        return BatteryStatus(BatteryState.NO_BATTERY, None, None, None)
    if r.therapy.state is TherapyState.END_OF_SERVICE:
        state = BatteryState.END_OF_SERVICE
    elif r.therapy.low_battery_reset:
        state = BatteryState.LOW_BATTERY_RESET
    elif r.therapy.eri_ticks is not None:
        state = BatteryState.ERI
    else:
        state = BatteryState.NORMAL
    level = fw.hw.battery_level(r.ticks)
    return BatteryStatus(
        state,
        level,
        fw.local(r.therapy.eri_ticks) if r.therapy.eri_ticks is not None else None,
        fw.local(r.therapy.eos_ticks) if r.therapy.eos_ticks is not None else None,
    )


def reservoir_status(fw: FirmwareCore) -> ReservoirStatus:
    r = fw.ram
    low_at, empty_at = projection(fw)
    return ReservoirStatus(
        drug=r.therapy.drug,
        concentration=r.therapy.concentration,
        estimated=Volume(r.therapy.estimate),
        low_threshold=r.settings.low_reservoir_threshold,
        empty_level=Volume(fw.empty),
        capacity=fw.profile.capacity,
        filled_at=fw.local(r.therapy.fill_ticks),
        fill_volume=Volume(r.therapy.fill_volume),
        low_alarm_at=low_at,
        empty_at=empty_at,
        awaiting_prescription=r.therapy.awaiting_prescription,
    )


def report(fw: FirmwareCore, log_since: int | None = None) -> InterrogationReport:
    """The full interrogation report (events from `log_since` on)."""
    r = fw.ram
    overlay = r.overlay
    bolus = None
    if overlay is not None:
        bolus = BolusStatus(
            overlay.kind,
            overlay.volume,
            overlay.dose,
            fw.local(overlay.start),
            fw.local(overlay.end),
        )
    return InterrogationReport(
        model_id=fw.profile.id,
        serial=fw.serial,
        local_time=fw.local(),
        therapy=therapy_status(fw),
        prescription=r.prescription,
        prescription_hash=r.prescription.content_hash if r.prescription else None,
        reservoir=reservoir_status(fw),
        battery=battery_status(fw),
        alarms=alarm_statuses(fw),
        bolus=bolus,
        patient_bolus=availability(fw),
        settings=r.settings,
        events=fw.log.events(log_since),
        log_first_seq=fw.log.first_seq,
        log_next_seq=fw.log.next_seq,
    )


def patient_status(fw: FirmwareCore) -> PatientStatus:
    """What the patient controller shows."""
    r = fw.ram
    rate = programmed_rate(fw)
    return PatientStatus(
        local_time=fw.local(),
        state=r.therapy.state,
        delivering=rate.amount > 0,
        estimated_reservoir=Volume(r.therapy.estimate),
        low_reservoir=r.therapy.estimate <= r.settings.low_reservoir_threshold.amount,
        alarms=alarm_statuses(fw),
        patient_bolus=availability(fw),
    )
