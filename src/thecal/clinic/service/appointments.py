"""Appointments, and their reminders in the outbox.

A refill visit booked after the implant's refill-due time needs a stated reason: the
schedule exists so nobody's pump runs dry.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.audit import snapshot
from thecal.clinic.errors import Invalid
from thecal.clinic.service.common import Form, View, check_version, load
from thecal.clinic.service.core import Call
from thecal.clinic.service.idempotency import idempotent
from thecal.clinic.service.implants import active_implant
from thecal.clinic.service.schedule import PRIORITY
from thecal.clinic.storage.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Implant,
    Patient,
    Reminder,
    ReminderKind,
    ReminderStatus,
)

__all__ = [
    "AppointmentForm",
    "AppointmentUpdate",
    "AppointmentView",
    "appointment_view",
    "book_appointment",
    "list_appointments",
    "update_appointment",
]


class AppointmentForm(Form):
    kind: AppointmentKind
    starts_at: AwareDatetime
    implant_id: int | None = Field(default=None, ge=1, description="Defaults to the active pump")
    note: str = Field(default="", max_length=2000)
    late_reason: str | None = Field(
        default=None, max_length=500, description="Required for a refill booked after it is due"
    )


class AppointmentUpdate(Form):
    version: int = Field(ge=1)
    starts_at: AwareDatetime | None = None
    status: AppointmentStatus | None = None
    note: str | None = Field(default=None, max_length=2000)
    late_reason: str | None = Field(default=None, max_length=500)


class AppointmentView(View):
    id: int
    patient_id: int
    implant_id: int | None
    kind: AppointmentKind
    starts_at: datetime
    status: AppointmentStatus
    note: str
    late_reason: str | None
    refill_due: datetime | None
    version: int


def appointment_view(row: Appointment, refill_due: datetime | None = None) -> AppointmentView:
    return AppointmentView(
        id=row.id,
        patient_id=row.patient_id,
        implant_id=row.implant_id,
        kind=row.kind,
        starts_at=row.starts_at,
        status=row.status,
        note=row.note,
        late_reason=row.late_reason,
        refill_due=refill_due,
        version=row.version,
    )


def _check_refill_timing(appointment: Appointment, implant: Implant | None) -> None:
    if appointment.kind is not AppointmentKind.REFILL or implant is None:
        return
    due = implant.next_refill_due
    if due is not None and appointment.starts_at > due and not appointment.late_reason:
        raise Invalid(
            f"starts_at: the refill is due by {due.isoformat()}; a later visit needs a reason",
            code="refill_booked_after_due",
            field="late_reason",
            accepted=f"a time no later than {due.isoformat()}, or a late_reason",
        )


def _plan_reminder(call: Call, appointment: Appointment) -> None:
    """One pending reminder per appointment time; older pending ones are cancelled."""
    for old in call.session.scalars(
        select(Reminder).where(
            Reminder.appointment_id == appointment.id, Reminder.status == ReminderStatus.PENDING
        )
    ):
        old.status = ReminderStatus.CANCELLED
    if appointment.status is not AppointmentStatus.BOOKED or appointment.starts_at <= call.now:
        return
    key = f"appointment:{appointment.id}:{appointment.starts_at.isoformat()}"
    existing = call.session.scalar(select(Reminder).where(Reminder.key == key))
    if existing is not None:
        if existing.status is ReminderStatus.CANCELLED:
            existing.status = ReminderStatus.PENDING
        return
    before = call.policy.appointment_remind_before.value.to_timedelta_floor()
    call.session.add(
        Reminder(
            key=key,
            kind=ReminderKind.APPOINTMENT,
            patient_id=appointment.patient_id,
            implant_id=appointment.implant_id,
            appointment_id=appointment.id,
            due_at=appointment.starts_at - before,
            priority=PRIORITY["appointment"],
            escalation_level=0,
            status=ReminderStatus.PENDING,
            message=f"{appointment.kind.value.replace('_', ' ').capitalize()} visit on "
            f"{appointment.starts_at.isoformat()}.",
            created_at=call.now,
        )
    )


def book_appointment(
    call: Call, patient_id: int, form: AppointmentForm, idempotency_key: str | None = None
) -> AppointmentView:
    """Book a visit (done once per `idempotency_key`)."""
    authorize(call.actor, Permission.APPOINTMENT_WRITE, patient_id)
    load(call, Patient, patient_id, "patient")
    return idempotent(
        call,
        f"appointment:{patient_id}",
        idempotency_key,
        form,
        lambda: _book(call, patient_id, form),
        AppointmentView,
    )


def _book(call: Call, patient_id: int, form: AppointmentForm) -> AppointmentView:
    implant: Implant | None
    if form.implant_id is not None:
        implant = load(call, Implant, form.implant_id, "implant")
        if implant.patient_id != patient_id:
            raise Invalid(
                f"implant_id: implant {form.implant_id} is not this patient's",
                field="implant_id",
            )
    else:
        implant = active_implant(call, patient_id)
    row = Appointment(
        patient_id=patient_id,
        implant_id=implant.id if implant else None,
        kind=form.kind,
        starts_at=form.starts_at,
        status=AppointmentStatus.BOOKED,
        note=form.note,
        late_reason=form.late_reason,
        created_by=call.actor.user_id,
    )
    _check_refill_timing(row, implant)
    call.session.add(row)
    call.audit("book", row, None, reason=form.late_reason)
    _plan_reminder(call, row)
    return appointment_view(row, implant.next_refill_due if implant else None)


def update_appointment(call: Call, appointment_id: int, form: AppointmentUpdate) -> AppointmentView:
    """Reschedule, cancel or close an appointment (optimistic locking on `version`)."""
    row = load(call, Appointment, appointment_id, "appointment")
    authorize(call.actor, Permission.APPOINTMENT_WRITE, row.patient_id)
    check_version(row, form.version)
    before = snapshot(row)
    if form.starts_at is not None:
        row.starts_at = form.starts_at
    if form.status is not None:
        row.status = form.status
    if form.note is not None:
        row.note = form.note
    if form.late_reason is not None:
        row.late_reason = form.late_reason
    implant = call.session.get(Implant, row.implant_id) if row.implant_id else None
    if form.starts_at is not None and row.status is AppointmentStatus.BOOKED:
        _check_refill_timing(row, implant)
    call.audit("update", row, before, reason=form.late_reason)
    _plan_reminder(call, row)
    return appointment_view(row, implant.next_refill_due if implant else None)


def list_appointments(
    call: Call, patient_id: int, upcoming_only: bool = False
) -> list[AppointmentView]:
    """The patient's appointments by time (only booked future ones with `upcoming_only`)."""
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    load(call, Patient, patient_id, "patient")
    statement = select(Appointment).where(Appointment.patient_id == patient_id)
    if upcoming_only:
        statement = statement.where(
            Appointment.status == AppointmentStatus.BOOKED, Appointment.starts_at >= call.now
        )
    rows = call.session.scalars(statement.order_by(Appointment.starts_at, Appointment.id))
    return [appointment_view(row) for row in rows]
