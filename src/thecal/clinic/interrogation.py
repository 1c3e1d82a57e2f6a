"""The interrogation import document: what a clinician programmer read from a pump.

One JSON object (`thecal-interrogation/1`), imported with
``POST /api/v1/implants/{id}/interrogations``; what ``thecal programmer interrogate --json``
prints is converted to it by `from_programmer_output`:

    {
      "format": "thecal-interrogation/1",
      "interrogated_at": "2026-03-02T09:15:00+00:00",
      "pump": {"model": "peristaltic-20", "serial": "PS20-000123", "firmware": "1.0"},
      "pump_clock": "2026-03-02T10:15:00",
      "status": {
        "mode": "flex",
        "delivering": true,
        "reservoir_estimate": "12.4 mL",
        "low_reservoir_threshold": "2 mL",
        "prescription_hash": "9f1c…",
        "battery": {"state": "normal", "eri_at": null, "eos_at": null}
      },
      "alarms": [{"kind": "low_reservoir", "priority": "non_critical",
                  "raised_at": "2026-03-01T22:00:00+00:00", "active": true,
                  "acknowledged": false}],
      "event_log": [{"seq": 41, "at": "2026-03-01T08:00:00+00:00", "kind": "patient_bolus",
                     "detail": {"dose": "50 mcg"}}]
    }

Quantities are human text parsed once by `thecal.therapy.units`; times are ISO 8601
with an offset (the pump clock, local and without offset, is kept as given). Events of
kind ``patient_bolus``, ``clinician_bolus``, ``bridge_bolus`` or ``priming_bolus`` with a
``dose`` are the boluses the FHIR export reports. Battery states, alarm kinds and
priorities use the pump firmware's vocabulary.

The clinic files typed readings (`thecal.programmer.reading.PumpReading`, what a
clinician programmer read from the pump): a document is read into one once
(`InterrogationDocument.reading`), and `stored_document` writes a reading in this format
for storage, converting the pump's local clock to real time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from thecal.programmer.reading import (
    AlarmReading,
    BatteryReading,
    EventReading,
    PumpReading,
    event_kind,
)
from thecal.therapy.quantities import Mass, Volume
from thecal.therapy.units import format_quantity, parse_mass, parse_volume

__all__ = [
    "BOLUS_EVENT_KINDS",
    "FORMAT",
    "AlarmPriority",
    "AlarmRecord",
    "BatteryState",
    "BatteryStatus",
    "EventRecord",
    "InterrogationDocument",
    "ProgrammerOutputError",
    "PumpIdentity",
    "PumpStatus",
    "from_programmer_output",
    "reported",
    "stored_document",
]

FORMAT = "thecal-interrogation/1"
BOLUS_EVENT_KINDS = frozenset({"patient_bolus", "clinician_bolus", "bridge_bolus", "priming_bolus"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryState(StrEnum):
    """The pump firmware's battery states (`thecal.programmer.reading.BatteryReading`)."""

    NORMAL = "normal"
    ERI = "eri"
    END_OF_SERVICE = "end_of_service"
    LOW_BATTERY_RESET = "low_battery_reset"
    NO_BATTERY = "no_battery"

    @property
    def needs_replacement(self) -> bool:
        """ERI, end of service, or a low-battery reset: the pump must be replaced now."""
        return self in (
            BatteryState.ERI,
            BatteryState.END_OF_SERVICE,
            BatteryState.LOW_BATTERY_RESET,
        )


class AlarmPriority(StrEnum):
    CRITICAL = "critical"
    NON_CRITICAL = "non_critical"
    INFORMATION = "information"


class PumpIdentity(_Strict):
    model: str = Field(min_length=1, max_length=64)
    serial: str = Field(min_length=1, max_length=64)
    firmware: str | None = Field(default=None, max_length=64)


class BatteryStatus(_Strict):
    state: BatteryState
    eri_at: AwareDatetime | None = None
    eos_at: AwareDatetime | None = None


def _volume_text(value: str, field: str) -> str:
    parse_volume(value, field)
    return value


class PumpStatus(_Strict):
    mode: str = Field(min_length=1, max_length=32)
    delivering: bool
    reservoir_estimate: str = Field(max_length=32, examples=["12.4 mL"])
    low_reservoir_threshold: str | None = Field(default=None, max_length=32)
    prescription_hash: str | None = Field(default=None, max_length=64)
    battery: BatteryStatus | None = None

    @field_validator("reservoir_estimate")
    @classmethod
    def _reservoir(cls, value: str) -> str:
        return _volume_text(value, "status.reservoir_estimate")

    @field_validator("low_reservoir_threshold")
    @classmethod
    def _threshold(cls, value: str | None) -> str | None:
        return None if value is None else _volume_text(value, "status.low_reservoir_threshold")


class AlarmRecord(_Strict):
    kind: str = Field(min_length=1, max_length=64)
    priority: AlarmPriority
    raised_at: AwareDatetime
    active: bool
    acknowledged: bool = False


class EventRecord(_Strict):
    seq: int = Field(ge=0, le=2**62)
    at: AwareDatetime
    kind: str = Field(min_length=1, max_length=64)
    detail: dict[str, str | int | bool | None] = Field(default_factory=dict)

    def bolus_dose(self) -> Mass | None:
        """The dose of a bolus event, or None for other events."""
        if self.kind not in BOLUS_EVENT_KINDS:
            return None
        dose = self.detail.get("dose")
        return parse_mass(dose, f"event {self.seq} dose") if isinstance(dose, str) else None


class InterrogationDocument(_Strict):
    """A pump interrogation, validated as a whole (unknown keys are refused)."""

    format: Literal["thecal-interrogation/1"]
    interrogated_at: AwareDatetime
    pump: PumpIdentity
    pump_clock: datetime | None = None
    status: PumpStatus
    alarms: list[AlarmRecord] = Field(default_factory=list, max_length=1000)
    event_log: list[EventRecord] = Field(default_factory=list, max_length=100_000)

    def reading(self) -> PumpReading:
        """The typed reading this document describes (its quantities read once, here)."""
        status, battery = self.status, self.status.battery
        threshold = status.low_reservoir_threshold
        return PumpReading(
            serial=self.pump.serial,
            model_id=self.pump.model,
            taken_at=self.interrogated_at,
            mode=status.mode,
            delivering=status.delivering,
            reservoir_estimate=parse_volume(status.reservoir_estimate, "status.reservoir_estimate"),
            low_reservoir_threshold=None
            if threshold is None
            else parse_volume(threshold, "status.low_reservoir_threshold"),
            prescription_hash=status.prescription_hash,
            battery=None
            if battery is None
            else BatteryReading(battery.state.value, battery.eri_at, battery.eos_at),
            alarms=tuple(
                AlarmReading(a.kind, a.priority.value, a.raised_at, a.acknowledged, a.active)
                for a in self.alarms
            ),
            events=tuple(
                EventReading(e.seq, e.at, e.kind, tuple(e.detail.items())) for e in self.event_log
            ),
            pump_clock=self.pump_clock,
            firmware=self.pump.firmware,
        )


REPORTED_VOLUME = Volume(Fraction(1, 10**9))
"""Reported volumes are written down truncated to 10⁻⁹ mL (what the programmer prints):
the pump's estimate, computed from programmed delivery, rarely has an exact decimal."""


def reported(volume: Volume) -> Volume:
    """A pump's volume as the clinic files it: truncated to `REPORTED_VOLUME`."""
    return volume.floor_to(REPORTED_VOLUME)


def _aware(local: datetime | None, tz: tzinfo) -> datetime | None:
    if local is None:
        return None
    return local if local.tzinfo is not None else local.replace(tzinfo=tz)


def stored_document(reading: PumpReading, tz: tzinfo) -> InterrogationDocument:
    """A reading written in this document's format for storage: the pump's local times read
    in `tz`, volumes truncated to `REPORTED_VOLUME`. A pydantic `ValidationError` names
    what the format does not accept (an unknown battery state or alarm priority)."""
    battery = reading.battery
    threshold = reading.low_reservoir_threshold
    return InterrogationDocument.model_validate(
        {
            "format": FORMAT,
            "interrogated_at": _aware(reading.taken_at, tz),
            "pump": {
                "model": reading.model_id,
                "serial": reading.serial,
                "firmware": reading.firmware,
            },
            "pump_clock": reading.pump_clock,
            "status": {
                "mode": reading.mode,
                "delivering": reading.delivering,
                "reservoir_estimate": format_quantity(reported(reading.reservoir_estimate)),
                "low_reservoir_threshold": None
                if threshold is None
                else format_quantity(reported(threshold)),
                "prescription_hash": reading.prescription_hash,
                "battery": None
                if battery is None
                else {
                    "state": battery.state,
                    "eri_at": _aware(battery.eri_at, tz),
                    "eos_at": _aware(battery.eos_at, tz),
                },
            },
            "alarms": [
                {
                    "kind": alarm.kind,
                    "priority": alarm.priority,
                    "raised_at": _aware(alarm.raised_at, tz),
                    "active": alarm.active,
                    "acknowledged": alarm.acknowledged,
                }
                for alarm in reading.alarms
            ],
            "event_log": [
                {"seq": e.seq, "at": _aware(e.at, tz), "kind": e.kind, "detail": dict(e.details)}
                for e in reading.events
            ],
        }
    )


class ProgrammerOutputError(ValueError):
    """Programmer output that cannot be read as an interrogation; names what is wrong."""


def _local(text: object, where: str) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ProgrammerOutputError(f"{where}: not a time")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ProgrammerOutputError(f"{where}: {text!r} is not an ISO 8601 time") from None


def _millilitres(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProgrammerOutputError(f"{where}: not a volume in mL")
    # The programmer prints exact quantities as decimal numbers (truncated at 9 places):
    # read the printed digits, never the binary float.
    return f"{Decimal(repr(value) if isinstance(value, float) else str(value))} mL"


def from_programmer_output(
    data: Mapping[str, Any], tz: tzinfo, interrogated_at: datetime | None = None
) -> InterrogationDocument:
    """The import document for what ``thecal programmer interrogate --json`` printed (the
    whole object, or its ``report``). Pump times are local to `tz`; `interrogated_at`
    defaults to the pump's own clock at the reading. `ProgrammerOutputError` (a
    `ValueError`) or a pydantic `ValidationError` names what does not fit."""
    report = data.get("report", data)
    if not isinstance(report, Mapping):
        raise ProgrammerOutputError("report: not an object")
    try:
        local_time = _local(report["local_time"], "report.local_time")
        therapy, reservoir, battery = report["therapy"], report["reservoir"], report["battery"]
        events = []
        for index, event in enumerate(report.get("events") or ()):
            details = {str(k): str(v) for k, v in event.get("details") or ()}
            kind = event_kind(str(event["kind"]), tuple(details.items()))
            at = _local(event["at"], f"report.events[{index}].at")
            events.append(
                {"seq": event["seq"], "at": _aware(at, tz), "kind": kind, "detail": details}
            )
        alarms = [
            {
                "kind": alarm["kind"],
                "priority": alarm["priority"],
                "raised_at": _aware(_local(alarm["raised_at"], f"report.alarms[{i}]"), tz),
                "active": True,
                "acknowledged": alarm.get("acknowledged_at") is not None,
            }
            for i, alarm in enumerate(report.get("alarms") or ())
        ]
        document = {
            "format": FORMAT,
            "interrogated_at": interrogated_at or _aware(local_time, tz),
            "pump": {"model": report["model_id"], "serial": report["serial"]},
            "pump_clock": local_time,
            "status": {
                "mode": therapy["state"],
                "delivering": therapy["delivering"],
                "reservoir_estimate": _millilitres(reservoir["estimated"], "reservoir.estimated"),
                "low_reservoir_threshold": _millilitres(
                    reservoir["low_threshold"], "reservoir.low_threshold"
                ),
                "prescription_hash": report.get("prescription_hash"),
                "battery": {
                    "state": battery["state"],
                    "eri_at": _aware(_local(battery.get("eri_at"), "battery.eri_at"), tz),
                    "eos_at": _aware(_local(battery.get("eos_at"), "battery.eos_at"), tz),
                },
            },
            "alarms": alarms,
            "event_log": events,
        }
    except (KeyError, TypeError, AttributeError, InvalidOperation) as error:
        raise ProgrammerOutputError(
            f"not the output of `thecal programmer interrogate --json` ({type(error).__name__}:"
            f" {error}); accepted: that command's JSON object or its 'report'"
        ) from None
    return InterrogationDocument.model_validate(document)
