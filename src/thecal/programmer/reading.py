"""What a clinician programmer read from a pump, as plain typed values the clinic takes in.

The pump answers an interrogation with its own wire type
(`thecal.pump.payloads.InterrogationReport`); the clinic does not import the pump's types
(layers: ``docs/architecture.md``). `reading_of` turns the report into a `PumpReading`:
exact quantities, the pump's clock as the pump gives it, and its alarms and event log in
the pump's own vocabulary (the names of states, kinds and priorities). Nothing becomes
display text on the way: the clinic files these values as they are
(`thecal.clinic.service.interrogations.file_reading`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import InterrogationReport
from thecal.therapy.quantities import Volume

__all__ = [
    "AlarmReading",
    "BatteryReading",
    "Detail",
    "EventReading",
    "PumpReading",
    "event_kind",
    "reading_of",
]


@dataclass(frozen=True)
class BatteryReading:
    """The battery as the pump reports it."""

    state: str
    """The pump's battery state: normal, eri, end_of_service, low_battery_reset, no_battery."""
    eri_at: datetime | None = None
    eos_at: datetime | None = None


@dataclass(frozen=True)
class AlarmReading:
    """One alarm the pump reports as raised."""

    kind: str
    priority: str
    """critical, non_critical or information."""
    raised_at: datetime
    acknowledged: bool = False
    active: bool = True
    """A pump reports the alarms that are raised; a document may also list cleared ones."""


Detail = str | int | bool | None
"""A value in an event's details (the pump's own are text)."""


@dataclass(frozen=True)
class EventReading:
    """One entry of the pump's event log."""

    seq: int
    at: datetime
    kind: str
    """The log's kind; a started bolus is named by its kind (`event_kind`)."""
    details: tuple[tuple[str, Detail], ...] = ()


@dataclass(frozen=True)
class PumpReading:
    """One interrogation of a pump. Times are as the pump's clock gives them (naive: the
    pump's local time, which the clinic reads in its own time zone) or carry an offset."""

    serial: str
    model_id: str
    taken_at: datetime
    """When the reading was taken."""
    mode: str
    """The pump's delivery state (running, stopped, minimum_rate, ...)."""
    delivering: bool
    reservoir_estimate: Volume
    """The pump's estimate, calculated from programmed delivery, not measured."""
    low_reservoir_threshold: Volume | None = None
    prescription_hash: str | None = None
    battery: BatteryReading | None = None
    alarms: tuple[AlarmReading, ...] = ()
    events: tuple[EventReading, ...] = ()
    pump_clock: datetime | None = None
    """The pump's own clock at the reading (its local time), when known."""
    firmware: str | None = None


def event_kind(kind: str, details: tuple[tuple[str, Detail], ...]) -> str:
    """The name a log event is filed under: a started bolus is named by its kind
    (``patient_bolus``, ``clinician_bolus``, ``bridge_bolus``, ``priming_bolus``), so the
    boluses the pump gave can be found in the record; other events keep their kind."""
    if kind == LogKind.BOLUS_STARTED.value:
        for name, value in details:
            if name == "kind":
                return f"{value}_bolus"
    return kind


def reading_of(report: InterrogationReport) -> PumpReading:
    """The reading an interrogation report gives (taken at the pump's clock)."""
    battery = report.battery
    return PumpReading(
        serial=report.serial,
        model_id=report.model_id,
        taken_at=report.local_time,
        mode=report.therapy.state.value,
        delivering=report.therapy.delivering,
        reservoir_estimate=report.reservoir.estimated,
        low_reservoir_threshold=report.reservoir.low_threshold,
        prescription_hash=report.prescription_hash,
        battery=BatteryReading(battery.state.value, battery.eri_at, battery.eos_at),
        alarms=tuple(
            AlarmReading(
                alarm.kind.value,
                alarm.priority.value,
                alarm.raised_at,
                alarm.acknowledged_at is not None,
            )
            for alarm in report.alarms
        ),
        events=tuple(
            EventReading(
                event.seq,
                event.at,
                event_kind(event.kind.value, event.details),
                event.details,
            )
            for event in report.events
        ),
        pump_clock=report.local_time,
    )
