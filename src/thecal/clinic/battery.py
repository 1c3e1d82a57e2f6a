"""Battery planning: when the pump reaches its Elective Replacement Indicator (ERI) and end
of service (EOS), and by when the replacement must be booked.

ERI and EOS come from the pump twin's battery model (`thecal.pump.battery.project_battery`:
charge falls with time and with volume pumped; the pump stops 90 days after ERI, [S17]).
Replacement is due `replacement_lead` (about six months, [S17]) before end of service, and
never after ERI. Pumps without a battery (constant-flow) have no outlook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from thecal.clinic.policy import ClinicPolicy
from thecal.pump.battery import project_battery
from thecal.therapy.quantities import VolumeRate

__all__ = ["BASIS", "BatteryOutlook", "battery_outlook"]

BASIS = "pump twin battery model"


@dataclass(frozen=True)
class BatteryOutlook:
    eri_at: datetime
    eos_at: datetime
    replacement_due: datetime
    basis: str


def battery_outlook(
    pump_model_id: str,
    implanted_at: datetime,
    average_volume_rate: VolumeRate,
    policy: ClinicPolicy,
) -> BatteryOutlook | None:
    """ERI, EOS and the replacement-due time for a pump implanted at `implanted_at`,
    delivering `average_volume_rate` on average; None for a pump without a battery."""
    projection = project_battery(pump_model_id, implanted_at, average_volume_rate)
    if projection.eri_at is None or projection.eos_at is None:
        return None
    lead = policy.battery_replacement_lead.value.to_timedelta_floor()
    due = min(projection.eos_at - lead, projection.eri_at)
    return BatteryOutlook(projection.eri_at, projection.eos_at, due, BASIS)
