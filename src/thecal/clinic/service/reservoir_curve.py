"""The reservoir's expected content over time, for the patient page's projection chart.

From the last known content (the refill, or the pump's own estimate if it was read since)
to the refill-by date, along every prescription in force, counting worst-case patient
boluses: the same anchor and deliveries (`schedule.reservoir_history`) and the same
reservoir rule (`thecal.therapy.refill.volume_moved`) that set the refill-by date, so the
curve and the date always agree.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from pydantic import Field

from thecal.clinic.access import Permission, authorize
from thecal.clinic.service import schedule
from thecal.clinic.service.common import View, load
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import Implant, ImplantStatus
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import decimal_text
from thecal.therapy.refill import volume_moved

__all__ = ["ReservoirCurveView", "ReservoirPointView", "reservoir_curve"]


class ReservoirPointView(View):
    at: datetime
    volume_ml: str = Field(description="Expected content in mL (decimal, truncated)")


class ReservoirCurveView(View):
    implant_id: int
    since: datetime
    basis: str
    points: list[ReservoirPointView]
    alarm_threshold_ml: str
    refill_due: datetime | None
    low_alarm_at: datetime | None
    includes_patient_boluses: bool


def reservoir_curve(call: Call, implant_id: int, samples: int = 24) -> ReservoirCurveView | None:
    """Expected reservoir content (mL) at `samples` + 1 evenly spaced moments from the last
    known content to the refill-by date; None for an implant not filled or not prescribed."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    if implant.status is not ImplantStatus.ACTIVE:
        return None
    found = schedule.reservoir_history(
        schedule.last_refill(call, implant.id),
        schedule.last_interrogation(call, implant.id),
        schedule.deliveries_for(call, implant.id),
    )
    if found is None:
        return None
    anchor, periods, basis = found.anchor, found.periods, found.basis
    end = implant.next_refill_due
    pump = find_pump_model(implant.pump_model)
    moments = [anchor.at]
    if end is not None and end > anchor.at:
        moments = [anchor.at + (end - anchor.at) * (i / samples) for i in range(samples + 1)]
    points = []
    for moment in moments:
        moved = volume_moved(anchor.at, moment, periods, pump, call.tz, True)
        left = max(anchor.volume.amount - moved.amount, Fraction(0))
        points.append(ReservoirPointView(at=moment, volume_ml=decimal_text(left, 3)))
    return ReservoirCurveView(
        implant_id=implant.id,
        since=anchor.at,
        basis=basis,
        points=points,
        alarm_threshold_ml=decimal_text(implant.low_reservoir_alarm.amount, 3),
        refill_due=implant.next_refill_due,
        low_alarm_at=implant.low_alarm_at,
        includes_patient_boluses=True,
    )
