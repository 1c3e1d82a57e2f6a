"""Starting the firmware: the first start after implant, and the restart from
non-volatile memory after a power loss or reset."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

from thecal.pump.alarms import AlarmKind
from thecal.pump.codec import decode_bytes
from thecal.pump.eventlog import EventLog, LogEvent, LogKind
from thecal.pump.firmware.alarm_control import enter_memory_error, raise_alarm
from thecal.pump.firmware.core import FirmwareCore, SimulationMode
from thecal.pump.firmware.delivery_state import set_state
from thecal.pump.firmware.dispatch import recover_requests
from thecal.pump.firmware.prescribing import prescription_problem
from thecal.pump.hardware import HardwareInterface
from thecal.pump.nvm import RecordCorrupt
from thecal.pump.payloads import AlarmSettings, TherapyState
from thecal.pump.profiles import DeviceProfile
from thecal.pump.records import (
    BootCause,
    Cause,
    FirmwareRam,
    StoredPrescription,
    TherapyRecord,
)
from thecal.pump.timebase import duration_us
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Volume

__all__ = ["boot", "implant"]

F = TypeVar("F", bound=FirmwareCore)


def implant(
    cls: type[F],
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
) -> F:
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
    therapy = TherapyRecord(
        state=state,
        cause=cause,
        rx_started=ticks,
        drug=drug.strip().lower(),
        concentration=concentration,
        estimate=fill.amount,
        fill_volume=fill.amount,
        fill_ticks=ticks,
        clock_offset=0,
        lockout_from=ticks,
    )
    ram = FirmwareRam(
        ticks=ticks,
        therapy=therapy,
        prescription=prescription,
        settings=settings,
        next_check=ticks + duration_us(profile.self_check_interval.value),
        next_checkpoint=ticks + duration_us(profile.checkpoint_interval.value),
    )
    firmware = cls(profile, hardware, library, mode, ram, serial, on_log)
    if prescription is not None:
        problem = prescription_problem(firmware, prescription)
        if problem is not None:
            raise ValueError(f"the implant prescription is refused: {problem.message}")
    firmware.commit_prescription(prescription)
    firmware.commit("settings", settings)
    firmware.save_therapy()
    firmware.log_event(
        LogKind.IMPLANT,
        f"implanted: {profile.model.label}, {fill} of {ram.therapy.drug} at {concentration}",
        drug=ram.therapy.drug,
        concentration=str(concentration),
        fill=str(fill),
    )
    return firmware


def boot(
    cls: type[F],
    profile: DeviceProfile,
    hardware: HardwareInterface,
    library: DrugLibrary,
    mode: SimulationMode,
    ticks: int,
    cause: BootCause,
    serial: str,
    on_log: Callable[[LogEvent, int], None] | None = None,
) -> F:
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
    if not isinstance(therapy, TherapyRecord):
        if "therapy" not in problems:
            problems.append("therapy (missing)")
        therapy = TherapyRecord(
            state=TherapyState.MINIMUM_RATE,
            cause=Cause.MEMORY_ERROR,
            rx_started=ticks,
            drug="unknown",
            concentration=(
                prescription.concentration if prescription else Concentration(Fraction(1))
            ),
            estimate=Fraction(0),
            fill_volume=Fraction(0),
            fill_ticks=ticks,
            clock_offset=0,
        )
    log = EventLog.recover(nvm, profile.log_capacity.value)
    ram = FirmwareRam(ticks=ticks, therapy=therapy, prescription=prescription, settings=settings)
    ram.log_first, ram.log_next = log.first_seq, log.next_seq
    ram.committed = committed
    ram.next_check = ticks + duration_us(profile.self_check_interval.value)
    ram.next_checkpoint = ticks + duration_us(profile.checkpoint_interval.value)
    firmware = cls(profile, hardware, library, mode, ram, serial, on_log)
    recover_requests(firmware)
    firmware.log_event(
        LogKind.BOOT,
        f"restart after {cause.value.replace('_', ' ')}"
        + (f"; unreadable records: {', '.join(problems)}" if problems else ""),
        cause=cause.value,
        unreadable=",".join(problems),
    )
    if not profile.electronics:
        return firmware
    if problems:
        enter_memory_error(firmware, ", ".join(problems))
    if cause is BootCause.LOW_BATTERY and not ram.therapy.low_battery_reset:
        ram.therapy.low_battery_reset = True
        raise_alarm(firmware, AlarmKind.LOW_BATTERY_RESET, cause=Cause.LOW_BATTERY_RESET)
    elif ram.therapy.low_battery_reset and ram.therapy.state is TherapyState.RUNNING:
        set_state(firmware, TherapyState.MINIMUM_RATE, Cause.LOW_BATTERY_RESET)
    firmware.save_therapy()
    return firmware
