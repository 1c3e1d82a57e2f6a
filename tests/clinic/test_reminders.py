"""The reminders worker: each due reminder is sent exactly once, even with two workers
running; overdue high-risk (baclofen) refills escalate first; done refills stop escalating."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from tests.clinic.conftest import ClinicDatabase
from tests.clinic.support import (
    MORPHINE_4MG,
    SETTINGS,
    SYSTEM,
    add_implant,
    add_patient,
    filled_baclofen_pump,
    later,
    prescribe,
    refill,
)
from thecal.clinic.reminders import DeliveryLogSink, FileSink, send_due
from thecal.clinic.service import Clinic, FixedClock, appointments
from thecal.clinic.storage.database import Database
from thecal.clinic.storage.models import Reminder, ReminderDelivery, ReminderKind, ReminderStatus


def statuses(database: Database) -> dict[str, str]:
    with database.reading() as session:
        return {r.key: r.status.value for r in session.scalars(select(Reminder))}


def deliveries(database: Database) -> int:
    with database.reading() as session:
        return session.scalar(select(func.count()).select_from(ReminderDelivery)) or 0


def morphine_pump(clinic: Clinic, mrn: str) -> int:
    patient = add_patient(clinic, mrn, diagnosis="cancer_pain")
    implant = add_implant(clinic, patient.id, serial=f"M-{mrn}")
    prescribe(clinic, implant.id, MORPHINE_4MG)
    refill(clinic, implant.id, drug="morphine", concentration="10 mg/mL")
    return implant.id


def test_a_filled_pump_plans_an_upcoming_reminder_and_each_escalation(
    clinic: Clinic, database: Database
) -> None:
    filled_baclofen_pump(clinic)
    with database.reading() as session:
        kinds = [(r.kind, r.escalation_level) for r in session.scalars(
            select(Reminder).order_by(Reminder.due_at))]  # fmt: skip
    assert kinds == [
        (ReminderKind.REFILL_UPCOMING, 0),
        (ReminderKind.REFILL_OVERDUE, 1),
        (ReminderKind.REFILL_OVERDUE, 2),
        (ReminderKind.REFILL_OVERDUE, 3),
        (ReminderKind.BATTERY_REPLACEMENT, 0),  # years ahead
    ]


def test_each_due_reminder_is_sent_once(
    clinic: Clinic, clock: FixedClock, database: Database
) -> None:
    filled_baclofen_pump(clinic)
    later(clock, 40)  # long past the due date and every escalation step
    sent = send_due(clinic, DeliveryLogSink(), "w1")
    assert len(sent) == 4
    assert send_due(clinic, DeliveryLogSink(), "w1") == []
    assert deliveries(database) == 4
    refill_reminders = {k: v for k, v in statuses(database).items() if k.startswith("refill")}
    assert set(refill_reminders.values()) == {"sent"}


def test_escalations_wait_until_the_refill_is_overdue(clinic: Clinic, clock: FixedClock) -> None:
    filled_baclofen_pump(clinic)  # due in 15.5 days; the 21-day booking reminder is due now
    assert [n.kind for n in send_due(clinic, DeliveryLogSink(), "w1")] == ["refill_upcoming"]
    later(clock, 15)
    assert send_due(clinic, DeliveryLogSink(), "w1") == []
    later(clock, 0.5)
    assert [n.escalation_level for n in send_due(clinic, DeliveryLogSink(), "w1")] == [1]


def test_overdue_baclofen_refills_escalate_before_other_drugs(
    clinic: Clinic, clock: FixedClock
) -> None:
    morphine_pump(clinic, "M-1")
    filled_baclofen_pump(clinic, "B-1")
    later(clock, 60)
    sent = [(n.kind, n.key.startswith("refill-overdue:2:")) for n in
            send_due(clinic, DeliveryLogSink(), "w1")]  # fmt: skip
    overdue = [baclofen for kind, baclofen in sent if kind == "refill_overdue"]
    assert overdue == [True, True, True, False, False, False]


def test_a_refill_done_stops_the_escalations(
    clinic: Clinic, clock: FixedClock, database: Database
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 15.75)  # just past due: the first escalation (and the booking reminder)
    assert [n.escalation_level for n in send_due(clinic, DeliveryLogSink(), "w1")] == [1, 0]
    refill(clinic, implant_id, aspirated="7.2 mL")
    after = statuses(database)
    assert sorted(after.values()).count("cancelled") == 2  # levels 2 and 3 of the old date
    later(clock, 3)
    # Only the booking reminder for the new date: nothing of the old date escalates.
    assert [n.kind for n in send_due(clinic, DeliveryLogSink(), "w1")] == ["refill_upcoming"]


def test_a_reminder_whose_reason_is_gone_is_cancelled_not_sent(
    clinic: Clinic, clock: FixedClock, database: Database
) -> None:
    patient_id, _ = filled_baclofen_pump(clinic)
    form = appointments.AppointmentForm(kind="follow_up", starts_at=clock.now() + timedelta(days=5))
    clinic.perform(SYSTEM, lambda c: appointments.book_appointment(c, patient_id, form))
    with database.writing() as session:  # the visit was called off outside the service
        session.execute(text("UPDATE appointments SET status = 'cancelled'"))
    later(clock, 4)
    sent = send_due(clinic, DeliveryLogSink(), "w1")
    assert "appointment" not in [n.kind for n in sent]
    assert [s for k, s in statuses(database).items() if k.startswith("appointment")] == [
        "cancelled"
    ]


def test_the_file_sink_writes_one_json_line_per_message(
    clinic: Clinic, clock: FixedClock, tmp_path: Path
) -> None:
    filled_baclofen_pump(clinic)
    later(clock, 40)
    path = tmp_path / "sent.jsonl"
    send_due(clinic, FileSink(path), "w1")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 4
    assert len({line["reminder_id"] for line in lines}) == 4
    assert lines[0]["recipient"] == "on-call clinician" or lines[0]["escalation_level"] >= 0


def test_two_worker_processes_send_each_due_reminder_exactly_once(
    test_db: ClinicDatabase,
) -> None:
    # Build the clinic in the past so that, by the real clock the workers read, every
    # refill reminder of every pump is due (the battery ones are years ahead).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=120)
    clinic = Clinic(test_db.database, SETTINGS, FixedClock(start))
    for index in range(12):
        filled_baclofen_pump(clinic, f"B-{index}")
        morphine_pump(clinic, f"M-{index}")
    now = datetime.now(UTC)
    with test_db.database.reading() as session:
        due = session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= now)
        )
    assert due == 24 * 4  # per pump: the booking reminder and three escalations
    command = [sys.executable, "-m", "thecal.cli.main", "clinic", "worker", "--once",
               "--json", "--batch", "3", "--database", test_db.url]  # fmt: skip
    workers = [
        subprocess.Popen([*command, "--name", name], stdout=subprocess.PIPE, text=True)
        for name in ("first", "second")
    ]
    outputs = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    assert sum(output["sent"] for output in outputs) == due == deliveries(test_db.database)
    with test_db.database.reading() as session:
        per_reminder = session.execute(
            select(ReminderDelivery.reminder_id, func.count()).group_by(
                ReminderDelivery.reminder_id
            )
        ).all()
    assert {count for _, count in per_reminder} == {1}
