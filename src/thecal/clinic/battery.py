"""Battery planning: when the pump reaches its Elective Replacement Indicator (ERI) and end
of service (EOS), and by when the replacement must be booked.

The projection from use belongs to the pump twin (`thecal.pump.project_battery`). Until that
lands, `battery_outlook` falls back to an interim estimate stated as such: end of service
at the lower end of the typical service life ([S17]: 5-7 years depending on daily volume),
ERI 90 days before it. Either way, replacement is due `replacement_lead` (about six months,
[S17]) before end of service. Pumps without a battery (constant-flow) have no outlook.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from thecal.clinic.policy import ClinicPolicy
from thecal.therapy.pump_models import PumpKind, find_pump_model
from thecal.therapy.quantities import VolumeRate

__all__ = ["BatteryOutlook", "battery_outlook", "pump_battery_model"]

INTERIM_BASIS = (
    "interim estimate: end of service at the lower end of the typical service life, "
    "ERI 90 days before (not yet from the pump twin's battery model)"
)


@dataclass(frozen=True)
class BatteryOutlook:
    eri_at: datetime
    eos_at: datetime
    replacement_due: datetime
    basis: str


def pump_battery_model() -> Callable[..., Any] | None:
    """The pump twin's battery projection, if this installation has it."""
    try:
        module = importlib.import_module("thecal.pump")
    except ImportError:  # pragma: no cover - thecal.pump is part of the package
        return None
    return getattr(module, "project_battery", None)


def battery_outlook(
    pump_model_id: str,
    implanted_at: datetime,
    average_volume_rate: VolumeRate,
    policy: ClinicPolicy,
) -> BatteryOutlook | None:
    """ERI, EOS and the replacement-due time for a pump implanted at `implanted_at`,
    delivering `average_volume_rate` on average; None for a pump without a battery."""
    model = find_pump_model(pump_model_id)
    if model.kind is PumpKind.CONSTANT_FLOW:
        return None
    project = pump_battery_model()
    if project is not None:
        projection = project(pump_model_id, implanted_at, average_volume_rate)
        if projection.eri_at is None or projection.eos_at is None:
            return None  # the pump twin knows this model has no battery
        eri_at, eos_at = projection.eri_at, projection.eos_at
        basis = "pump twin battery model"
    else:
        eos_at = implanted_at + policy.battery_interim_service_life.value.to_timedelta_floor()
        eri_at = eos_at - policy.battery_eri_to_eos.value.to_timedelta_floor()
        basis = INTERIM_BASIS
    lead = policy.battery_replacement_lead.value.to_timedelta_floor()
    return BatteryOutlook(eri_at, eos_at, min(eos_at - lead, eri_at), basis)
