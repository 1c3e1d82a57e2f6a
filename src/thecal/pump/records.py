"""The firmware's records: what it keeps in RAM and what it commits to non-volatile memory.

`FirmwareRam` is everything the running firmware holds; a power loss loses it and the
firmware rebuilds it from the committed records (`TherapyRecord`, `StoredPrescription`,
`AlarmSettings`, the event log and the remembered requests). All are plain values so
that `PumpTwin.snapshot` can save them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from thecal.pump.alarms import ActiveAlarm
from thecal.pump.codec import register
from thecal.pump.commands import Command, Response, Role
from thecal.pump.payloads import AlarmSettings, BolusKind, TherapyState
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Mass, Volume

__all__ = [
    "ActiveBolus",
    "BootCause",
    "Cause",
    "FirmwareRam",
    "RequestRecord",
    "StoredPrescription",
    "TherapyRecord",
]


class Cause(StrEnum):
    """Why the therapy state is what it is."""

    IMPLANT = "implant"
    PRESCRIPTION = "prescription"
    COMMAND = "command"
    EMPTY_RESERVOIR = "empty_reservoir"
    LOW_BATTERY_RESET = "low_battery_reset"
    MEMORY_ERROR = "memory_error"
    NEW_SOLUTION = "new_solution"
    SINGLE_BOLUS_DONE = "single_bolus_done"
    END_OF_SERVICE = "end_of_service"
    PRIMING_DONE = "priming_done"
    CONSTANT_FLOW = "constant_flow"


class BootCause(StrEnum):
    IMPLANT = "implant"
    POWER_LOSS = "power_loss"
    LOW_BATTERY = "low_battery"


@dataclass(frozen=True)
class ActiveBolus:
    """A bolus running now. `replaces_base`: priming and bridge boluses run instead of the
    schedule; clinician and patient boluses run on top of it."""

    kind: BolusKind
    volume: Volume
    dose: Mass
    start: int  # ticks
    end: int  # ticks
    replaces_base: bool
    request_id: str

    @property
    def rate_per_us(self) -> Fraction:
        """mL per µs."""
        return self.volume.amount / (self.end - self.start)


@dataclass(frozen=True)
class StoredPrescription:
    prescription: Prescription | None
    content_hash: str | None


@dataclass
class TherapyRecord:
    """The therapy state the firmware commits to non-volatile memory (at every change
    and at checkpoints). The RAM holds it as it is (`FirmwareRam.therapy`): a commit
    writes it, a restart reads it back."""

    state: TherapyState
    cause: Cause
    rx_started: int  # ticks: when the stored prescription started
    drug: str
    concentration: Concentration
    estimate: Fraction  # mL, calculated from programmed delivery
    fill_volume: Fraction  # mL at the last fill
    fill_ticks: int
    clock_offset: int  # µs from oscillator ticks to the local clock
    alarms: tuple[ActiveAlarm, ...] = ()
    awaiting_prescription: bool = False
    low_battery_reset: bool = False
    eri_ticks: int | None = None
    eos_ticks: int | None = None
    patient_starts: tuple[int, ...] = ()
    lockout_from: int | None = None
    mri_latched: bool = False
    valve_closed: bool = False
    programmed: Fraction = Fraction(0)  # all programmed volume while delivering (mL)


@dataclass(frozen=True)
class RequestRecord:
    """A remembered request and the response it got."""

    role: Role
    id: str
    command: Command
    response: Response


@dataclass
class FirmwareRam:
    """Everything the running firmware holds in RAM: the committed therapy record and
    the prescription and settings as last committed, plus what a restart loses."""

    ticks: int
    therapy: TherapyRecord
    prescription: Prescription | None
    settings: AlarmSettings
    overlay: ActiveBolus | None = None
    field_present: bool = False
    motor_stalled: bool = False
    memory_error: bool = False
    carry: Fraction = Fraction(0)  # programmed volume not yet moved by a whole stroke (mL)
    next_check: int = 0
    next_checkpoint: int = 0
    probe: bool = False
    log_first: int = 1
    log_next: int = 1
    requests: dict[str, int] = field(default_factory=dict)  # "role:id" -> ring slot
    request_next: int = 0
    committed: dict[str, int] = field(default_factory=dict)  # record -> committed seq
    scrub_next: int = 0


register(
    Cause,
    BootCause,
    ActiveBolus,
    StoredPrescription,
    TherapyRecord,
    RequestRecord,
    FirmwareRam,
)
