"""What the pump answers: the payloads of `Accepted` (and `Rejected`) responses.

Every payload is a frozen dataclass of plain values (str, int, bool, Fraction,
datetime, enums, therapy quantities, tuples and nested payloads), so the telemetry link
can encode them generically (see `thecal.pump.wire_types`). Times are the pump's local
clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from thecal.pump.alarms import AlarmKind, DeliveryResponse, Priority, Tone
from thecal.pump.codec import register
from thecal.pump.commands import Rejection
from thecal.pump.eventlog import LogEvent
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume, VolumeRate
from thecal.therapy.refill import Discrepancy, Reconciliation
from thecal.therapy.safety import Verdict

__all__ = [
    "AlarmAcknowledged",
    "AlarmSettings",
    "AlarmStatus",
    "AlarmTestResult",
    "BatteryState",
    "BatteryStatus",
    "BolusDenial",
    "BolusGrant",
    "BolusKind",
    "BolusStatus",
    "ClockChange",
    "DeliveryChange",
    "FlowValveReset",
    "HardLimitRefusal",
    "Hold",
    "InterrogationReport",
    "MotorCheck",
    "PatientBolusAvailability",
    "PatientStatus",
    "PrescriptionStored",
    "RefillReconciliation",
    "ReservoirStatus",
    "TherapyState",
    "TherapyStatus",
]


class TherapyState(StrEnum):
    """The firmware's base delivery state (boluses run on top of it)."""

    RUNNING = "running"  # the stored prescription
    STOPPED = "stopped"
    MINIMUM_RATE = "minimum_rate"
    END_OF_SERVICE = "end_of_service"
    CONSTANT_FLOW = "constant_flow"  # a non-programmable pump: the restrictor's fixed rate


class Hold(StrEnum):
    """Conditions that keep the pump from delivering whatever its state says."""

    MRI_FIELD = "mri_field"  # a strong field is present: infusion suspended
    MRI_LATCH = "mri_latch"  # was alarming when the field came: waits for an interrogation
    MOTOR_STALL = "motor_stall"
    FLOW_VALVE_CLOSED = "flow_valve_closed"


class BolusKind(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    PRIMING = "priming"
    BRIDGE = "bridge"


class BatteryState(StrEnum):
    NORMAL = "normal"
    ERI = "eri"
    END_OF_SERVICE = "end_of_service"
    LOW_BATTERY_RESET = "low_battery_reset"
    NO_BATTERY = "no_battery"


@dataclass(frozen=True)
class AlarmSettings:
    """Programmable alarm settings."""

    low_reservoir_threshold: Volume
    critical_repeat: Duration


@dataclass(frozen=True)
class AlarmStatus:
    kind: AlarmKind
    priority: Priority
    tones: tuple[Tone, ...]
    response: DeliveryResponse
    raised_at: datetime
    acknowledged_at: datetime | None
    next_tone_at: datetime | None
    tones_sounded: int


@dataclass(frozen=True)
class TherapyStatus:
    state: TherapyState
    reason: str
    delivering: bool
    holds: tuple[Hold, ...]
    volume_rate: VolumeRate  # programmed at this moment, boluses included
    dose_rate: DoseRate


@dataclass(frozen=True)
class ReservoirStatus:
    drug: str
    concentration: Concentration
    estimated: Volume  # calculated from programmed delivery, not measured
    low_threshold: Volume
    empty_level: Volume
    capacity: Volume
    filled_at: datetime
    fill_volume: Volume
    low_alarm_at: datetime | None  # projected at the programmed rate, no patient boluses
    empty_at: datetime | None
    awaiting_prescription: bool


@dataclass(frozen=True)
class BatteryStatus:
    state: BatteryState
    level: Fraction | None  # measured charge, fraction of capacity (None: no battery)
    eri_at: datetime | None
    eos_at: datetime | None


@dataclass(frozen=True)
class BolusStatus:
    kind: BolusKind
    volume: Volume
    dose: Mass
    started_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class PatientBolusAvailability:
    available: bool
    reason: Rejection | None
    message: str
    dose: Mass
    count_24h: int
    max_per_24h: int
    next_allowed_at: datetime | None


@dataclass(frozen=True)
class InterrogationReport:
    """The clinician's full view of the pump."""

    model_id: str
    serial: str
    local_time: datetime
    therapy: TherapyStatus
    prescription: Prescription | None
    prescription_hash: str | None
    reservoir: ReservoirStatus
    battery: BatteryStatus
    alarms: tuple[AlarmStatus, ...]
    bolus: BolusStatus | None
    patient_bolus: PatientBolusAvailability | None
    settings: AlarmSettings
    events: tuple[LogEvent, ...]
    log_first_seq: int
    log_next_seq: int


@dataclass(frozen=True)
class PatientStatus:
    """The patient controller's view."""

    local_time: datetime
    state: TherapyState
    delivering: bool
    estimated_reservoir: Volume
    low_reservoir: bool
    alarms: tuple[AlarmStatus, ...]
    patient_bolus: PatientBolusAvailability | None


@dataclass(frozen=True)
class BolusGrant:
    kind: BolusKind
    dose: Mass
    volume: Volume
    starts_at: datetime
    ends_at: datetime
    count_24h: int | None = None  # patient boluses in the rolling 24 h, this one included
    max_per_24h: int | None = None
    next_allowed_at: datetime | None = None


@dataclass(frozen=True)
class BolusDenial:
    """Why a patient bolus was refused (the payload of the `Rejected`)."""

    count_24h: int  # patient boluses already in the rolling 24 h
    max_per_24h: int
    next_allowed_at: datetime | None


@dataclass(frozen=True)
class HardLimitRefusal:
    """The firmware's hard-limit re-check refused the prescription: every refusal."""

    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class PrescriptionStored:
    content_hash: str
    started_at: datetime
    daily_dose: Mass | None  # programmed, without patient boluses (None for a single bolus)
    low_alarm_at: datetime | None


@dataclass(frozen=True)
class RefillReconciliation:
    """A registered refill: the refill rules' reconciliation of the aspirate against the
    pump's own record (`thecal.therapy.refill.reconcile`: expected, range, the one
    `Discrepancy`, the empty reservoir and when it ran dry), and what went in.
    `new_solution`: the drug or concentration changed, a prescription must follow."""

    reconciliation: Reconciliation
    new_solution: bool
    new_volume: Volume
    drug: str
    concentration: Concentration
    lockout_until: datetime | None
    low_alarm_at: datetime | None

    @property
    def flagged(self) -> bool:
        return self.reconciliation.flagged

    @property
    def discrepancy(self) -> Discrepancy:
        return self.reconciliation.discrepancy

    @property
    def expected(self) -> Volume:
        """The pump's estimate just before the refill."""
        return self.reconciliation.expectation.most_likely

    @property
    def aspirated(self) -> Volume:
        return self.reconciliation.aspirated

    @property
    def difference(self) -> Volume:
        """Aspirated minus expected (negative: less came back)."""
        return self.reconciliation.difference


@dataclass(frozen=True)
class DeliveryChange:
    previous: TherapyState
    state: TherapyState
    at: datetime


@dataclass(frozen=True)
class ClockChange:
    """A SetClock: the jump and what it does to the schedule (which follows the wall clock)."""

    previous_local: datetime
    new_local: datetime
    jump: Duration  # negative when the clock went back
    skipped_volume: Volume  # programmed volume of the wall-clock time jumped over
    repeated_volume: Volume  # programmed volume of the wall-clock time that will run again


@dataclass(frozen=True)
class AlarmAcknowledged:
    kind: AlarmKind
    at: datetime


@dataclass(frozen=True)
class AlarmTestResult:
    tones: tuple[Tone, ...]


@dataclass(frozen=True)
class MotorCheck:
    motor_ok: bool
    hold_released: bool
    message: str


@dataclass(frozen=True)
class FlowValveReset:
    at: datetime


register(
    TherapyState,
    Hold,
    BolusKind,
    BatteryState,
    AlarmSettings,
    AlarmStatus,
    TherapyStatus,
    ReservoirStatus,
    BatteryStatus,
    BolusStatus,
    PatientBolusAvailability,
    InterrogationReport,
    PatientStatus,
    BolusGrant,
    BolusDenial,
    HardLimitRefusal,
    PrescriptionStored,
    RefillReconciliation,
    DeliveryChange,
    ClockChange,
    AlarmAcknowledged,
    AlarmTestResult,
    MotorCheck,
    FlowValveReset,
)
