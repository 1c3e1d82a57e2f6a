"""The firmware: what the pump believes and decides.

It keeps the stored prescription and runs it on the pump's local clock, estimates the
reservoir from programmed delivery (as real pumps do [S10]), raises alarms from the
catalogue, logs every event, keeps its state in checksummed non-volatile memory, and
executes commands. It talks to the hardware only through `HardwareInterface`.

Time advances only through `run_until(ticks)`, jumping from event to event (schedule
changes, bolus ends, threshold crossings, self-checks); nothing ticks per second.

Two integration modes give the same programmed volume at the same event times:

* `SimulationMode.STROKES` walks the day profile's segments (`thecal.therapy.delivery.
  day_profile`) and moves whole strokes, carrying the fraction of a stroke not yet
  moved, so delivery trails programmed volume by less than one stroke and never runs
  ahead of it;
* `SimulationMode.ANALYTIC` integrates the schedule in closed form with the therapy
  core's `VolumePattern` and moves exactly the programmed volume.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

from thecal.pump import wire as _wire  # noqa: F401  (registers the command types with the codec)
from thecal.pump.alarms import (
    ALARM_CATALOGUE,
    ActiveAlarm,
    AlarmKind,
    DeliveryResponse,
    Priority,
    alarm_kind,
)
from thecal.pump.bolus import BolusVerdict, judge_patient_bolus, starts_in_window
from thecal.pump.codec import decode_bytes, encode_bytes
from thecal.pump.commands import (
    MAX_BOLUS_DURATION,
    Accepted,
    AcknowledgeAlarm,
    AlarmTest,
    BridgeBolus,
    ClinicianBolus,
    Command,
    Interrogate,
    MinimumRate,
    PatientBolusRequest,
    PostMriCheck,
    PrimingBolus,
    RegisterRefill,
    Rejected,
    Rejection,
    Request,
    ResetFlowValve,
    Response,
    Resume,
    SetAlarmSettings,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
    permitted,
)
from thecal.pump.eventlog import EventLog, LogEvent, LogKind
from thecal.pump.hardware import DriveStatus, HardwareInterface
from thecal.pump.nvm import RecordCorrupt
from thecal.pump.payloads import (
    AlarmAcknowledged,
    AlarmSettings,
    AlarmStatus,
    AlarmTestResult,
    BatteryState,
    BatteryStatus,
    BolusDenial,
    BolusGrant,
    BolusKind,
    BolusStatus,
    ClockChange,
    DeliveryChange,
    FlowValveReset,
    HardLimitRefusal,
    Hold,
    InterrogationReport,
    MotorCheck,
    PatientBolusAvailability,
    PatientStatus,
    PrescriptionStored,
    RefillFinding,
    RefillReconciliation,
    ReservoirStatus,
    TherapyState,
    TherapyStatus,
)
from thecal.pump.profiles import DeviceProfile
from thecal.pump.records import (
    ActiveBolus,
    BootCause,
    Cause,
    FirmwareRam,
    RequestRecord,
    StoredPrescription,
    TherapyRecord,
)
from thecal.pump.timebase import DAY_US, EPOCH, duration_us, from_us, to_us, us_duration
from thecal.therapy.delivery import day_profile, programmed_daily_dose
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.projection import VolumePattern, constant_pattern, prescription_pattern
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume, VolumeRate
from thecal.therapy.safety import evaluate_hard_limits

__all__ = ["Firmware", "FirmwareRestart", "SimulationMode"]

INF = 1 << 62
_READ_ONLY = (Interrogate, StatusSummary)
_CRITICAL_RECORDS = ("prescription", "settings", "therapy")


class SimulationMode(StrEnum):
    STROKES = "strokes"
    ANALYTIC = "analytic"


class FirmwareRestart(Exception):
    """The electronics reset (low battery); the twin restarts the firmware from memory."""

    def __init__(self, cause: BootCause) -> None:
        self.cause = cause
        super().__init__(f"firmware restart: {cause.value}")


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


@lru_cache(maxsize=256)
def _day_table(
    prescription: Prescription, minimum_rate: VolumeRate
) -> tuple[tuple[int, ...], tuple[Fraction, ...]]:
    """Segment starts (µs after local midnight) and volume rates (mL/µs) of a day."""
    profile = day_profile(prescription, minimum_rate)
    concentration = prescription.concentration.amount
    starts = tuple(segment.start * 1_000_000 for segment in profile.segments)
    rates = tuple(segment.dose_rate.amount / concentration / DAY_US for segment in profile.segments)
    return starts, rates


@lru_cache(maxsize=256)
def _pattern(prescription: Prescription, minimum_rate: VolumeRate) -> VolumePattern:
    """The repeating schedule as a closed-form pattern from local midnight at `EPOCH`."""
    return prescription_pattern(prescription, EPOCH, minimum_rate, include_patient_boluses=False)


class Firmware:
    """The pump firmware. Build it with `implant` (first start) or `boot` (restart from
    non-volatile memory); advance it with `run_until`; talk to it with `handle`."""

    def __init__(
        self,
        profile: DeviceProfile,
        hardware: HardwareInterface,
        library: DrugLibrary,
        mode: SimulationMode,
        ram: FirmwareRam,
        serial: str,
        on_log: Callable[[LogEvent, int], None] | None = None,
    ) -> None:
        self.profile = profile
        self.hw = hardware
        self.library = library
        self.mode = mode
        self.ram = ram
        self.serial = serial
        self.on_log = on_log
        self.log = EventLog(
            hardware.memory, profile.log_capacity.value, ram.log_first, ram.log_next
        )
        self.electronic = profile.electronics
        self._stroke = profile.stroke_volume.value.ml
        self._min_rate = profile.model.minimum_rate.value
        self._min_rate_us = self._min_rate.amount / DAY_US
        self._check_us = duration_us(profile.self_check_interval.value)
        self._checkpoint_us = duration_us(profile.checkpoint_interval.value)
        self._empty = profile.empty_level.value.amount

    # ------------------------------------------------------------------ creation
    @classmethod
    def implant(
        cls,
        profile: DeviceProfile,
        hardware: HardwareInterface,
        library: DrugLibrary,
        mode: SimulationMode,
        ticks: int,
        drug: str,
        concentration: Concentration,
        fill: Volume,
        prescription: Prescription | None,
        serial: str,
        on_log: Callable[[LogEvent, int], None] | None = None,
    ) -> Firmware:
        """First start after implant: commit the initial records and start therapy.

        `ValueError` if the prescription does not match the fill or fails a hard limit
        (a programming mistake at implant is misuse, not an expected rejection)."""
        settings = AlarmSettings(
            profile.model.default_low_reservoir_alarm.value, profile.critical_repeat.value
        )
        electronic = profile.electronics
        if not electronic and prescription is not None:
            raise ValueError(f"{profile.model.label} cannot be programmed; omit the prescription")
        state = TherapyState.CONSTANT_FLOW if not electronic else TherapyState.STOPPED
        cause = Cause.CONSTANT_FLOW if not electronic else Cause.IMPLANT
        if prescription is not None:
            state, cause = TherapyState.RUNNING, Cause.PRESCRIPTION
        ram = FirmwareRam(
            ticks=ticks,
            clock_offset=0,
            state=state,
            cause=cause,
            prescription=prescription,
            rx_started=ticks,
            drug=drug.strip().lower(),
            concentration=concentration,
            estimate=fill.amount,
            fill_volume=fill.amount,
            fill_ticks=ticks,
            settings=settings,
            next_check=ticks + duration_us(profile.self_check_interval.value),
            next_checkpoint=ticks + duration_us(profile.checkpoint_interval.value),
            lockout_from=ticks,
        )
        firmware = cls(profile, hardware, library, mode, ram, serial, on_log)
        if prescription is not None:
            problem = firmware._prescription_problem(prescription)
            if problem is not None:
                raise ValueError(f"the implant prescription is refused: {problem.message}")
        firmware._commit_prescription(prescription)
        firmware._commit("settings", settings)
        firmware._save_therapy()
        firmware._log(
            LogKind.IMPLANT,
            f"implanted: {profile.model.label}, {fill} of {ram.drug} at {concentration}",
            drug=ram.drug,
            concentration=str(concentration),
            fill=str(fill),
        )
        return firmware

    @classmethod
    def boot(
        cls,
        profile: DeviceProfile,
        hardware: HardwareInterface,
        library: DrugLibrary,
        mode: SimulationMode,
        ticks: int,
        cause: BootCause,
        serial: str,
        on_log: Callable[[LogEvent, int], None] | None = None,
    ) -> Firmware:
        """Restart from non-volatile memory after a power loss or reset. Anything not
        committed is gone: a running bolus, the fraction of a stroke, the reservoir
        estimate since the last checkpoint. A record that fails its checksum puts the
        pump in the defined safe state (minimum rate) with a critical memory alarm."""
        nvm = hardware.memory
        problems: list[str] = []
        committed: dict[str, int] = {}

        def read(key: str) -> object | None:
            try:
                found = nvm.read_with_seq(key)
            except RecordCorrupt:
                problems.append(key)
                return None
            if found is None:
                return None
            committed[key] = found[0]
            value: object = decode_bytes(found[1])
            return value

        stored = read("prescription")
        settings = read("settings")
        therapy = read("therapy")
        prescription: Prescription | None = None
        if isinstance(stored, StoredPrescription):
            prescription = stored.prescription
            if prescription is not None and prescription.content_hash != stored.content_hash:
                problems.append("prescription (hash)")
                prescription = None
        if not isinstance(settings, AlarmSettings):
            settings = AlarmSettings(
                profile.model.default_low_reservoir_alarm.value, profile.critical_repeat.value
            )
            if "settings" not in problems:
                problems.append("settings (missing)")
        log = EventLog.recover(nvm, profile.log_capacity.value)
        if isinstance(therapy, TherapyRecord):
            ram = FirmwareRam(
                ticks=ticks,
                clock_offset=therapy.clock_offset,
                state=therapy.state,
                cause=therapy.cause,
                prescription=prescription,
                rx_started=therapy.rx_started,
                drug=therapy.drug,
                concentration=therapy.concentration,
                estimate=therapy.estimate,
                fill_volume=therapy.fill_volume,
                fill_ticks=therapy.fill_ticks,
                settings=settings,
                alarms=therapy.alarms,
                awaiting_prescription=therapy.awaiting_prescription,
                low_battery_reset=therapy.low_battery_reset,
                eri_ticks=therapy.eri_ticks,
                eos_ticks=therapy.eos_ticks,
                patient_starts=therapy.patient_starts,
                lockout_from=therapy.lockout_from,
                mri_latched=therapy.mri_latched,
                valve_closed=therapy.valve_closed,
                programmed=therapy.programmed,
            )
        else:
            if "therapy" not in problems:
                problems.append("therapy (missing)")
            ram = FirmwareRam(
                ticks=ticks,
                clock_offset=0,
                state=TherapyState.MINIMUM_RATE,
                cause=Cause.MEMORY_ERROR,
                prescription=prescription,
                rx_started=ticks,
                drug="unknown",
                concentration=(
                    prescription.concentration if prescription else Concentration(Fraction(1))
                ),
                estimate=Fraction(0),
                fill_volume=Fraction(0),
                fill_ticks=ticks,
                settings=settings,
            )
        ram.log_first, ram.log_next = log.first_seq, log.next_seq
        ram.committed = committed
        ram.next_check = ticks + duration_us(profile.self_check_interval.value)
        ram.next_checkpoint = ticks + duration_us(profile.checkpoint_interval.value)
        firmware = cls(profile, hardware, library, mode, ram, serial, on_log)
        firmware._recover_requests()
        firmware._log(
            LogKind.BOOT,
            f"restart after {cause.value.replace('_', ' ')}"
            + (f"; unreadable records: {', '.join(problems)}" if problems else ""),
            cause=cause.value,
            unreadable=",".join(problems),
        )
        if not profile.electronics:
            return firmware
        if problems:
            firmware._enter_memory_error(", ".join(problems))
        if cause is BootCause.LOW_BATTERY and not ram.low_battery_reset:
            ram.low_battery_reset = True
            firmware._raise(AlarmKind.LOW_BATTERY_RESET, cause=Cause.LOW_BATTERY_RESET)
        elif ram.low_battery_reset and ram.state is TherapyState.RUNNING:
            firmware._set_state(TherapyState.MINIMUM_RATE, Cause.LOW_BATTERY_RESET)
        firmware._save_therapy()
        return firmware

    # ------------------------------------------------------------------ clocks
    def local(self, ticks: int | None = None) -> datetime:
        """The pump's local wall-clock time at `ticks` (now by default)."""
        return from_us((self.ram.ticks if ticks is None else ticks) + self.ram.clock_offset)

    @property
    def ticks(self) -> int:
        return self.ram.ticks

    # ------------------------------------------------------------------ running
    def run_until(self, end: int) -> None:
        """Advance to oscillator tick `end`, delivering and handling every event on the way."""
        while True:
            self._process_due()
            if self.ram.ticks >= end:
                return
            self._deliver_until(min(end, self._next_timed_event()))

    def hardware_changed(self) -> None:
        """Called when the hardware's conditions changed (a fault boundary): poll the
        sensors and probe the motor at the next stroke."""
        r = self.ram
        r.probe = True
        if not self.electronic:
            return
        field = self.hw.magnet_detected(r.ticks)
        if field and not r.field_present:
            r.field_present = True
            self._cancel_bolus("a strong magnetic field suspended infusion")
            self._log(LogKind.MRI_FIELD, "strong magnetic field detected: infusion suspended")
            sounding = [a.kind.value for a in r.alarms if a.sounding]
            if self.profile.mri_alarm_latch.value and sounding and not r.mri_latched:
                r.mri_latched = True
                self._log(
                    LogKind.MRI_HOLD,
                    "the field came while an alarm was sounding: infusion will not resume "
                    "until the pump is interrogated",
                    alarms=",".join(sounding),
                )
            self._save_therapy()
        elif not field and r.field_present:
            r.field_present = False
            self._log(LogKind.MRI_FIELD, "magnetic field gone")
        if self.hw.flow_valve_closed() and not r.valve_closed:
            r.valve_closed = True
            self._raise(AlarmKind.FLOW_VALVE_CLOSED)

    def _next_timed_event(self) -> int:
        r = self.ram
        t = r.next_check if self.electronic else INF
        if r.overlay is not None:
            t = min(t, r.overlay.end)
        end = self._single_bolus_end()
        if end is not None:
            t = min(t, end)
        if r.eos_ticks is not None and r.state is not TherapyState.END_OF_SERVICE:
            t = min(t, r.eos_ticks)
        return t

    def _single_bolus_end(self) -> int | None:
        r = self.ram
        rx = r.prescription
        if r.state is TherapyState.RUNNING and rx is not None and rx.mode is Mode.SINGLE_BOLUS:
            assert rx.bolus is not None
            return r.rx_started + duration_us(rx.bolus.duration)
        return None

    def _process_due(self) -> None:
        r = self.ram
        for _ in range(64):  # each pass resolves at least one due item
            now = r.ticks
            overlay = r.overlay
            if overlay is not None and overlay.end <= now:
                self._end_bolus(overlay)
                continue
            end = self._single_bolus_end()
            if end is not None and end <= now:
                self._set_state(TherapyState.STOPPED, Cause.SINGLE_BOLUS_DONE)
                self._save_therapy()
                continue
            if (
                r.eos_ticks is not None
                and now >= r.eos_ticks
                and r.state is not TherapyState.END_OF_SERVICE
            ):
                self._raise(AlarmKind.EOS, cause=Cause.END_OF_SERVICE)
                continue
            if self.electronic and now >= r.next_check:
                r.next_check += self._check_us * max(1, (now - r.next_check) // self._check_us + 1)
                self._self_check()
                continue
            if self.electronic and self._threshold_due():
                continue
            return
        raise RuntimeError("firmware event processing did not settle")  # a bug, not a state

    def _threshold_due(self) -> bool:
        r = self.ram
        active = self._active_kinds()
        if r.estimate <= self._empty and AlarmKind.EMPTY_RESERVOIR not in active:
            self._raise(AlarmKind.EMPTY_RESERVOIR, cause=Cause.EMPTY_RESERVOIR)
            return True
        low = r.settings.low_reservoir_threshold.amount
        if r.estimate <= low and AlarmKind.LOW_RESERVOIR not in active:
            self._raise(AlarmKind.LOW_RESERVOIR)
            return True
        return False

    def _next_threshold(self) -> Fraction | None:
        """The estimate level whose crossing is the next alarm (None if none ahead)."""
        if not self.electronic:
            return None
        r = self.ram
        active = self._active_kinds()
        levels = []
        if AlarmKind.LOW_RESERVOIR not in active:
            levels.append(r.settings.low_reservoir_threshold.amount)
        if AlarmKind.EMPTY_RESERVOIR not in active:
            levels.append(self._empty)
        ahead = [level for level in levels if level < r.estimate]
        return max(ahead) if ahead else None

    def _delivering(self) -> bool:
        r = self.ram
        if r.field_present or r.mri_latched or r.motor_stalled or r.valve_closed:
            return False
        if r.overlay is not None:
            return True
        return r.state in (
            TherapyState.RUNNING,
            TherapyState.MINIMUM_RATE,
            TherapyState.CONSTANT_FLOW,
        )

    def _deliver_until(self, target: int) -> None:
        r = self.ram
        if not self._delivering():
            r.ticks = target
            return
        if self.mode is SimulationMode.STROKES:
            self._strokes_until(target)
        else:
            self._analytic_until(target)

    # -- stroke-level integration: walk the day profile's segments ---------------------
    def _strokes_until(self, target: int) -> None:
        r = self.ram
        a = r.ticks
        while a < target:
            rate, until = self._rate_segment(a)
            b = min(target, until)
            stop = False
            if rate > 0:
                level = self._next_threshold()
                if level is not None:
                    need = r.estimate - level
                    if need <= rate * (b - a):
                        b = a + _ceil(need / rate)
                        stop = True
                if r.probe:
                    to_stroke = self._stroke - r.carry
                    if to_stroke <= rate * (b - a):
                        b = min(b, a + _ceil(to_stroke / rate))
                        stop = True
                r.ticks = b  # the strokes complete at `b`: what they raise happens then
                interrupted = self._accrue(rate * (b - a), b)
                stop = stop or interrupted
            a = b
            r.ticks = b
            if stop:
                return
        r.ticks = target

    def _rate_segment(self, a: int) -> tuple[Fraction, int]:
        """The programmed volume rate (mL/µs) at tick `a` and the tick it changes."""
        overlay = self.ram.overlay
        if overlay is not None and overlay.replaces_base:
            return overlay.rate_per_us, overlay.end
        rate, until = self._base_segment(a)
        if overlay is not None:
            return rate + overlay.rate_per_us, min(until, overlay.end)
        return rate, until

    def _base_segment(self, a: int) -> tuple[Fraction, int]:
        r = self.ram
        state = r.state
        if state is TherapyState.RUNNING and r.prescription is not None:
            rx = r.prescription
            if rx.mode is Mode.SINGLE_BOLUS:
                end = self._single_bolus_end()
                assert end is not None and rx.bolus is not None
                if a >= end:
                    return Fraction(0), INF
                volume = rx.bolus.dose.amount / rx.concentration.amount
                return volume / (end - r.rx_started), end
            starts, rates = _day_table(rx, self._min_rate)
            local = a + r.clock_offset
            of_day = local % DAY_US
            index = bisect_right(starts, of_day) - 1
            end_of = starts[index + 1] if index + 1 < len(starts) else DAY_US
            return rates[index], a + (end_of - of_day)
        if state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
            return self._min_rate_us, INF
        return Fraction(0), INF

    # -- analytic integration: the closed-form VolumePattern --------------------------
    def _analytic_until(self, target: int) -> None:
        r = self.ram
        a = r.ticks
        b = target
        level = self._next_threshold()
        if level is not None:
            crossing = self._analytic_crossing(a, target, r.estimate - level)
            if crossing is not None:
                b = min(target, _ceil(crossing))
        volume = self._analytic_volume(a, b)
        r.ticks = b
        self._accrue(volume, b)

    def _analytic_volume(self, a: int, b: int) -> Fraction:
        overlay = self.ram.overlay
        if overlay is not None and overlay.replaces_base:
            return overlay.rate_per_us * (b - a)
        volume = self._analytic_base_volume(a, b)
        if overlay is not None:
            volume += overlay.rate_per_us * (b - a)
        return volume

    def _analytic_base_volume(self, a: int, b: int) -> Fraction:
        r = self.ram
        rx = r.prescription
        if r.state is TherapyState.RUNNING and rx is not None:
            if rx.mode is Mode.SINGLE_BOLUS:
                single = self._single_pattern(rx)
                return single.volume_until(b - r.rx_started) - single.volume_until(a - r.rx_started)
            pattern = _pattern(rx, self._min_rate)
            offset = r.clock_offset
            return pattern.volume_until(b + offset) - pattern.volume_until(a + offset)
        if r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
            return self._min_rate_us * (b - a)
        return Fraction(0)

    def _single_pattern(self, rx: Prescription) -> VolumePattern:
        return prescription_pattern(rx, self.local(self.ram.rx_started), self._min_rate)

    def _analytic_crossing(self, a: int, b: int, need: Fraction) -> Fraction | None:
        """Exact tick at which `need` mL more has been programmed after `a` (None if not by `b`)."""
        r = self.ram
        overlay = r.overlay
        if overlay is not None:
            if overlay.replaces_base:
                t = a + need / overlay.rate_per_us
                return t if t <= b else None
            return self._walk_crossing(a, min(b, overlay.end), need, overlay.rate_per_us)
        rx = r.prescription
        found: Fraction | None = None
        if r.state is TherapyState.RUNNING and rx is not None:
            if rx.mode is Mode.SINGLE_BOLUS:
                single = self._single_pattern(rx)
                moment = single.time_to_move(single.volume_until(a - r.rx_started) + need)
                found = None if moment is None else moment + r.rx_started
            else:
                pattern = _pattern(rx, self._min_rate)
                offset = r.clock_offset
                moment = pattern.time_to_move(pattern.volume_until(a + offset) + need)
                found = None if moment is None else moment - offset
        elif r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
            found = a + need / self._min_rate_us
        return found if found is not None and found <= b else None

    def _walk_crossing(self, a: int, b: int, need: Fraction, extra: Fraction) -> Fraction | None:
        """Crossing under the schedule plus a constant extra rate, piece by piece of the
        schedule's pattern (only while an added bolus runs)."""
        t = a
        remaining = need
        while t < b:
            rate, until = self._pattern_segment(t)
            rate += extra
            end = min(b, until)
            if rate > 0 and remaining <= rate * (end - t):
                return t + remaining / rate
            remaining -= rate * (end - t)
            t = end
        return None

    def _pattern_segment(self, t: int) -> tuple[Fraction, int]:
        """The schedule's rate (mL/µs) at tick `t` and when it changes, read from the
        closed-form pattern's pieces."""
        r = self.ram
        rx = r.prescription
        if r.state is TherapyState.RUNNING and rx is not None:
            if rx.mode is Mode.SINGLE_BOLUS:
                single = self._single_pattern(rx)
                within = t - r.rx_started
                if within >= single.period:
                    return Fraction(0), INF
                return Fraction(
                    single.rates[0], single.scale * DAY_US
                ), r.rx_started + single.period
            pattern = _pattern(rx, self._min_rate)
            local = t + r.clock_offset
            within = local % pattern.period
            index = bisect_right(pattern.breakpoints, within) - 1
            nxt = (
                pattern.breakpoints[index + 1]
                if index + 1 < len(pattern.breakpoints)
                else pattern.period
            )
            return Fraction(pattern.rates[index], pattern.scale * DAY_US), t + (nxt - within)
        if r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
            return self._min_rate_us, INF
        return Fraction(0), INF

    # -- moving fluid ------------------------------------------------------------------
    def _accrue(self, volume: Fraction, at: int) -> bool:
        """Account `volume` mL of programmed delivery ending at tick `at` and move it.
        Returns True when the hardware interrupted delivery (stall, valve, reset)."""
        if volume <= 0:
            return False
        r = self.ram
        r.estimate -= volume
        r.programmed += volume
        if self.mode is SimulationMode.STROKES:
            r.carry += volume
            whole = r.carry // self._stroke
            if whole == 0:
                if r.estimate < 0:
                    r.estimate = Fraction(0)
                return False
            strokes = Fraction(whole)
            r.carry -= strokes * self._stroke
        else:
            strokes = volume / self._stroke
        result = self.hw.drive(strokes, at)
        if result.status is DriveStatus.OK:
            r.probe = False
            if r.estimate < 0:
                r.estimate = Fraction(0)
            return False
        missing = (strokes - result.completed) * self._stroke
        r.estimate += missing
        r.programmed -= missing
        if r.estimate < 0:
            r.estimate = Fraction(0)
        if result.status is DriveStatus.STALLED:
            r.motor_stalled = True
            r.probe = False
            self._cancel_bolus("the motor stalled")
            self._raise(AlarmKind.MOTOR_STALL)
        elif result.status is DriveStatus.VALVE_CLOSED:
            r.valve_closed = True
            self._raise(AlarmKind.FLOW_VALVE_CLOSED)
        elif result.status is DriveStatus.BROWNOUT or result.status is DriveStatus.DEAD:
            raise FirmwareRestart(BootCause.LOW_BATTERY)
        return True

    # ------------------------------------------------------------------ self-check
    def _self_check(self) -> None:
        """Battery measurement, motor retry, memory scrub, checkpoint."""
        r = self.ram
        now = r.ticks
        battery = self.profile.battery
        level = self.hw.battery_level(now)
        if battery is not None and level is not None:
            if level <= battery.reset_level.value and not r.low_battery_reset:
                raise FirmwareRestart(BootCause.LOW_BATTERY)
            if level <= battery.eri_level.value and r.eri_ticks is None:
                r.eri_ticks = now
                r.eos_ticks = now + duration_us(battery.eos_after_eri.value)
                self._raise(AlarmKind.ERI)
        if r.motor_stalled and self.hw.motor_turns(now):
            r.motor_stalled = False
            r.probe = True
            self._clear(AlarmKind.MOTOR_STALL, "the motor turns again")
        if not r.memory_error:
            bad = self._scrub()
            if bad:
                self._enter_memory_error(bad)
        if now >= r.next_checkpoint:
            r.next_checkpoint = now + self._checkpoint_us
            self._save_therapy()

    def _scrub(self) -> str:
        """Verify the critical records and the next few log cells (a rolling scrub); the
        names of any that fail (empty if all pass)."""
        r = self.ram
        nvm = self.hw.memory
        bad = [
            key
            for key in _CRITICAL_RECORDS
            if key in r.committed and not nvm.verify(key, r.committed[key])
        ]
        capacity = self.log.capacity
        for _ in range(4):
            seq = self.log.first_seq + (
                r.scrub_next % max(1, self.log.next_seq - self.log.first_seq)
            )
            r.scrub_next += 1
            if seq < self.log.next_seq and not self.log.intact(seq):
                bad.append(f"log/{seq % capacity}")
                break
        return ", ".join(bad)

    def _enter_memory_error(self, records: str) -> None:
        r = self.ram
        r.memory_error = True
        self._log(
            LogKind.DELIVERY_CHANGED,
            f"memory error in {records}: entering the safe state (minimum rate)",
            records=records,
        )
        self._raise(AlarmKind.MEMORY_ERROR, cause=Cause.MEMORY_ERROR)

    # ------------------------------------------------------------------ alarms and state
    def _active_kinds(self) -> set[AlarmKind]:
        return {alarm.kind for alarm in self.ram.alarms}

    def _raise(self, kind: AlarmKind, cause: Cause | None = None) -> None:
        if not self.electronic:
            return
        r = self.ram
        if kind in self._active_kinds():
            return
        spec = ALARM_CATALOGUE[kind]
        r.alarms = (*r.alarms, ActiveAlarm(kind, self.local(), r.ticks))
        self._log(
            LogKind.ALARM_RAISED,
            f"{spec.priority.value.replace('_', '-')} alarm: {kind.value.replace('_', ' ')}",
            alarm=kind.value,
            priority=spec.priority.value,
            response=spec.response.value,
        )
        if spec.response is DeliveryResponse.MINIMUM_RATE:
            # A response only ever reduces delivery: a stopped pump stays stopped.
            if r.state in (TherapyState.RUNNING, TherapyState.MINIMUM_RATE):
                self._set_state(TherapyState.MINIMUM_RATE, cause or Cause.COMMAND)
        elif spec.response is DeliveryResponse.STOP:
            self._set_state(TherapyState.END_OF_SERVICE, cause or Cause.END_OF_SERVICE)
        elif spec.response is DeliveryResponse.SUSPENDED:
            self._cancel_bolus(f"{kind.value.replace('_', ' ')}")
        self._save_therapy()

    def _clear(self, kind: AlarmKind, why: str) -> None:
        r = self.ram
        if kind not in self._active_kinds():
            return
        r.alarms = tuple(alarm for alarm in r.alarms if alarm.kind is not kind)
        self._log(
            LogKind.ALARM_CLEARED,
            f"alarm cleared: {kind.value.replace('_', ' ')} ({why})",
            alarm=kind.value,
        )
        self._save_therapy()

    def _set_state(self, state: TherapyState, cause: Cause) -> None:
        r = self.ram
        if r.state is state and r.cause is cause:
            return
        previous = r.state
        self._cancel_bolus(f"delivery changed to {state.value.replace('_', ' ')}")
        r.state, r.cause = state, cause
        self._log(
            LogKind.DELIVERY_CHANGED,
            f"delivery: {previous.value.replace('_', ' ')} -> {state.value.replace('_', ' ')} "
            f"({cause.value.replace('_', ' ')})",
            previous=previous.value,
            state=state.value,
            cause=cause.value,
        )

    def _cancel_bolus(self, why: str) -> None:
        overlay = self.ram.overlay
        if overlay is None:
            return
        self.ram.overlay = None
        done = overlay.volume.amount * Fraction(
            self.ram.ticks - overlay.start, overlay.end - overlay.start
        )
        self._log(
            LogKind.BOLUS_ENDED,
            f"{overlay.kind.value} bolus cancelled ({why}) after {Volume(max(Fraction(0), done))}",
            kind=overlay.kind.value,
            completed="false",
            request=overlay.request_id,
        )

    def _end_bolus(self, overlay: ActiveBolus) -> None:
        r = self.ram
        r.overlay = None
        self._log(
            LogKind.BOLUS_ENDED,
            f"{overlay.kind.value} bolus complete: {overlay.volume}",
            kind=overlay.kind.value,
            completed="true",
            request=overlay.request_id,
        )
        held = r.state in (TherapyState.STOPPED, TherapyState.MINIMUM_RATE) and r.cause in (
            Cause.COMMAND,
            Cause.IMPLANT,
            Cause.SINGLE_BOLUS_DONE,
        )
        ready = r.prescription is not None and not r.awaiting_prescription
        if overlay.replaces_base and held and ready:
            self._set_state(TherapyState.RUNNING, Cause.PRIMING_DONE)
            self._save_therapy()

    # ------------------------------------------------------------------ memory
    def _commit(self, key: str, value: object) -> None:
        self.ram.committed[key] = self.hw.memory.write(key, encode_bytes(value))

    def _commit_prescription(self, prescription: Prescription | None) -> None:
        stored = StoredPrescription(
            prescription, prescription.content_hash if prescription is not None else None
        )
        self._commit("prescription", stored)

    def _save_therapy(self) -> None:
        r = self.ram
        record = TherapyRecord(
            state=r.state,
            cause=r.cause,
            rx_started=r.rx_started,
            drug=r.drug,
            concentration=r.concentration,
            estimate=r.estimate,
            fill_volume=r.fill_volume,
            fill_ticks=r.fill_ticks,
            alarms=r.alarms,
            awaiting_prescription=r.awaiting_prescription,
            low_battery_reset=r.low_battery_reset,
            eri_ticks=r.eri_ticks,
            eos_ticks=r.eos_ticks,
            patient_starts=r.patient_starts,
            lockout_from=r.lockout_from,
            clock_offset=r.clock_offset,
            mri_latched=r.mri_latched,
            valve_closed=r.valve_closed,
            programmed=r.programmed,
        )
        self._commit("therapy", record)

    def _log(self, kind: LogKind, message: str, /, **details: str) -> LogEvent:
        event = self.log.append(self.local(), kind, message, tuple(details.items()))
        self.ram.log_first, self.ram.log_next = self.log.first_seq, self.log.next_seq
        if self.on_log is not None:
            self.on_log(event, self.ram.ticks)
        return event

    def _recover_requests(self) -> None:
        r = self.ram
        size = self.profile.request_memory.value
        best: list[tuple[int, int, str]] = []
        for slot in range(size):
            try:
                found = self.hw.memory.read_with_seq(f"request/{slot}")
            except RecordCorrupt:
                continue
            if found is None:
                continue
            record = decode_bytes(found[1])
            if isinstance(record, RequestRecord):
                best.append((found[0], slot, f"{record.role.value}:{record.id}"))
        best.sort()
        r.requests = {key: slot for _, slot, key in best}
        r.request_next = (best[-1][1] + 1) % size if best else 0

    def _remember(self, request: Request, response: Response) -> None:
        r = self.ram
        size = self.profile.request_memory.value
        slot = r.request_next
        r.requests = {k: v for k, v in r.requests.items() if v != slot}
        self.hw.memory.write(
            f"request/{slot}",
            encode_bytes(RequestRecord(request.role, request.id, request.command, response)),
        )
        r.requests[f"{request.role.value}:{request.id}"] = slot
        r.request_next = (slot + 1) % size

    def _recall(self, key: str) -> RequestRecord | None:
        slot = self.ram.requests.get(key)
        if slot is None:
            return None
        try:
            raw = self.hw.memory.read(f"request/{slot}")
        except RecordCorrupt:
            return None
        record = decode_bytes(raw) if raw is not None else None
        return record if isinstance(record, RequestRecord) else None

    # ------------------------------------------------------------------ commands
    def handle(self, request: Request) -> Response:
        """Execute one command. A repeated request id gets the stored response and
        nothing is done again; a command the role may not send is refused and logged."""
        key = f"{request.role.value}:{request.id}"
        remembered = self._recall(key)
        if remembered is not None:
            if remembered.command == request.command:
                return remembered.response
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                f"request id {request.id!r} was already used for a different command",
            )
        command = request.command
        name = type(command).__name__
        if not permitted(request.role, command):
            response: Response = Rejected(
                Rejection.NOT_PERMITTED, f"a {request.role.value} may not send {name}"
            )
        elif not self.electronic:
            response = Rejected(
                Rejection.NOT_PROGRAMMABLE,
                f"{self.profile.model.label} has no electronics and no telemetry",
            )
        else:
            response = self._dispatch(request)
        if isinstance(response, Accepted):
            self._log(
                LogKind.COMMAND,
                f"{name} from {request.role.value}: {response.message}",
                command=name,
                request=request.id,
                role=request.role.value,
                outcome="accepted",
            )
        else:
            self._log(
                LogKind.COMMAND_REJECTED,
                f"{name} from {request.role.value} refused ({response.reason.value}): "
                f"{response.message}",
                command=name,
                request=request.id,
                role=request.role.value,
                outcome="rejected",
                reason=response.reason.value,
            )
        if not isinstance(command, _READ_ONLY):
            self._remember(request, response)
        return response

    def _dispatch(self, request: Request) -> Response:
        command = request.command
        handlers: dict[type, Callable[[Command, str], Response]] = {
            Interrogate: self._interrogate,  # type: ignore[dict-item]
            StatusSummary: self._status_summary,  # type: ignore[dict-item]
            WritePrescription: self._write_prescription,  # type: ignore[dict-item]
            RegisterRefill: self._register_refill_command,  # type: ignore[dict-item]
            ClinicianBolus: self._clinician_bolus,  # type: ignore[dict-item]
            PrimingBolus: self._priming_bolus,  # type: ignore[dict-item]
            BridgeBolus: self._bridge_bolus,  # type: ignore[dict-item]
            Stop: self._stop,  # type: ignore[dict-item]
            Resume: self._resume,  # type: ignore[dict-item]
            MinimumRate: self._minimum_rate,  # type: ignore[dict-item]
            SetClock: self._set_clock,  # type: ignore[dict-item]
            SetAlarmSettings: self._set_alarm_settings,  # type: ignore[dict-item]
            AcknowledgeAlarm: self._acknowledge,  # type: ignore[dict-item]
            AlarmTest: self._alarm_test,  # type: ignore[dict-item]
            PostMriCheck: self._post_mri_check,  # type: ignore[dict-item]
            ResetFlowValve: self._reset_flow_valve,  # type: ignore[dict-item]
            PatientBolusRequest: self._patient_bolus,  # type: ignore[dict-item]
        }
        handler = handlers.get(type(command))
        if handler is None:
            return Rejected(Rejection.INVALID_ARGUMENT, f"unknown command {type(command).__name__}")
        return handler(command, request.id)

    def _release_mri_latch(self, how: str) -> bool:
        r = self.ram
        if not r.mri_latched:
            return False
        r.mri_latched = False
        r.probe = True
        self._log(LogKind.MRI_HOLD, f"post-MRI hold released by {how}")
        self._save_therapy()
        return True

    def _interrogate(self, command: Interrogate, request_id: str) -> Response:
        self._release_mri_latch("interrogation")
        return Accepted("interrogated", self.report(command.log_since))

    def _status_summary(self, command: StatusSummary, request_id: str) -> Response:
        self._release_mri_latch("the patient controller")
        return Accepted("status", self.patient_status())

    def _prescription_problem(self, rx: Prescription) -> Rejected | None:
        r = self.ram
        if not self.profile.model.programmable:
            return Rejected(
                Rejection.NOT_PROGRAMMABLE, f"{self.profile.model.label} is not programmable"
            )
        entry_rx = self.library.find(rx.drug)
        entry_res = self.library.find(r.drug)
        same_drug = (entry_rx is not None and entry_rx is entry_res) or rx.drug == r.drug
        if not same_drug or rx.concentration != r.concentration:
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                f"the reservoir holds {r.drug} at {r.concentration}, the prescription is for "
                f"{rx.drug} at {rx.concentration}; register a refill with the new solution first",
            )
        evaluation = evaluate_hard_limits(rx, self.library, self.profile.model)
        if evaluation.refusals:
            return Rejected(
                Rejection.HARD_LIMIT,
                "; ".join(v.message for v in evaluation.refusals),
                payload=HardLimitRefusal(evaluation.refusals),
            )
        return None

    def _write_prescription(self, command: WritePrescription, request_id: str) -> Response:
        r = self.ram
        rx = command.prescription
        if command.content_hash != rx.content_hash:
            return Rejected(
                Rejection.HASH_MISMATCH,
                "the content hash does not match the prescription; nothing was written",
            )
        if r.state is TherapyState.END_OF_SERVICE:
            return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
        problem = self._prescription_problem(rx)
        if problem is not None:
            return problem
        self._commit_prescription(rx)
        r.prescription = rx
        r.rx_started = r.ticks
        r.lockout_from = r.ticks
        r.awaiting_prescription = False
        recovered = r.memory_error
        if recovered:
            r.memory_error = False
            self._commit("settings", r.settings)
            self.log.repair()
            self._clear(AlarmKind.MEMORY_ERROR, "every record rewritten")
        self._cancel_bolus("a new prescription was written")
        if r.low_battery_reset:
            self._set_state(TherapyState.MINIMUM_RATE, Cause.LOW_BATTERY_RESET)
        elif AlarmKind.EMPTY_RESERVOIR in self._active_kinds():
            self._set_state(TherapyState.MINIMUM_RATE, Cause.EMPTY_RESERVOIR)
        else:
            self._set_state(TherapyState.RUNNING, Cause.PRESCRIPTION)
        self._log(
            LogKind.PRESCRIPTION_WRITTEN,
            f"prescription written: {rx.drug} {rx.concentration}, {rx.mode.value}",
            hash=rx.content_hash,
            mode=rx.mode.value,
        )
        self._save_therapy()
        daily = None if rx.mode is Mode.SINGLE_BOLUS else programmed_daily_dose(rx, self._min_rate)
        low_at, _ = self._projection()
        return Accepted(
            "prescription stored" + (" (memory error cleared)" if recovered else ""),
            PrescriptionStored(rx.content_hash, self.local(), daily, low_at),
        )

    def _register_refill_command(self, command: RegisterRefill, request_id: str) -> Response:
        return self.register_refill(
            command.aspirated, command.new_volume, command.drug, command.concentration
        )

    def register_refill(
        self, aspirated: Volume, new_volume: Volume, drug: str, concentration: Concentration
    ) -> Response:
        """Record a refill and reconcile expected against aspirated volume. Also the path
        the twin uses for a pump without telemetry (the clinic's own record)."""
        r = self.ram
        capacity = self.profile.capacity
        if aspirated.amount < 0 or new_volume.amount < 0:
            return Rejected(Rejection.INVALID_ARGUMENT, "volumes must not be negative")
        if new_volume > capacity:
            return Rejected(
                Rejection.OVER_CAPACITY,
                f"{new_volume} is more than the reservoir holds ({capacity}); overfilling is a "
                "risk factor for over-infusion",
            )
        if not drug.strip() or concentration.amount <= 0:
            return Rejected(
                Rejection.INVALID_ARGUMENT, "the drug and a positive concentration are needed"
            )
        expected = r.estimate
        previous = r.fill_volume
        discrepancy = aspirated.amount - expected
        expected_delivered = previous - expected
        actual_delivered = previous - aspirated.amount
        error = (
            (actual_delivered - expected_delivered) / expected_delivered
            if expected_delivered > 0
            else None
        )
        limit_volume = self.profile.refill_discrepancy_limit.value
        limit_percent = self.profile.model.accuracy_percent.value
        findings: list[RefillFinding] = []
        out_of_spec = error is not None and abs(error) * 100 > limit_percent
        too_large = abs(discrepancy) > limit_volume.amount
        if out_of_spec or too_large:
            findings.append(
                RefillFinding.LESS_THAN_EXPECTED
                if discrepancy < 0
                else RefillFinding.MORE_THAN_EXPECTED
            )
        else:
            findings.append(RefillFinding.WITHIN_EXPECTED)
        drug_id = drug.strip().lower()
        changed = drug_id != r.drug or concentration != r.concentration
        if changed and self.electronic:
            findings.append(RefillFinding.NEW_SOLUTION)
        r.estimate = new_volume.amount
        r.fill_volume = new_volume.amount
        r.fill_ticks = r.ticks
        r.drug = drug_id
        r.concentration = concentration
        r.lockout_from = r.ticks
        self._log(
            LogKind.REFILL,
            f"refill: aspirated {aspirated} (expected {Volume(expected)}), filled {new_volume} of "
            f"{drug_id} at {concentration}",
            aspirated=str(aspirated),
            expected=str(Volume(expected)),
            new_volume=str(new_volume),
            drug=drug_id,
            concentration=str(concentration),
        )
        if self.electronic:
            if r.estimate > self._empty:
                self._clear(AlarmKind.EMPTY_RESERVOIR, "refilled")
            if r.estimate > r.settings.low_reservoir_threshold.amount:
                self._clear(AlarmKind.LOW_RESERVOIR, "refilled")
            if changed:
                r.awaiting_prescription = True
                self._set_state(TherapyState.MINIMUM_RATE, Cause.NEW_SOLUTION)
            elif (
                r.state is TherapyState.MINIMUM_RATE
                and r.cause is Cause.EMPTY_RESERVOIR
                and r.prescription is not None
            ):
                self._set_state(TherapyState.RUNNING, Cause.PRESCRIPTION)
        self._save_therapy()
        low_at, _ = self._projection()
        flagged = any(
            f in (RefillFinding.LESS_THAN_EXPECTED, RefillFinding.MORE_THAN_EXPECTED)
            for f in findings
        )
        lockout_until = None
        if r.prescription is not None and r.prescription.patient_bolus is not None:
            lockout_until = self.local(r.ticks + duration_us(r.prescription.patient_bolus.lockout))
        return Accepted(
            "refill registered" + ("; discrepancy flagged" if flagged else ""),
            RefillReconciliation(
                expected=Volume(expected),
                aspirated=aspirated,
                discrepancy=Volume(discrepancy),
                previous_fill=Volume(previous),
                delivery_error=error,
                findings=tuple(findings),
                flagged=flagged,
                limit_volume=limit_volume,
                limit_percent=limit_percent,
                new_volume=new_volume,
                drug=drug_id,
                concentration=concentration,
                lockout_until=lockout_until,
                low_alarm_at=low_at,
            ),
        )

    def _bolus_state_problem(self) -> Rejected | None:
        r = self.ram
        if r.state is TherapyState.END_OF_SERVICE:
            return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
        if r.memory_error:
            return Rejected(Rejection.INVALID_STATE, "memory error: write a prescription first")
        holds = self.holds()
        if holds:
            names = ", ".join(h.value.replace("_", " ") for h in holds)
            return Rejected(Rejection.INVALID_STATE, f"delivery is suspended ({names})")
        if r.overlay is not None:
            return Rejected(
                Rejection.INVALID_STATE,
                f"a {r.overlay.kind.value} bolus is running until {self.local(r.overlay.end)}",
                retry_after=self.local(r.overlay.end),
            )
        return None

    def _duration_problem(self, duration: Duration) -> Rejected | None:
        if duration.seconds <= 0 or duration > MAX_BOLUS_DURATION:
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                f"bolus duration {duration} must be above 0 and at most {MAX_BOLUS_DURATION}",
            )
        return None

    def _start_bolus(
        self, kind: BolusKind, volume: Volume, dose: Mass, duration: Duration, request_id: str
    ) -> ActiveBolus:
        r = self.ram
        overlay = ActiveBolus(
            kind,
            volume,
            dose,
            r.ticks,
            r.ticks + duration_us(duration),
            kind in (BolusKind.PRIMING, BolusKind.BRIDGE),
            request_id,
        )
        r.overlay = overlay
        self._log(
            LogKind.BOLUS_STARTED,
            f"{kind.value} bolus: {volume} ({dose}) over {duration}",
            kind=kind.value,
            volume=str(volume),
            dose=str(dose),
            request=request_id,
        )
        return overlay

    def _clinician_bolus(self, command: ClinicianBolus, request_id: str) -> Response:
        r = self.ram
        problem = self._bolus_state_problem() or self._duration_problem(command.duration)
        if problem is not None:
            return problem
        if command.dose.amount <= 0:
            return Rejected(Rejection.INVALID_ARGUMENT, "the bolus dose must be more than zero")
        if r.state not in (TherapyState.RUNNING, TherapyState.MINIMUM_RATE, TherapyState.STOPPED):
            return Rejected(Rejection.INVALID_STATE, f"no clinician bolus in {r.state.value}")
        entry = self.library.find(r.drug)
        if entry is None or entry.bolus_dose_hard_max is None:
            return Rejected(
                Rejection.HARD_LIMIT, f"no bolus limit for {r.drug} in the drug library"
            )
        if command.dose > entry.bolus_dose_hard_max.value:
            return Rejected(
                Rejection.HARD_LIMIT,
                f"bolus {command.dose} is above the hard limit {entry.bolus_dose_hard_max.value}",
            )
        volume = command.dose / r.concentration
        rate = volume / command.duration
        base, _ = self._rate_segment(r.ticks)
        peak = VolumeRate(rate.amount + base * DAY_US)
        top = max(
            self.profile.model.max_volume_rate.value, self.profile.model.max_bolus_volume_rate.value
        )
        if peak > top:
            return Rejected(Rejection.HARD_LIMIT, f"volume rate {peak} is above the pump's {top}")
        if r.estimate - volume.amount < self._empty:
            return Rejected(Rejection.RESERVOIR, "the reservoir is too low for this bolus")
        bolus = self._start_bolus(
            BolusKind.CLINICIAN, volume, command.dose, command.duration, request_id
        )
        return Accepted(
            "clinician bolus started",
            BolusGrant(
                BolusKind.CLINICIAN,
                command.dose,
                volume,
                self.local(bolus.start),
                self.local(bolus.end),
            ),
        )

    def _replacing_bolus(
        self, kind: BolusKind, volume: Volume, duration: Duration, request_id: str
    ) -> Response:
        r = self.ram
        problem = self._bolus_state_problem() or self._duration_problem(duration)
        if problem is not None:
            return problem
        if volume.amount <= 0:
            return Rejected(Rejection.INVALID_ARGUMENT, "the bolus volume must be more than zero")
        if kind is BolusKind.BRIDGE and (r.prescription is None or r.awaiting_prescription):
            return Rejected(
                Rejection.INVALID_STATE,
                "write the prescription for the new solution before the bridge bolus",
            )
        rate = volume / duration
        top = self.profile.model.max_bolus_volume_rate.value
        if rate > top:
            return Rejected(Rejection.HARD_LIMIT, f"volume rate {rate} is above the pump's {top}")
        if volume.amount > r.estimate:
            return Rejected(
                Rejection.RESERVOIR,
                f"the reservoir (about {Volume(r.estimate)}) cannot supply {volume}",
            )
        dose = volume.times(r.concentration)
        bolus = self._start_bolus(kind, volume, dose, duration, request_id)
        return Accepted(
            f"{kind.value} bolus started",
            BolusGrant(kind, dose, volume, self.local(bolus.start), self.local(bolus.end)),
        )

    def _priming_bolus(self, command: PrimingBolus, request_id: str) -> Response:
        return self._replacing_bolus(
            BolusKind.PRIMING, command.volume, command.duration, request_id
        )

    def _bridge_bolus(self, command: BridgeBolus, request_id: str) -> Response:
        kind = BolusKind.BRIDGE
        return self._replacing_bolus(kind, command.volume, command.duration, request_id)

    def _change(self, state: TherapyState, cause: Cause, message: str) -> Response:
        previous = self.ram.state
        self._set_state(state, cause)
        self._save_therapy()
        return Accepted(message, DeliveryChange(previous, state, self.local()))

    def _stop(self, command: Stop, request_id: str) -> Response:
        if self.ram.state is TherapyState.END_OF_SERVICE:
            return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
        return self._change(TherapyState.STOPPED, Cause.COMMAND, "delivery stopped")

    def _minimum_rate(self, command: MinimumRate, request_id: str) -> Response:
        if self.ram.state is TherapyState.END_OF_SERVICE:
            return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
        return self._change(TherapyState.MINIMUM_RATE, Cause.COMMAND, "minimum rate")

    def _resume(self, command: Resume, request_id: str) -> Response:
        r = self.ram
        reasons = {
            TherapyState.END_OF_SERVICE: "the pump is at end of service",
        }
        if r.state in reasons:
            return Rejected(Rejection.INVALID_STATE, reasons[r.state])
        if r.memory_error:
            return Rejected(
                Rejection.INVALID_STATE, "memory error: write a prescription to recover"
            )
        if r.low_battery_reset:
            return Rejected(
                Rejection.INVALID_STATE, "low battery reset: the battery cannot sustain therapy"
            )
        if r.prescription is None:
            return Rejected(Rejection.INVALID_STATE, "no prescription is stored")
        if r.awaiting_prescription:
            return Rejected(
                Rejection.INVALID_STATE,
                "the reservoir holds a new solution: write its prescription",
            )
        if AlarmKind.EMPTY_RESERVOIR in self._active_kinds():
            return Rejected(Rejection.INVALID_STATE, "the reservoir is empty: refill first")
        released = self._release_mri_latch("Resume")
        previous = r.state
        if r.state is TherapyState.RUNNING:
            return Accepted(
                "running" + (" (post-MRI hold released)" if released else ""),
                DeliveryChange(previous, r.state, self.local()),
            )
        r.rx_started = r.ticks if r.prescription.mode is Mode.SINGLE_BOLUS else r.rx_started
        return self._change(TherapyState.RUNNING, Cause.PRESCRIPTION, "delivery resumed")

    def _set_clock(self, command: SetClock, request_id: str) -> Response:
        r = self.ram
        if command.local_time.tzinfo is not None:
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                "the pump keeps naive local time: send the local wall-clock time without a zone",
            )
        before = r.ticks + r.clock_offset
        after = to_us(command.local_time)
        skipped, repeated = self._clock_effect(before, after)
        r.clock_offset = after - r.ticks
        jump = us_duration(after - before)
        self._log(
            LogKind.CLOCK_SET,
            f"clock set from {from_us(before)} to {from_us(after)} ({jump})",
            previous=from_us(before).isoformat(),
            new=from_us(after).isoformat(),
        )
        self._save_therapy()
        return Accepted(
            "clock set",
            ClockChange(from_us(before), from_us(after), jump, Volume(skipped), Volume(repeated)),
        )

    def _clock_effect(self, before: int, after: int) -> tuple[Fraction, Fraction]:
        """Programmed volume skipped (clock forward) or run again (clock back) by a jump."""
        r = self.ram
        rx = r.prescription
        if r.state is not TherapyState.RUNNING or rx is None or rx.mode is Mode.SINGLE_BOLUS:
            return Fraction(0), Fraction(0)
        pattern = _pattern(rx, self._min_rate)
        moved = pattern.volume_until(max(before, after)) - pattern.volume_until(min(before, after))
        return (moved, Fraction(0)) if after >= before else (Fraction(0), moved)

    def _set_alarm_settings(self, command: SetAlarmSettings, request_id: str) -> Response:
        r = self.ram
        threshold = command.low_reservoir_threshold
        capacity = self.profile.capacity
        if not (self._empty < threshold.amount < capacity.amount):
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                f"low-reservoir threshold {threshold} must be above the empty level "
                f"{Volume(self._empty)} and below the capacity {capacity}",
            )
        if not (60 <= command.critical_repeat.seconds <= 86_400):
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                f"critical repeat {command.critical_repeat} must be from 1 min to 24 h",
            )
        settings = AlarmSettings(threshold, command.critical_repeat)
        self._commit("settings", settings)
        r.settings = settings
        self._log(
            LogKind.SETTINGS_CHANGED,
            f"alarm settings: low reservoir at {threshold}, "
            f"critical repeat {command.critical_repeat}",
        )
        if r.estimate > threshold.amount:
            self._clear(AlarmKind.LOW_RESERVOIR, "threshold lowered")
        return Accepted("alarm settings stored", settings)

    def _acknowledge(self, command: AcknowledgeAlarm, request_id: str) -> Response:
        r = self.ram
        kind = alarm_kind(command.alarm)
        if kind is None:
            accepted = ", ".join(k.value for k in AlarmKind if k is not AlarmKind.ALARM_TEST)
            return Rejected(
                Rejection.NO_SUCH_ALARM, f"unknown alarm {command.alarm!r}; accepted: {accepted}"
            )
        found = next((a for a in r.alarms if a.kind is kind), None)
        if found is None:
            return Rejected(Rejection.NO_SUCH_ALARM, f"no {kind.value} alarm is active")
        if found.acknowledged_at is None:
            found = replace(found, acknowledged_at=self.local(), acknowledged_ticks=r.ticks)
            r.alarms = tuple(found if a.kind is kind else a for a in r.alarms)
            self._log(
                LogKind.ALARM_ACKNOWLEDGED, f"alarm acknowledged: {kind.value}", alarm=kind.value
            )
            self._save_therapy()
        assert found.acknowledged_at is not None
        return Accepted("alarm acknowledged", AlarmAcknowledged(kind, found.acknowledged_at))

    def _alarm_test(self, command: AlarmTest, request_id: str) -> Response:
        tones = ALARM_CATALOGUE[AlarmKind.ALARM_TEST].tones
        self._log(LogKind.ALARM_TEST, "alarm test: " + ", then ".join(t.value for t in tones))
        return Accepted("alarm test sounded", AlarmTestResult(tones))

    def _post_mri_check(self, command: PostMriCheck, request_id: str) -> Response:
        r = self.ram
        if r.field_present:
            return Rejected(Rejection.INVALID_STATE, "a strong magnetic field is still present")
        turns = self.hw.motor_turns(r.ticks)
        released = False
        if turns:
            released = self._release_mri_latch("the post-MRI check")
            if r.motor_stalled:
                r.motor_stalled = False
                r.probe = True
                self._clear(AlarmKind.MOTOR_STALL, "post-MRI check: the motor turns")
            message = "motor turns; delivery can continue"
        else:
            message = "motor still stalled; recheck later (gear binding can last 2-24 h)"
        return Accepted(message, MotorCheck(turns, released, message))

    def _reset_flow_valve(self, command: ResetFlowValve, request_id: str) -> Response:
        r = self.ram
        if not self.profile.flow_activated_valve.value:
            return Rejected(
                Rejection.INVALID_STATE, f"{self.profile.model.label} has no flow-activated valve"
            )
        if not r.valve_closed and not self.hw.flow_valve_closed():
            return Rejected(Rejection.INVALID_STATE, "the flow-activated valve is open")
        if not self.hw.reset_flow_valve(r.ticks):
            return Rejected(
                Rejection.INVALID_STATE, "the valve cannot be reset inside a magnetic field"
            )
        r.valve_closed = False
        r.probe = True
        self._log(LogKind.FLOW_VALVE_RESET, "flow-activated valve reset")
        self._clear(AlarmKind.FLOW_VALVE_CLOSED, "valve reset")
        return Accepted("flow-activated valve reset", FlowValveReset(self.local()))

    def _patient_check(self) -> tuple[Rejected | None, BolusVerdict | None]:
        r = self.ram
        rx = r.prescription
        if rx is None or rx.patient_bolus is None:
            return Rejected(Rejection.INVALID_STATE, "no patient bolus is prescribed"), None
        if r.state is not TherapyState.RUNNING or r.awaiting_prescription or r.memory_error:
            return (
                Rejected(
                    Rejection.INVALID_STATE,
                    f"the pump is not running its prescription ({r.state.value.replace('_', ' ')})",
                ),
                None,
            )
        problem = self._bolus_state_problem()
        if problem is not None:
            return problem, None
        pb = rx.patient_bolus
        verdict = judge_patient_bolus(
            pb,
            r.patient_starts,
            r.lockout_from,
            r.ticks,
            r.estimate,
            self._empty,
            (pb.dose / r.concentration).amount,
        )
        return None, verdict

    def _patient_bolus(self, command: PatientBolusRequest, request_id: str) -> Response:
        r = self.ram
        problem, verdict = self._patient_check()
        rx = r.prescription
        if problem is not None or verdict is None or rx is None or rx.patient_bolus is None:
            assert problem is not None
            if rx is not None and rx.patient_bolus is not None:
                count = len(starts_in_window(r.patient_starts, r.ticks))
                return replace(
                    problem,
                    payload=BolusDenial(count, rx.patient_bolus.max_per_24h, problem.retry_after),
                )
            return problem
        pb = rx.patient_bolus
        if not verdict.allowed:
            assert verdict.reason is not None
            retry = self.local(verdict.retry_after) if verdict.retry_after is not None else None
            return Rejected(
                verdict.reason,
                verdict.message,
                retry,
                BolusDenial(verdict.count_24h, pb.max_per_24h, retry),
            )
        volume = pb.dose / r.concentration
        keep = max(DAY_US, duration_us(pb.lockout))
        r.patient_starts = (*(t for t in r.patient_starts if r.ticks - t < keep), r.ticks)
        bolus = self._start_bolus(BolusKind.PATIENT, volume, pb.dose, pb.duration, request_id)
        self._save_therapy()
        count = verdict.count_24h + 1
        next_at = bolus.start + duration_us(pb.lockout)
        return Accepted(
            "patient bolus started",
            BolusGrant(
                BolusKind.PATIENT,
                pb.dose,
                volume,
                self.local(bolus.start),
                self.local(bolus.end),
                count,
                pb.max_per_24h,
                self.local(next_at),
            ),
        )

    # ------------------------------------------------------------------ views
    def holds(self) -> tuple[Hold, ...]:
        r = self.ram
        flags = (
            (r.field_present, Hold.MRI_FIELD),
            (r.mri_latched, Hold.MRI_LATCH),
            (r.motor_stalled, Hold.MOTOR_STALL),
            (r.valve_closed, Hold.FLOW_VALVE_CLOSED),
        )
        return tuple(hold for on, hold in flags if on)

    def programmed_rate(self) -> VolumeRate:
        """The programmed volume rate right now (0 while a hold stops delivery)."""
        if not self._delivering():
            return VolumeRate(Fraction(0))
        rate, _ = self._rate_segment(self.ram.ticks)
        return VolumeRate(rate * DAY_US)

    def _projection(self) -> tuple[datetime | None, datetime | None]:
        """Projected low-reservoir alarm and empty-level times at the programmed rate."""
        r = self.ram
        rx = r.prescription
        pattern: VolumePattern | None = None
        start = self.local()
        if r.state is TherapyState.RUNNING and rx is not None and rx.mode is not Mode.SINGLE_BOLUS:
            pattern = prescription_pattern(rx, start, self._min_rate, include_patient_boluses=False)
        elif r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
            pattern = constant_pattern(self._min_rate)
        if pattern is None:
            return None, None

        def when(volume: Fraction) -> datetime | None:
            if volume <= 0:
                return None
            micros = pattern.time_to_move(volume)
            return None if micros is None else from_us(to_us(start) + int(micros))

        low = r.estimate - r.settings.low_reservoir_threshold.amount
        return when(low), when(r.estimate - self._empty)

    def _availability(self) -> PatientBolusAvailability | None:
        r = self.ram
        rx = r.prescription
        if rx is None or rx.patient_bolus is None:
            return None
        pb = rx.patient_bolus
        problem, verdict = self._patient_check()
        count = len(starts_in_window(r.patient_starts, r.ticks))
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
        retry = self.local(verdict.retry_after) if verdict.retry_after is not None else None
        return PatientBolusAvailability(
            verdict.allowed, verdict.reason, verdict.message, pb.dose, count, pb.max_per_24h, retry
        )

    def alarm_statuses(self) -> tuple[AlarmStatus, ...]:
        r = self.ram
        out = []
        for alarm in r.alarms:
            spec = ALARM_CATALOGUE[alarm.kind]
            repeat = (
                r.settings.critical_repeat
                if spec.priority is Priority.CRITICAL
                else self.profile.non_critical_repeat.value
            )
            every = duration_us(repeat)
            elapsed = r.ticks - alarm.raised_ticks
            sounded = elapsed // every + 1 if alarm.acknowledged_at is None else 0
            next_tone = None
            if alarm.sounding:
                next_tone = self.local(alarm.raised_ticks + (elapsed // every + 1) * every)
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

    def therapy_status(self) -> TherapyStatus:
        r = self.ram
        rate = self.programmed_rate()
        return TherapyStatus(
            r.state,
            r.cause.value.replace("_", " "),
            rate.amount > 0,
            self.holds(),
            rate,
            DoseRate(rate.amount * r.concentration.amount),
        )

    def battery_status(self) -> BatteryStatus:
        r = self.ram
        if self.profile.battery is None:
            return BatteryStatus(BatteryState.NO_BATTERY, None, None, None)
        if r.state is TherapyState.END_OF_SERVICE:
            state = BatteryState.END_OF_SERVICE
        elif r.low_battery_reset:
            state = BatteryState.LOW_BATTERY_RESET
        elif r.eri_ticks is not None:
            state = BatteryState.ERI
        else:
            state = BatteryState.NORMAL
        level = self.hw.battery_level(r.ticks)
        return BatteryStatus(
            state,
            level,
            self.local(r.eri_ticks) if r.eri_ticks is not None else None,
            self.local(r.eos_ticks) if r.eos_ticks is not None else None,
        )

    def reservoir_status(self) -> ReservoirStatus:
        r = self.ram
        low_at, empty_at = self._projection()
        return ReservoirStatus(
            drug=r.drug,
            concentration=r.concentration,
            estimated=Volume(r.estimate),
            low_threshold=r.settings.low_reservoir_threshold,
            empty_level=Volume(self._empty),
            capacity=self.profile.capacity,
            filled_at=self.local(r.fill_ticks),
            fill_volume=Volume(r.fill_volume),
            low_alarm_at=low_at,
            empty_at=empty_at,
            awaiting_prescription=r.awaiting_prescription,
        )

    def report(self, log_since: int | None = None) -> InterrogationReport:
        """The full interrogation report."""
        r = self.ram
        overlay = r.overlay
        bolus = None
        if overlay is not None:
            bolus = BolusStatus(
                overlay.kind,
                overlay.volume,
                overlay.dose,
                self.local(overlay.start),
                self.local(overlay.end),
            )
        return InterrogationReport(
            model_id=self.profile.id,
            serial=self.serial,
            local_time=self.local(),
            therapy=self.therapy_status(),
            prescription=r.prescription,
            prescription_hash=r.prescription.content_hash if r.prescription else None,
            reservoir=self.reservoir_status(),
            battery=self.battery_status(),
            alarms=self.alarm_statuses(),
            bolus=bolus,
            patient_bolus=self._availability(),
            settings=r.settings,
            events=self.log.events(log_since),
            log_first_seq=self.log.first_seq,
            log_next_seq=self.log.next_seq,
        )

    def patient_status(self) -> PatientStatus:
        r = self.ram
        rate = self.programmed_rate()
        return PatientStatus(
            local_time=self.local(),
            state=r.state,
            delivering=rate.amount > 0,
            estimated_reservoir=Volume(r.estimate),
            low_reservoir=r.estimate <= r.settings.low_reservoir_threshold.amount,
            alarms=self.alarm_statuses(),
            patient_bolus=self._availability(),
        )
