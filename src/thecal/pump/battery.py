"""Battery projection for the clinic: when ERI and end of service will come, from use.

The same model the twin's hardware runs (see `thecal.pump.profiles.BatteryProfile`):
charge falls by an idle amount per day plus an amount per millilitre pumped; ERI is
declared when it reaches the ERI level; the pump stops `eos_after_eri` later (90 days
for the peristaltic pump [S17]). The twin measures its battery at every self-check, so
its ERI comes at most one self-check interval after the projected moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from thecal.pump.codec import register
from thecal.pump.profiles import device_profile
from thecal.therapy.quantities import SECONDS_PER_DAY, Duration, VolumeRate

__all__ = ["BatteryProjection", "project_battery"]


@dataclass(frozen=True)
class BatteryProjection:
    """Projected ERI and end of service (None for a pump without a battery)."""

    model_id: str
    implanted_at: datetime
    average_volume_rate: VolumeRate
    eri_at: datetime | None
    eos_at: datetime | None
    days_to_eri: Fraction | None
    days_to_eos: Fraction | None


def project_battery(
    model_id: str,
    implanted_at: datetime,
    average_volume_rate: VolumeRate,
    charge: Fraction = Fraction(1),
) -> BatteryProjection:
    """Project ERI and end of service for a pump of `model_id` implanted (battery at
    `charge`, a fraction of capacity, full by default) at `implanted_at`, pumping
    `average_volume_rate` (mL/day) on average. Times are truncated to the microsecond
    (never later than exact). `ValueError` for an unknown model or a negative rate."""
    if average_volume_rate.amount < 0:
        raise ValueError("average volume rate must not be negative")
    profile = device_profile(model_id)
    battery = profile.battery
    if battery is None:
        return BatteryProjection(
            profile.id, implanted_at, average_volume_rate, None, None, None, None
        )
    per_day = battery.consumption_per_day(average_volume_rate)
    days_to_eri = max(Fraction(0), (charge - battery.eri_level.value) / per_day)
    days_to_eos = days_to_eri + battery.eos_after_eri.value.days
    eri_at = implanted_at + Duration(days_to_eri * SECONDS_PER_DAY).to_timedelta_floor()
    eos_at = eri_at + battery.eos_after_eri.value.to_timedelta_floor()
    return BatteryProjection(
        profile.id, implanted_at, average_volume_rate, eri_at, eos_at, days_to_eri, days_to_eos
    )


register(BatteryProjection)
