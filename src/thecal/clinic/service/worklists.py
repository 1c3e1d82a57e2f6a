"""Worklists: the refills due (high-risk first), and the clinic dashboard.

These are the hot reads: they use the schedule columns kept on each implant and the
indexes on them, never a projection per request.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.errors import Invalid
from thecal.clinic.interrogation import AlarmPriority
from thecal.clinic.refill_schedule import RefillLimit
from thecal.clinic.service.common import View, quantity_text
from thecal.clinic.service.core import Call
from thecal.clinic.service.implants import RefillState, refill_state_at
from thecal.clinic.storage.models import (
    Alarm,
    Implant,
    ImplantStatus,
    Patient,
    Refill,
)
from thecal.therapy.refill import Discrepancy

__all__ = [
    "AlarmItem",
    "BatteryItem",
    "Dashboard",
    "DiscrepancyItem",
    "RefillDueItem",
    "RefillDuePage",
    "dashboard",
    "refills_due",
]

MAX_WITHIN_DAYS = 366


class RefillDueItem(View):
    implant_id: int
    patient_id: int
    patient_name: str
    mrn: str
    serial: str
    pump_model: str
    next_refill_due: datetime
    limited_by: RefillLimit | None
    high_risk: bool
    state: RefillState


class RefillDuePage(View):
    as_of: datetime
    within_days: int
    total: int
    high_risk_total: int
    overdue_total: int
    items: list[RefillDueItem]
    next_cursor: str | None
    """Pass back as `cursor` for the next page."""


class AlarmItem(View):
    alarm_id: int
    implant_id: int
    patient_id: int
    patient_name: str
    kind: str
    priority: AlarmPriority
    raised_at: datetime
    acknowledged: bool


class BatteryItem(View):
    implant_id: int
    patient_id: int
    patient_name: str
    serial: str
    replacement_due: datetime
    battery_eri_at: datetime | None
    basis: str | None


class DiscrepancyItem(View):
    refill_id: int
    implant_id: int
    patient_id: int
    patient_name: str
    performed_at: datetime
    discrepancy: Discrepancy
    expected: str | None
    aspirated: str | None
    message: str


class Dashboard(View):
    as_of: datetime
    refills: RefillDuePage
    active_alarms: list[AlarmItem]
    batteries: list[BatteryItem]
    recent_discrepancies: list[DiscrepancyItem]


def _encode(high_risk: bool, due: datetime, implant_id: int) -> str:
    raw = json.dumps([int(high_risk), due.isoformat(), implant_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[bool, datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        high, due, implant_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(due)
        if moment.tzinfo is None or not isinstance(implant_id, int):
            raise ValueError
        return bool(high), moment, implant_id
    except (ValueError, TypeError, json.JSONDecodeError):
        raise Invalid(
            "cursor: not a cursor from this list",
            field="cursor",
            accepted="the next_cursor value of the previous page",
        ) from None


def _name(patient: Patient) -> str:
    return f"{patient.family_name}, {patient.given_name}"


_DUE_COLUMNS = (
    Implant.id,
    Implant.patient_id,
    Patient.family_name,
    Patient.given_name,
    Patient.mrn,
    Implant.serial,
    Implant.pump_model,
    Implant.next_refill_due,
    Implant.refill_limited_by,
    Implant.high_risk,
)


def _due_query(horizon: datetime, high_risk: bool) -> Any:
    # Plain columns, not whole rows: this is the hottest list in the clinic.
    return (
        select(*_DUE_COLUMNS)
        .join(Patient, Patient.id == Implant.patient_id)
        .where(
            Implant.status == ImplantStatus.ACTIVE,
            Implant.high_risk.is_(high_risk),
            Implant.next_refill_due <= horizon,
        )
        .order_by(Implant.next_refill_due, Implant.id)
    )


def refills_due(
    call: Call, within_days: int = 14, limit: int = 50, cursor: str | None = None
) -> RefillDuePage:
    """Active implants whose refill is due within `within_days` (overdue ones included),
    high-risk (withdrawal) drugs first, then by due time; keyset-paginated by `cursor`."""
    authorize(call.actor, Permission.WORKLIST_READ)
    if not 0 <= within_days <= MAX_WITHIN_DAYS:
        raise Invalid(
            "within_days: out of range", field="within_days", accepted=f"0 to {MAX_WITHIN_DAYS}"
        )
    if not 1 <= limit <= 500:
        raise Invalid("limit: out of range", field="limit", accepted="1 to 500")
    horizon = call.now + timedelta(days=within_days)
    after = _decode(cursor) if cursor else None
    rows: list[Any] = []
    for high_risk in (True, False):  # two index range scans, high-risk group first
        if len(rows) > limit:
            break
        if after is not None and not after[0] and high_risk:
            continue  # an earlier page already finished the high-risk group
        query = _due_query(horizon, high_risk)
        if after is not None:
            _, due, implant_id = after
            query = query.where(
                or_(
                    Implant.next_refill_due > due,
                    and_(Implant.next_refill_due == due, Implant.id > implant_id),
                )
            )
            after = None
        rows.extend(call.session.execute(query.limit(limit + 1 - len(rows))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    # Three counts, each an index-only range scan (one round trip).
    active = Implant.status == ImplantStatus.ACTIVE
    total = select(func.count()).where(active, Implant.next_refill_due <= horizon)
    high = select(func.count()).where(
        active, Implant.high_risk.is_(True), Implant.next_refill_due <= horizon
    )
    overdue = select(func.count()).where(active, Implant.next_refill_due < call.now)
    counts = call.session.execute(
        select(total.scalar_subquery(), high.scalar_subquery(), overdue.scalar_subquery())
    ).one()
    items = [
        RefillDueItem(
            implant_id=row.id,
            patient_id=row.patient_id,
            patient_name=f"{row.family_name}, {row.given_name}",
            mrn=row.mrn,
            serial=row.serial,
            pump_model=row.pump_model,
            next_refill_due=row.next_refill_due,
            limited_by=row.refill_limited_by,
            high_risk=row.high_risk,
            state=refill_state_at(call, row.next_refill_due, row.high_risk),
        )
        for row in rows
    ]
    next_cursor = None
    if more and items:
        last = items[-1]
        next_cursor = _encode(last.high_risk, last.next_refill_due, last.implant_id)
    return RefillDuePage(
        as_of=call.now,
        within_days=within_days,
        total=counts[0],
        high_risk_total=counts[1],
        overdue_total=counts[2],
        items=items,
        next_cursor=next_cursor,
    )


def dashboard(call: Call, limit: int = 50) -> Dashboard:
    """What needs attention: refills due and overdue (high-risk first), active alarms
    (critical first), batteries nearing replacement, recent refill discrepancies."""
    authorize(call.actor, Permission.WORKLIST_READ)
    refills = refills_due(call, 14, limit)
    priority_order = {AlarmPriority.CRITICAL: 0, AlarmPriority.NON_CRITICAL: 1}
    alarm_rows = call.session.execute(
        select(Alarm, Implant, Patient)
        .join(Implant, Implant.id == Alarm.implant_id)
        .join(Patient, Patient.id == Implant.patient_id)
        .where(Alarm.active.is_(True))
        .order_by(Alarm.raised_at.desc())
        .limit(limit)
    )
    alarms = sorted(
        (
            AlarmItem(
                alarm_id=alarm.id,
                implant_id=implant.id,
                patient_id=patient.id,
                patient_name=_name(patient),
                kind=alarm.kind,
                priority=alarm.priority,
                raised_at=alarm.raised_at,
                acknowledged=alarm.acknowledged_at is not None,
            )
            for alarm, implant, patient in alarm_rows
        ),
        key=lambda item: (priority_order.get(item.priority, 2), -item.raised_at.timestamp()),
    )
    horizon = call.now + call.policy.battery_warn_before_replacement.value.to_timedelta_floor()
    battery_rows = call.session.execute(
        select(Implant, Patient)
        .join(Patient, Patient.id == Implant.patient_id)
        .where(Implant.status == ImplantStatus.ACTIVE, Implant.replacement_due <= horizon)
        .order_by(Implant.replacement_due, Implant.id)
        .limit(limit)
    )
    batteries = [
        BatteryItem(
            implant_id=implant.id,
            patient_id=patient.id,
            patient_name=_name(patient),
            serial=implant.serial,
            replacement_due=implant.replacement_due,  # type: ignore[arg-type]
            battery_eri_at=implant.battery_eri_at,
            basis=implant.battery_basis,
        )
        for implant, patient in battery_rows
    ]
    since = call.now - timedelta(days=90)
    discrepancy_rows = call.session.execute(
        select(Refill, Patient)
        .join(Patient, Patient.id == Refill.patient_id)
        .where(Refill.discrepancy != Discrepancy.NONE, Refill.performed_at >= since)
        .order_by(Refill.performed_at.desc())
        .limit(limit)
    )
    discrepancies = [
        DiscrepancyItem(
            refill_id=refill.id,
            implant_id=refill.implant_id,
            patient_id=patient.id,
            patient_name=_name(patient),
            performed_at=refill.performed_at,
            discrepancy=refill.discrepancy,
            expected=quantity_text(refill.expected_volume),
            aspirated=quantity_text(refill.aspirated_volume),
            message=refill.discrepancy_message,
        )
        for refill, patient in discrepancy_rows
    ]
    return Dashboard(
        as_of=call.now,
        refills=refills,
        active_alarms=alarms,
        batteries=batteries,
        recent_discrepancies=discrepancies,
    )
