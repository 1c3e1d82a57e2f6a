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

`from_pump_report` builds the document from the pump twin's own `InterrogationReport`
(what `Interrogate` returns), converting the pump's local clock to real time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import InterrogationReport
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
    "from_pump_report",
]

FORMAT = "thecal-interrogation/1"
BOLUS_EVENT_KINDS = frozenset({"patient_bolus", "clinician_bolus", "bridge_bolus", "priming_bolus"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryState(StrEnum):
    """The pump firmware's battery states (`thecal.pump.payloads.BatteryState`)."""

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

    @property
    def reservoir(self) -> Volume:
        return parse_volume(self.reservoir_estimate, "status.reservoir_estimate")


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


REPORTED_VOLUME = Volume(Fraction(1, 10**9))
"""Reported volumes are written down truncated to 10⁻⁹ mL (what the programmer prints):
the pump's estimate, computed from programmed delivery, rarely has an exact decimal."""


def _reported(volume: Volume) -> str:
    return format_quantity(volume.floor_to(REPORTED_VOLUME))


def _aware(local: datetime | None, tz: tzinfo) -> datetime | None:
    if local is None:
        return None
    return local if local.tzinfo is not None else local.replace(tzinfo=tz)


def from_pump_report(
    report: InterrogationReport, interrogated_at: datetime, tz: tzinfo
) -> InterrogationDocument:
    """The import document for a report read from a pump (its clock in `tz`)."""
    events = []
    for event in report.events:
        details = dict(event.details)
        kind = event.kind.value
        if event.kind is LogKind.BOLUS_STARTED and "kind" in details:
            kind = f"{details['kind']}_bolus"
        events.append(
            {"seq": event.seq, "at": _aware(event.at, tz), "kind": kind, "detail": details}
        )
    battery = report.battery
    return InterrogationDocument.model_validate(
        {
            "format": FORMAT,
            "interrogated_at": interrogated_at,
            "pump": {"model": report.model_id, "serial": report.serial},
            "pump_clock": report.local_time,
            "status": {
                "mode": report.therapy.state.value,
                "delivering": report.therapy.delivering,
                "reservoir_estimate": _reported(report.reservoir.estimated),
                "low_reservoir_threshold": _reported(report.reservoir.low_threshold),
                "prescription_hash": report.prescription_hash,
                "battery": {
                    "state": battery.state.value,
                    "eri_at": _aware(battery.eri_at, tz),
                    "eos_at": _aware(battery.eos_at, tz),
                },
            },
            "alarms": [
                {
                    "kind": alarm.kind.value,
                    "priority": alarm.priority.value,
                    "raised_at": _aware(alarm.raised_at, tz),
                    "active": True,
                    "acknowledged": alarm.acknowledged_at is not None,
                }
                for alarm in report.alarms
            ],
            "event_log": events,
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
            kind = str(event["kind"])
            if kind == LogKind.BOLUS_STARTED.value and "kind" in details:
                kind = f"{details['kind']}_bolus"
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
