"""The firmware's parts and the primitives every other firmware module uses.

`FirmwareCore` holds the device profile, the hardware interface, the drug library, the
RAM and the event log, and offers the few operations everything needs: the local clock,
logging an event, committing a record to non-volatile memory. Every other module of the
package is a set of functions over it; `Firmware` (in `machine`) adds the public methods.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from thecal.pump.codec import encode_bytes
from thecal.pump.eventlog import EventLog, LogEvent, LogKind
from thecal.pump.firmware.programmed import ProgrammedDelivery, programmed_delivery
from thecal.pump.hardware import HardwareInterface
from thecal.pump.profiles import DeviceProfile
from thecal.pump.records import BootCause, FirmwareRam, StoredPrescription
from thecal.pump.timebase import DAY_US, duration_us, from_us
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Prescription

__all__ = ["FirmwareCore", "FirmwareRestart", "SimulationMode"]


class SimulationMode(StrEnum):
    """How the firmware integrates programmed delivery (see the package docstring)."""

    STROKES = "strokes"
    ANALYTIC = "analytic"


class FirmwareRestart(Exception):
    """The electronics reset (low battery); the twin restarts the firmware from memory."""

    def __init__(self, cause: BootCause) -> None:
        self.cause = cause
        super().__init__(f"firmware restart: {cause.value}")


class FirmwareCore:
    """The firmware's parts: profile, hardware, library, RAM, event log."""

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
        self.stroke = profile.stroke_volume.value.ml
        self.min_rate = profile.model.minimum_rate.value
        self.min_rate_us = self.min_rate.amount / DAY_US
        self.check_us = duration_us(profile.self_check_interval.value)
        self.checkpoint_us = duration_us(profile.checkpoint_interval.value)
        self.empty = profile.empty_level.value.amount

    def local(self, ticks: int | None = None) -> datetime:
        """The pump's local wall-clock time at `ticks` (now by default)."""
        return from_us((self.ram.ticks if ticks is None else ticks) + self.ram.therapy.clock_offset)

    @property
    def ticks(self) -> int:
        return self.ram.ticks

    def programmed(self, with_bolus: bool = True) -> ProgrammedDelivery:
        """What the firmware is programmed to deliver from now on (holds aside), with the
        running bolus unless `with_bolus` is false."""
        r = self.ram
        bolus = r.overlay if with_bolus else None
        return programmed_delivery(
            r.therapy.state,
            r.prescription,
            r.therapy.rx_started,
            r.therapy.clock_offset,
            self.min_rate,
            bolus,
        )

    def log_event(self, kind: LogKind, message: str, /, **details: str) -> LogEvent:
        """Append one event to the log (in non-volatile memory) and tell the observer."""
        event = self.log.append(self.local(), kind, message, tuple(details.items()))
        self.ram.log_first, self.ram.log_next = self.log.first_seq, self.log.next_seq
        if self.on_log is not None:
            self.on_log(event, self.ram.ticks)
        return event

    def commit(self, key: str, value: object) -> None:
        """Write one record to non-volatile memory and remember its sequence number."""
        self.ram.committed[key] = self.hw.memory.write(key, encode_bytes(value))

    def commit_prescription(self, prescription: Prescription | None) -> None:
        stored = StoredPrescription(
            prescription, prescription.content_hash if prescription is not None else None
        )
        self.commit("prescription", stored)

    def save_therapy(self) -> None:
        """Commit the therapy record (at every change and at checkpoints)."""
        self.commit("therapy", self.ram.therapy)
