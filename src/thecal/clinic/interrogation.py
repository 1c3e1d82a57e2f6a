"""The interrogation import document: what a clinician programmer read from a pump.

One JSON object (`thecal-interrogation/1`), the form ``thecal programmer interrogate
--json`` prints, imported with ``POST /api/v1/implants/{id}/interrogations``:

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
        "battery": {"state": "ok", "eri_at": null, "eos_at": null}
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
``dose`` are the boluses the FHIR export reports.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from thecal.therapy.quantities import Mass, Volume
from thecal.therapy.units import parse_mass, parse_volume

__all__ = [
    "BOLUS_EVENT_KINDS",
    "FORMAT",
    "AlarmPriority",
    "AlarmRecord",
    "BatteryState",
    "BatteryStatus",
    "EventRecord",
    "InterrogationDocument",
    "PumpIdentity",
    "PumpStatus",
]

FORMAT = "thecal-interrogation/1"
BOLUS_EVENT_KINDS = frozenset({"patient_bolus", "clinician_bolus", "bridge_bolus", "priming_bolus"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryState(StrEnum):
    OK = "ok"
    ERI = "eri"
    EOS = "eos"


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
