"""When must this pump be refilled? Pure rules over the therapy projection.

The refill is due by the earlier of

- the projected low-reservoir alarm, less a safety margin (larger for drugs whose
  abrupt withdrawal can kill, such as baclofen), and
- the end of the drug's stability in the pump (`DrugEntry.refill_limit`: shorter after a
  first fill where the library says so, e.g. ziconotide),

always counting worst-case patient boluses (the Prometra controller's rule, [S33]).
The reservoir is followed from its last known content (a refill, or the pump's own
estimate from an interrogation) through every prescription in force since, with
`thecal.therapy.projection`, the one reservoir projection.

The pump's schedule runs on its local clock: each prescription's day is aligned to
local time in `tz` at the moment it takes over; durations are then counted in real
(UTC) time, so a daylight-saving change shifts the time-of-day steps by the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction

from thecal.therapy.prescription import Prescription
from thecal.therapy.projection import (
    VolumePattern,
    prescription_pattern,
    project_reservoir,
)
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Duration, Volume, VolumeRate

__all__ = [
    "DeliveryPeriod",
    "RefillLimit",
    "RefillPlan",
    "ReservoirAnchor",
    "plan_refill",
    "volume_moved",
]

MICROS = 1_000_000


class RefillLimit(StrEnum):
    """What set the refill-due time."""

    ALARM_MARGIN = "alarm_margin"
    STABILITY = "stability"


@dataclass(frozen=True)
class ReservoirAnchor:
    """What the reservoir held at a moment: a refill's new volume, or the pump's estimate."""

    at: datetime
    volume: Volume


@dataclass(frozen=True)
class DeliveryPeriod:
    """`prescription` is in force from `start` until the next period starts."""

    start: datetime
    prescription: Prescription


@dataclass(frozen=True)
class RefillPlan:
    """The projected dates for one filled pump (all times time-zone aware)."""

    low_alarm_at: datetime | None
    empty_at: datetime | None
    stability_limit_at: datetime
    margin: Duration
    refill_due: datetime
    limited_by: RefillLimit
    average_volume_rate: VolumeRate
    """Worst-case long-run volume rate of the prescription now in force."""


def _local(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def _periods_from(
    anchor_at: datetime, deliveries: Sequence[DeliveryPeriod]
) -> list[tuple[datetime, datetime | None, Prescription]]:
    """(start, end, prescription) pieces covering [anchor_at, ∞)."""
    ordered = sorted(deliveries, key=lambda period: period.start)
    if not ordered or ordered[0].start > anchor_at:
        raise ValueError("no prescription is in force at the reservoir anchor time")
    pieces: list[tuple[datetime, datetime | None, Prescription]] = []
    for index, period in enumerate(ordered):
        end = ordered[index + 1].start if index + 1 < len(ordered) else None
        if end is not None and end <= anchor_at:
            continue
        pieces.append((max(period.start, anchor_at), end, period.prescription))
    return pieces


def _pattern(
    prescription: Prescription, start: datetime, pump: PumpModel, tz: tzinfo, boluses: bool
) -> VolumePattern:
    return prescription_pattern(
        prescription,
        _local(start, tz),
        minimum_rate=pump.minimum_rate.value,
        include_patient_boluses=boluses,
    )


def volume_moved(
    anchor_at: datetime,
    until: datetime,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    tz: tzinfo,
    include_patient_boluses: bool,
) -> Volume:
    """Volume the prescriptions in force move out of the reservoir from `anchor_at` to
    `until` (programmed delivery, plus worst-case patient boluses when asked)."""
    if until <= anchor_at:
        return Volume.zero()
    total = Fraction(0)
    for start, end, prescription in _periods_from(anchor_at, deliveries):
        if start >= until:
            break
        stop = until if end is None or end > until else end
        pattern = _pattern(prescription, start, pump, tz, include_patient_boluses)
        total += pattern.volume_until(_micros(stop - start))
    return Volume(total)


def _before(moment: datetime | None, end: datetime | None) -> bool:
    return moment is not None and (end is None or moment < end)


def plan_refill(
    anchor: ReservoirAnchor,
    filled_at: datetime,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    alarm_threshold: Volume,
    stability: Duration,
    margin: Duration,
    tz: tzinfo,
) -> RefillPlan:
    """Project the reservoir from `anchor` through `deliveries` and say when the refill
    is due. `filled_at` starts the stability clock (the time the drug went in)."""
    remaining = anchor.volume.amount
    low: datetime | None = None
    empty: datetime | None = None
    pattern: VolumePattern | None = None
    for start, end, prescription in _periods_from(anchor.at, deliveries):
        pattern = _pattern(prescription, start, pump, tz, True)
        projection = project_reservoir(pattern, Volume(max(remaining, Fraction(0))),
                                       alarm_threshold, start)  # fmt: skip
        # A crossing counts only if it happens before the next prescription takes over.
        if low is None and _before(projection.low_alarm_at, end):
            low = projection.low_alarm_at
        if empty is None and _before(projection.empty_at, end):
            empty = projection.empty_at
        if end is None:
            break
        remaining -= pattern.volume_until(_micros(end - start))
    assert pattern is not None  # _periods_from never returns an empty list
    stable_until = filled_at + stability.to_timedelta_floor()
    by_alarm = low - margin.to_timedelta_floor() if low is not None else None
    if by_alarm is not None and by_alarm <= stable_until:
        due, limited_by = by_alarm, RefillLimit.ALARM_MARGIN
    else:
        due, limited_by = stable_until, RefillLimit.STABILITY
    return RefillPlan(
        low_alarm_at=low,
        empty_at=empty,
        stability_limit_at=stable_until,
        margin=margin,
        refill_due=due,
        limited_by=limited_by,
        average_volume_rate=pattern.average_rate(),
    )
