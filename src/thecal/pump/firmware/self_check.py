"""The periodic self-check: battery measurement, motor retry, memory scrub, checkpoint."""

from __future__ import annotations

from thecal.pump.alarms import AlarmKind
from thecal.pump.firmware.alarm_control import clear_alarm, enter_memory_error, raise_alarm
from thecal.pump.firmware.core import FirmwareCore, FirmwareRestart
from thecal.pump.records import BootCause
from thecal.pump.timebase import duration_us

__all__ = ["CRITICAL_RECORDS", "scrub", "self_check"]

CRITICAL_RECORDS = ("prescription", "settings", "therapy")


def self_check(fw: FirmwareCore) -> None:
    """Battery measurement, motor retry, memory scrub, checkpoint. `FirmwareRestart`
    when the battery is at its reset level."""
    r = fw.ram
    now = r.ticks
    battery = fw.profile.battery
    level = fw.hw.battery_level(now)
    if battery is not None and level is not None:
        if level <= battery.reset_level.value and not r.therapy.low_battery_reset:
            raise FirmwareRestart(BootCause.LOW_BATTERY)
        if level <= battery.eri_level.value and r.therapy.eri_ticks is None:
            r.therapy.eri_ticks = now
            r.therapy.eos_ticks = now + duration_us(battery.eos_after_eri.value)
            raise_alarm(fw, AlarmKind.ERI)
    if r.motor_stalled and fw.hw.motor_turns(now):
        r.motor_stalled = False
        r.probe = True
        clear_alarm(fw, AlarmKind.MOTOR_STALL, "the motor turns again")
    if not r.memory_error:
        bad = scrub(fw)
        if bad:
            enter_memory_error(fw, bad)
    if now >= r.next_checkpoint:
        r.next_checkpoint = now + fw.checkpoint_us
        fw.save_therapy()


def scrub(fw: FirmwareCore) -> str:
    """Verify the critical records and the next few log cells (a rolling scrub); the
    names of any that fail (empty if all pass)."""
    r = fw.ram
    nvm = fw.hw.memory
    bad = [
        key
        for key in CRITICAL_RECORDS
        if key in r.committed and not nvm.verify(key, r.committed[key])
    ]
    log = fw.log
    capacity = log.capacity
    for _ in range(4):
        seq = log.first_seq + (r.scrub_next % max(1, log.next_seq - log.first_seq))
        r.scrub_next += 1
        if seq < log.next_seq and not log.intact(seq):
            bad.append(f"log/{seq % capacity}")
            break
    return ", ".join(bad)
