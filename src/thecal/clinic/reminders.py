"""The reminders worker: sends each due reminder exactly once, overdue high-risk ones first.

Reminders are outbox rows (`reminders`), planned in the same transaction as the change
that makes them necessary (see `thecal.clinic.service.schedule`): a refill coming up, each
escalation level of an overdue refill, a battery replacement, an appointment. The worker
is its own process (``thecal clinic worker``); any number of them may run:

- each pass claims due rows in one write transaction, ordered by priority (overdue
  refills of drugs whose withdrawal can kill come first) and due time;
- on PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``, so two workers take
  different rows; on SQLite the write transaction itself is exclusive (``BEGIN
  IMMEDIATE``), so the second worker waits and then finds the rows already sent;
- the delivery is written by the sink *inside* that transaction and the row is marked
  sent with it: committed together, or not at all. The unique key on
  `reminder_deliveries.reminder_id` is the backstop against a double send;
- a reminder whose reason has gone (the refill was done, the appointment cancelled) is
  cancelled instead of sent.

"Sending" is a pluggable `Sink`. The default, `DeliveryLogSink`, records the message in
the `reminder_deliveries` table (exactly once, by the transaction). `FileSink` also
appends one JSON line per message to a file; a line is written before the transaction
commits, so after a crash at that instant a line may repeat: each line carries the
reminder id for the reader to drop repeats.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from thecal.clinic import audit
from thecal.clinic.access import Actor
from thecal.clinic.errors import Unavailable
from thecal.clinic.service.core import Call, Clinic
from thecal.clinic.service.schedule import ESCALATION_RECIPIENTS
from thecal.clinic.storage.models import (
    Appointment,
    AppointmentStatus,
    Implant,
    ImplantStatus,
    Reminder,
    ReminderDelivery,
    ReminderKind,
    ReminderStatus,
)

__all__ = [
    "DeliveryLogSink",
    "FileSink",
    "Notice",
    "Sink",
    "run_worker",
    "send_due",
]

log = logging.getLogger("thecal.clinic.reminders")


@dataclass(frozen=True)
class Notice:
    """One message to send."""

    reminder_id: int
    key: str
    kind: str
    patient_id: int
    implant_id: int | None
    recipient: str
    escalation_level: int
    due_at: str
    message: str


class Sink(Protocol):
    name: str

    def deliver(self, call: Call, notice: Notice) -> None:
        """Send `notice` as part of the worker's transaction `call`."""
        ...


class DeliveryLogSink:
    """Records each message in the `reminder_deliveries` table (the default)."""

    name = "log"

    def deliver(self, call: Call, notice: Notice) -> None:
        call.session.add(
            ReminderDelivery(
                reminder_id=notice.reminder_id,
                delivered_at=call.now,
                channel=self.name,
                recipient=notice.recipient,
                message=notice.message,
                worker=call.actor.username,
            )
        )
        call.session.flush()  # the unique reminder_id refuses a second delivery here


class FileSink(DeliveryLogSink):
    """Appends one JSON line per message to `path` (and records it like the default)."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def deliver(self, call: Call, notice: Notice) -> None:
        super().deliver(call, notice)
        line = json.dumps({"sent_at": call.now.isoformat(), **asdict(notice)}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())


def _still_needed(call: Call, reminder: Reminder) -> bool:
    """False when the reason for the reminder has gone since it was planned."""
    if reminder.kind is ReminderKind.APPOINTMENT:
        appointment = call.session.get(Appointment, reminder.appointment_id)
        return appointment is not None and appointment.status is AppointmentStatus.BOOKED
    implant = call.session.get(Implant, reminder.implant_id) if reminder.implant_id else None
    if implant is None or implant.status is not ImplantStatus.ACTIVE:
        return False
    if reminder.kind in (ReminderKind.REFILL_UPCOMING, ReminderKind.REFILL_OVERDUE):
        due = implant.next_refill_due
        return due is not None and f":{due.isoformat()}" in reminder.key
    return True


def _notice(reminder: Reminder) -> Notice:
    return Notice(
        reminder_id=reminder.id,
        key=reminder.key,
        kind=reminder.kind.value,
        patient_id=reminder.patient_id,
        implant_id=reminder.implant_id,
        recipient=ESCALATION_RECIPIENTS[min(reminder.escalation_level, 3)],
        escalation_level=reminder.escalation_level,
        due_at=reminder.due_at.isoformat(),
        message=reminder.message,
    )


def send_due(clinic: Clinic, sink: Sink, worker: str = "worker", batch: int = 100) -> list[Notice]:
    """Claim and send up to `batch` due reminders in one transaction; returns what was sent."""
    sent: list[Notice] = []
    with clinic.write(Actor.system(f"worker:{worker}")) as call:
        query = (
            select(Reminder)
            .where(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= call.now)
            .order_by(Reminder.priority, Reminder.due_at, Reminder.id)
            .limit(batch)
        )
        if clinic.database.is_postgresql:
            query = query.with_for_update(skip_locked=True)
        for reminder in call.session.scalars(query).all():
            before = audit.snapshot(reminder)
            if not _still_needed(call, reminder):
                reminder.status = ReminderStatus.CANCELLED
                call.audit("cancel", reminder, before, reason="no longer needed when due")
                continue
            notice = _notice(reminder)
            sink.deliver(call, notice)
            reminder.status = ReminderStatus.SENT
            reminder.sent_at = call.now
            reminder.sent_by = worker
            call.audit("send", reminder, before, reason=f"to {notice.recipient} via {sink.name}")
            sent.append(notice)
    return sent


def run_worker(
    clinic: Clinic,
    sink: Sink,
    worker: str = "worker",
    poll_seconds: float = 30.0,
    once: bool = False,
    stop: threading.Event | None = None,
    batch: int = 100,
) -> int:
    """Send due reminders until stopped (or, with `once`, until none is due); returns how
    many were sent. A database outage is logged and waited out, never fatal."""
    stop = stop or threading.Event()
    total = 0
    while not stop.is_set():
        try:
            notices = send_due(clinic, sink, worker, batch)
        except Unavailable as error:
            log.warning("database unavailable, retrying in %ss: %s", poll_seconds, error)
            if once:
                raise
            stop.wait(poll_seconds)
            continue
        total += len(notices)
        for notice in notices:
            log.info("sent %s to %s: %s", notice.key, notice.recipient, notice.message)
        if not notices:
            if once:
                break
            stop.wait(poll_seconds)
    return total
