"""Each implant's schedule and the reminders that follow from it.

`recompute` runs in the same transaction as every change that moves an implant's dates
(implant, refill, prescription, interrogation, explant): it projects the next refill
(`thecal.clinic.refill_schedule`), the battery replacement (`thecal.clinic.battery`),
stores them on the implant for the worklists, and brings the reminder outbox in line:
new reminders are added, reminders for dates that no longer hold are cancelled, and
reminders already sent are never sent again (each has a unique key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from thecal.clinic import audit
from thecal.clinic.battery import battery_outlook
from thecal.clinic.interrogation import BatteryState
from thecal.clinic.refill_schedule import RefillOutlook, refill_outlook
from thecal.clinic.service.common import stored_prescription
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import (
    Implant,
    ImplantStatus,
    Interrogation,
    PrescriptionRecord,
    Refill,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.refill import AnchorKind, DeliveryPeriod, ReservoirAnchor

__all__ = [
    "ESCALATION_RECIPIENTS",
    "PRIORITY",
    "ReminderSpec",
    "ReservoirHistory",
    "deliveries_for",
    "recompute",
    "reservoir_history",
    "sync_reminders",
]

PRIORITY = {
    "refill_overdue_high_risk": 0,
    "refill_overdue": 1,
    "refill_upcoming_high_risk": 2,
    "refill_upcoming": 3,
    "battery_replacement": 4,
    "appointment": 5,
}
"""Send order: overdue refills of high-risk (withdrawal) drugs first."""

ESCALATION_RECIPIENTS = ("patient and clinic", "nurse", "clinician", "on-call clinician")
"""Who a reminder goes to, by escalation level (0: the first reminder)."""


@dataclass(frozen=True)
class ReminderSpec:
    key: str
    kind: ReminderKind
    due_at: datetime
    priority: int
    escalation_level: int
    message: str


def deliveries_for(call: Call, implant_id: int) -> list[tuple[PrescriptionRecord, Prescription]]:
    """The implant's prescription history, oldest first, with each prescription parsed."""
    records = call.session.scalars(
        select(PrescriptionRecord)
        .where(PrescriptionRecord.implant_id == implant_id)
        .order_by(PrescriptionRecord.active_from, PrescriptionRecord.id)
    ).all()
    return [(record, stored_prescription(record)) for record in records]


def last_refill(call: Call, implant_id: int) -> Refill | None:
    return call.session.scalars(
        select(Refill)
        .where(Refill.implant_id == implant_id)
        .order_by(Refill.performed_at.desc(), Refill.id.desc())
        .limit(1)
    ).first()


def last_interrogation(call: Call, implant_id: int) -> Interrogation | None:
    return call.session.scalars(
        select(Interrogation)
        .where(Interrogation.implant_id == implant_id)
        .order_by(Interrogation.interrogated_at.desc(), Interrogation.id.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class ReservoirHistory:
    """The last known reservoir content and the prescriptions in force since."""

    anchor: ReservoirAnchor
    periods: list[DeliveryPeriod]

    @property
    def basis(self) -> str:
        """Where the last known content came from, in words."""
        if self.anchor.kind is AnchorKind.PUMP_ESTIMATE:
            return "the pump's own estimate at its last interrogation"
        return "the volume put in at the last refill"


def reservoir_history(
    refill: Refill | None,
    interrogation: Interrogation | None,
    history: list[tuple[PrescriptionRecord, Prescription]],
    at: datetime | None = None,
) -> ReservoirHistory | None:
    """The last known content, by `at` when given: the pump's own estimate if it was read
    after the refill, else what the refill put in; moved to the first prescription when
    nothing ran before it. None when never filled or never prescribed."""
    if refill is None or not history:
        return None
    anchor = ReservoirAnchor(refill.performed_at, refill.volume_added)
    if (
        interrogation is not None
        and interrogation.interrogated_at >= refill.performed_at
        and (at is None or interrogation.interrogated_at <= at)
    ):
        anchor = ReservoirAnchor(
            interrogation.interrogated_at,
            interrogation.reservoir_estimate,
            AnchorKind.PUMP_ESTIMATE,
        )
    periods = [DeliveryPeriod(record.active_from, rx) for record, rx in history]
    if periods[0].start > anchor.at:
        # Nothing runs before the first prescription: follow the reservoir from there.
        anchor = ReservoirAnchor(periods[0].start, anchor.volume, anchor.kind)
    return ReservoirHistory(anchor, periods)


def outlook_for(call: Call, implant: Implant) -> RefillOutlook | None:
    """The refill outlook for an active, filled, prescribed implant (None otherwise)."""
    refill = last_refill(call, implant.id)
    found = reservoir_history(
        refill, last_interrogation(call, implant.id), deliveries_for(call, implant.id)
    )
    if refill is None or found is None:
        return None
    drug = call.library.get(refill.drug)
    stability = drug.refill_limit(refill.concentration, refill.first_fill)
    high_risk = drug.high_risk_withdrawal.value
    return refill_outlook(
        anchor=found.anchor,
        filled_at=refill.performed_at,
        deliveries=found.periods,
        pump=find_pump_model(implant.pump_model),
        alarm_threshold=implant.low_reservoir_alarm,
        stability=stability.value,
        margin=call.policy.margin(high_risk).value,
        tz=call.tz,
    )


def _schedule_fields(implant: Implant) -> dict[str, object]:
    names = (
        "high_risk", "next_refill_due", "refill_limited_by", "low_alarm_at", "empty_at",
        "stability_limit_at", "battery_eri_at", "battery_eos_at", "replacement_due",
        "battery_basis",
    )  # fmt: skip
    return {name: audit.jsonable(getattr(implant, name)) for name in names}


def recompute(call: Call, implant: Implant, because: str) -> RefillOutlook | None:
    """Recompute the implant's schedule and reminders; audit the change with `because`."""
    before = _schedule_fields(implant)
    plan: RefillOutlook | None = None
    if implant.status is ImplantStatus.ACTIVE:
        plan = outlook_for(call, implant)
        refill = last_refill(call, implant.id)
        drug = call.library.find(refill.drug) if refill else None
        implant.high_risk = bool(drug and drug.high_risk_withdrawal.value)
        implant.next_refill_due = plan.refill_due if plan else None
        implant.refill_limited_by = plan.limited_by if plan else None
        implant.low_alarm_at = plan.low_alarm_at if plan else None
        implant.empty_at = plan.empty_at if plan else None
        implant.stability_limit_at = plan.stability_limit_at if plan else None
        _battery(call, implant, plan)
    else:
        implant.high_risk = False
        for name in ("next_refill_due", "refill_limited_by", "low_alarm_at", "empty_at",
                     "stability_limit_at", "replacement_due"):  # fmt: skip
            setattr(implant, name, None)
    planned, cancelled = sync_reminders(call, implant, _reminder_specs(call, implant))
    after = _schedule_fields(implant)
    if before != after or planned or cancelled:
        after = {**after, "reminders_planned": planned, "reminders_cancelled": cancelled}
        call.session.flush()
        audit.record(call.session, call.actor, call.now, "reschedule", "implants", implant.id,
                     before, after, because)  # fmt: skip
    return plan


def _battery(call: Call, implant: Implant, plan: RefillOutlook | None) -> None:
    if plan is None:
        rate = None
    else:
        rate = plan.average_volume_rate
    outlook = None
    if rate is not None:
        outlook = battery_outlook(implant.pump_model, implant.implanted_at, rate, call.policy)
    implant.battery_eri_at = outlook.eri_at if outlook else None
    implant.battery_eos_at = outlook.eos_at if outlook else None
    implant.replacement_due = outlook.replacement_due if outlook else None
    implant.battery_basis = outlook.basis if outlook else None
    reading = last_interrogation(call, implant.id)
    if reading is not None and reading.battery_state and reading.battery_state.needs_replacement:
        # The pump itself says its battery is at the end: replacement is due now.
        when = reading.interrogated_at
        implant.replacement_due = min(implant.replacement_due or when, when)
        if reading.battery_state is BatteryState.ERI:
            implant.battery_eri_at = min(implant.battery_eri_at or when, when)
        implant.battery_basis = f"pump reported {reading.battery_state.value.replace('_', ' ')}"


def _reminder_specs(call: Call, implant: Implant) -> list[ReminderSpec]:
    specs: list[ReminderSpec] = []
    if implant.status is not ImplantStatus.ACTIVE:
        return specs
    due = implant.next_refill_due
    risk = "_high_risk" if implant.high_risk else ""
    label = f"pump {implant.serial}"
    if due is not None:
        stamp = due.isoformat()
        remind = call.policy.remind_before(implant.high_risk).value.to_timedelta_floor()
        warning = " (high risk: abrupt withdrawal can be life-threatening)" if risk else ""
        specs.append(
            ReminderSpec(
                f"refill-upcoming:{implant.id}:{stamp}",
                ReminderKind.REFILL_UPCOMING,
                due - remind,
                PRIORITY["refill_upcoming" + risk],
                0,
                f"Refill of {label} due by {stamp}{warning}; book the visit.",
            )
        )
        for level, step in enumerate(call.policy.escalation(implant.high_risk), start=1):
            specs.append(
                ReminderSpec(
                    f"refill-overdue:{implant.id}:{stamp}:{level}",
                    ReminderKind.REFILL_OVERDUE,
                    due + step.to_timedelta_floor(),
                    PRIORITY["refill_overdue" + risk],
                    level,
                    f"OVERDUE refill of {label} (due {stamp}){warning}: escalation level "
                    f"{level}, to the {ESCALATION_RECIPIENTS[min(level, 3)]}.",
                )
            )
    if implant.replacement_due is not None:
        warn = call.policy.battery_warn_before_replacement.value.to_timedelta_floor()
        stamp = implant.replacement_due.isoformat()
        specs.append(
            ReminderSpec(
                f"battery:{implant.id}:{stamp}",
                ReminderKind.BATTERY_REPLACEMENT,
                implant.replacement_due - warn,
                PRIORITY["battery_replacement"],
                0,
                f"Book the replacement of {label} by {stamp} (ERI "
                f"{implant.battery_eri_at.isoformat() if implant.battery_eri_at else 'unknown'}).",
            )
        )
    return specs


_SCHEDULED_KINDS = (
    ReminderKind.REFILL_UPCOMING,
    ReminderKind.REFILL_OVERDUE,
    ReminderKind.BATTERY_REPLACEMENT,
)


def sync_reminders(
    call: Call, implant: Implant, specs: list[ReminderSpec]
) -> tuple[list[str], list[str]]:
    """Make the implant's pending scheduled reminders equal `specs`; returns the keys
    planned and cancelled. Sent reminders are history and are never touched."""
    wanted = {spec.key: spec for spec in specs}
    existing = call.session.scalars(
        select(Reminder).where(
            Reminder.implant_id == implant.id, Reminder.kind.in_(_SCHEDULED_KINDS)
        )
    ).all()
    known = {reminder.key: reminder for reminder in existing}
    cancelled: list[str] = []
    for reminder in existing:
        if reminder.status is ReminderStatus.PENDING and reminder.key not in wanted:
            reminder.status = ReminderStatus.CANCELLED
            cancelled.append(reminder.key)
    planned: list[str] = []
    for key, spec in wanted.items():
        if key in known:
            again = known[key]
            if again.status is ReminderStatus.CANCELLED:  # the date came back: remind again
                again.status = ReminderStatus.PENDING
                planned.append(key)
            continue
        call.session.add(
            Reminder(
                key=key,
                kind=spec.kind,
                patient_id=implant.patient_id,
                implant_id=implant.id,
                due_at=spec.due_at,
                priority=spec.priority,
                escalation_level=spec.escalation_level,
                status=ReminderStatus.PENDING,
                message=spec.message,
                created_at=call.now,
            )
        )
        planned.append(key)
    return planned, cancelled
