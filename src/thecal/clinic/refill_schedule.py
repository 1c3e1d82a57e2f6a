"""When must this pump be refilled? Pure rules over the therapy projection.

The refill is due by the earlier of

- the projected low-reservoir alarm, less a safety margin (larger for drugs whose
  abrupt withdrawal can kill, such as baclofen), and
- the end of the drug's stability in the pump (`DrugEntry.refill_limit`: shorter after a
  first fill where the library says so, e.g. ziconotide),

always counting worst-case patient boluses (the Prometra controller's rule, [S33]).
The reservoir is followed from its last known content (a refill, or the pump's own
estimate from an interrogation) through every prescription in force since, with
`thecal.therapy.refill.time_moved` (the refill rules' one multi-prescription reservoir
rule, over `thecal.therapy.projection`).

The pump's schedule runs on its local clock: each prescription's day is aligned to
local time in `tz` at the moment it takes over; durations are then counted in real
(UTC) time, so a daylight-saving change shifts the time-of-day steps by the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from thecal.therapy.projection import prescription_pattern
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Duration, Volume, VolumeRate
from thecal.therapy.refill import DeliveryPeriod, ReservoirAnchor, time_moved

__all__ = [
    "RefillLimit",
    "RefillOutlook",
    "refill_outlook",
]


class RefillLimit(StrEnum):
    """What set the refill-due time."""

    ALARM_MARGIN = "alarm_margin"
    STABILITY = "stability"


@dataclass(frozen=True)
class RefillOutlook:
    """The projected refill dates for one filled pump (all times time-zone aware)."""

    low_alarm_at: datetime | None
    empty_at: datetime | None
    stability_limit_at: datetime
    margin: Duration
    refill_due: datetime
    limited_by: RefillLimit
    average_volume_rate: VolumeRate
    """Worst-case long-run volume rate of the prescription now in force."""


def refill_outlook(
    anchor: ReservoirAnchor,
    filled_at: datetime,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    alarm_threshold: Volume,
    stability: Duration,
    margin: Duration,
    tz: tzinfo,
) -> RefillOutlook:
    """Follow the reservoir from `anchor` through `deliveries` (worst-case patient
    boluses, `thecal.therapy.refill.time_moved`) and say when the refill is due.
    `filled_at` starts the stability clock (the time the drug went in)."""
    low = time_moved(anchor.at, anchor.volume - alarm_threshold, deliveries, pump, tz, True)
    empty = time_moved(anchor.at, anchor.volume, deliveries, pump, tz, True)
    current = max(deliveries, key=lambda period: period.start)
    local_start = current.start.astimezone(tz).replace(tzinfo=None)
    rate = prescription_pattern(
        current.prescription, local_start, pump.minimum_rate.value, True
    ).average_rate()
    stable_until = filled_at + stability.to_timedelta_floor()
    by_alarm = low - margin.to_timedelta_floor() if low is not None else None
    if by_alarm is not None and by_alarm <= stable_until:
        due, limited_by = by_alarm, RefillLimit.ALARM_MARGIN
    else:
        due, limited_by = stable_until, RefillLimit.STABILITY
    return RefillOutlook(
        low_alarm_at=low,
        empty_at=empty,
        stability_limit_at=stable_until,
        margin=margin,
        refill_due=due,
        limited_by=limited_by,
        average_volume_rate=rate,
    )
