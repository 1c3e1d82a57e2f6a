"""Interrogations imported from a pump (status, alarms, event log) and the alarms they carry.

A reading arrives typed (`thecal.programmer.reading.PumpReading`: what a clinician
programmer read, e.g. the clinic's own pump session) and is filed by `file_reading`; the
JSON document of the API and the programmer's printed output are read into one once, at
the edge. It is checked against the implant it is filed under (same serial and model: a
reading from the wrong pump must not land in this patient's record). The pump's reservoir
estimate becomes the starting point of the refill projection, its prescription hash is
compared with the clinic's record, and a pump reporting ERI or EOS makes the battery
replacement due now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.audit import snapshot
from thecal.clinic.errors import Conflict, Invalid
from thecal.clinic.interrogation import (
    AlarmPriority,
    BatteryState,
    InterrogationDocument,
    ProgrammerOutputError,
    from_programmer_output,
    reported,
    stored_document,
)
from thecal.clinic.service import schedule
from thecal.clinic.service.common import Form, View, load, not_in_future, quantity_text
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import (
    Alarm,
    Implant,
    ImplantStatus,
    Interrogation,
    PrescriptionRecord,
)
from thecal.programmer.reading import PumpReading

__all__ = [
    "AcknowledgeForm",
    "AlarmView",
    "InterrogationView",
    "acknowledge_alarm",
    "alarm_view",
    "file_reading",
    "import_interrogation",
    "import_programmer_output",
    "interrogation_view",
    "list_alarms",
    "list_interrogations",
]


class InterrogationView(View):
    id: int
    implant_id: int
    interrogated_at: datetime
    imported_at: datetime
    reservoir_estimate: str
    mode: str
    delivering: bool
    battery_state: BatteryState | None
    prescription_hash: str | None
    prescription_matches: bool | None
    alarms: int
    events: int
    last_event_seq: int | None
    warnings: list[str]


class AlarmView(View):
    id: int
    implant_id: int
    patient_id: int
    kind: str
    priority: AlarmPriority
    raised_at: datetime
    active: bool
    acknowledged_at: datetime | None


class AcknowledgeForm(Form):
    note: str = Field(default="", max_length=500)


def _warnings(row: Interrogation, document: InterrogationDocument) -> list[str]:
    warnings: list[str] = []
    if row.prescription_matches is False:
        warnings.append(
            "the pump's prescription differs from the clinic's record: review before refilling"
        )
    if row.battery_state is not None and row.battery_state.needs_replacement:
        state = row.battery_state.value.replace("_", " ")
        warnings.append(f"battery: {state}; book the pump replacement now")
    critical = [a.kind for a in document.alarms if a.active and a.priority == "critical"]
    if critical:
        warnings.append("critical alarm(s) active: " + ", ".join(critical))
    if not row.delivering and row.mode not in ("stopped",):
        warnings.append("the pump reports it is not delivering")
    return warnings


def interrogation_view(row: Interrogation) -> InterrogationView:
    document = InterrogationDocument.model_validate(row.document)
    return InterrogationView(
        id=row.id,
        implant_id=row.implant_id,
        interrogated_at=row.interrogated_at,
        imported_at=row.imported_at,
        reservoir_estimate=quantity_text(row.reservoir_estimate) or "",
        mode=row.mode,
        delivering=row.delivering,
        battery_state=row.battery_state,
        prescription_hash=row.prescription_hash,
        prescription_matches=row.prescription_matches,
        alarms=len(document.alarms),
        events=len(document.event_log),
        last_event_seq=row.last_event_seq,
        warnings=_warnings(row, document),
    )


def _prescription_at(call: Call, implant_id: int, at: datetime) -> PrescriptionRecord | None:
    return call.session.scalars(
        select(PrescriptionRecord)
        .where(PrescriptionRecord.implant_id == implant_id, PrescriptionRecord.active_from <= at)
        .order_by(PrescriptionRecord.active_from.desc(), PrescriptionRecord.id.desc())
        .limit(1)
    ).first()


def import_interrogation(
    call: Call, implant_id: int, document: InterrogationDocument
) -> InterrogationView:
    """File an interrogation document (the API's JSON) under its implant: `file_reading`."""
    return file_reading(call, implant_id, document.reading())


def _document(reading: PumpReading, call: Call) -> InterrogationDocument:
    try:
        return stored_document(reading, call.tz)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise Invalid(f"{field}: {first['msg']}", field=field) from None


def file_reading(call: Call, implant_id: int, reading: PumpReading) -> InterrogationView:
    """File a pump interrogation under its implant and reschedule from what the pump says
    (the pump's local times are read in the clinic's time zone)."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.INTERROGATION_IMPORT, implant.patient_id)
    if implant.status is not ImplantStatus.ACTIVE:
        raise Conflict(f"implant {implant_id} is explanted", code="not_active")
    document = _document(reading, call)
    if document.pump.serial != implant.serial:
        raise Invalid(
            f"pump.serial: this reading is from pump {document.pump.serial!r}, not this "
            f"patient's pump {implant.serial!r}",
            code="wrong_pump",
            field="pump.serial",
            accepted=implant.serial,
        )
    if document.pump.model != implant.pump_model:
        raise Invalid(
            f"pump.model: {document.pump.model!r} does not match the implant's model",
            code="wrong_pump",
            field="pump.model",
            accepted=implant.pump_model,
        )
    at = document.interrogated_at
    not_in_future(call, at, "interrogated_at")
    if at < implant.implanted_at:
        raise Invalid("interrogated_at: before the implant date", field="interrogated_at")
    reservoir = reported(reading.reservoir_estimate)
    if reservoir > implant.reservoir:
        raise Invalid(
            f"status.reservoir_estimate: {reservoir} is more than the reservoir holds",
            field="status.reservoir_estimate",
            accepted=f"at most {quantity_text(implant.reservoir)}",
        )
    duplicate = call.session.scalar(
        select(Interrogation.id).where(
            Interrogation.implant_id == implant.id, Interrogation.interrogated_at == at
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"this interrogation was already imported (interrogation {duplicate})",
            code="duplicate",
        )
    in_force = _prescription_at(call, implant.id, at)
    pump_hash = document.status.prescription_hash
    matches = None
    if pump_hash is not None and in_force is not None:
        matches = pump_hash == in_force.content_hash
    battery = document.status.battery
    row = Interrogation(
        implant_id=implant.id,
        interrogated_at=at,
        imported_at=call.now,
        imported_by=call.actor.user_id,
        reservoir_estimate=reservoir,
        mode=document.status.mode,
        delivering=document.status.delivering,
        battery_state=battery.state if battery else None,
        prescription_hash=pump_hash,
        prescription_matches=matches,
        last_event_seq=max((event.seq for event in document.event_log), default=None),
        document=document.model_dump(mode="json"),
    )
    call.session.add(row)
    call.audit("import", row, None)
    _sync_alarms(call, implant, row, document)
    schedule.recompute(call, implant, f"interrogation {row.id}")
    return interrogation_view(row)


def import_programmer_output(
    call: Call, implant_id: int, data: dict[str, Any]
) -> InterrogationView:
    """File what ``thecal programmer interrogate --json`` printed (the pump's clock is read
    in the clinic's time zone)."""
    try:
        document = from_programmer_output(data, call.tz)
    except ProgrammerOutputError as error:
        raise Invalid(
            str(error),
            code="not_an_interrogation",
            accepted="the JSON object `thecal programmer interrogate --json` prints",
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise Invalid(f"{field}: {first['msg']}", field=field) from None
    return import_interrogation(call, implant_id, document)


def _sync_alarms(
    call: Call, implant: Implant, row: Interrogation, document: InterrogationDocument
) -> None:
    """Mirror the pump's alarms: new ones are added, ones it no longer reports as active
    are closed (the reading is the pump's word on its alarms)."""
    existing = {
        (alarm.kind, alarm.raised_at): alarm
        for alarm in call.session.scalars(select(Alarm).where(Alarm.implant_id == implant.id))
    }
    reported: set[tuple[str, datetime]] = set()
    for record in document.alarms:
        key = (record.kind, record.raised_at)
        reported.add(key)
        alarm = existing.get(key)
        if alarm is None:
            alarm = Alarm(
                implant_id=implant.id,
                kind=record.kind,
                priority=record.priority,
                raised_at=record.raised_at,
                active=record.active,
                interrogation_id=row.id,
            )
            call.session.add(alarm)
            call.audit("raise", alarm, None)
        elif alarm.active != record.active:
            before = snapshot(alarm)
            alarm.active = record.active
            alarm.interrogation_id = row.id
            call.audit("update", alarm, before)
    for key, alarm in existing.items():
        if alarm.active and key not in reported:
            before = snapshot(alarm)
            alarm.active = False
            alarm.interrogation_id = row.id
            call.audit("clear", alarm, before, reason="no longer reported by the pump")


def list_interrogations(call: Call, implant_id: int) -> list[InterrogationView]:
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    rows = call.session.scalars(
        select(Interrogation)
        .where(Interrogation.implant_id == implant_id)
        .order_by(Interrogation.interrogated_at.desc(), Interrogation.id.desc())
    )
    return [interrogation_view(row) for row in rows]


def alarm_view(alarm: Alarm, patient_id: int) -> AlarmView:
    return AlarmView(
        id=alarm.id,
        implant_id=alarm.implant_id,
        patient_id=patient_id,
        kind=alarm.kind,
        priority=alarm.priority,
        raised_at=alarm.raised_at,
        active=alarm.active,
        acknowledged_at=alarm.acknowledged_at,
    )


def list_alarms(call: Call, implant_id: int, active_only: bool = False) -> list[AlarmView]:
    """The implant's alarms, most recent first."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    statement = select(Alarm).where(Alarm.implant_id == implant_id)
    if active_only:
        statement = statement.where(Alarm.active.is_(True))
    rows = call.session.scalars(statement.order_by(Alarm.raised_at.desc(), Alarm.id.desc()))
    return [alarm_view(row, implant.patient_id) for row in rows]


def acknowledge_alarm(call: Call, alarm_id: int, form: AcknowledgeForm) -> AlarmView:
    """Record that the clinic has seen an alarm (the pump's own alarm state is unchanged)."""
    alarm = load(call, Alarm, alarm_id, "alarm")
    implant = load(call, Implant, alarm.implant_id, "implant")
    authorize(call.actor, Permission.ALARM_ACKNOWLEDGE, implant.patient_id)
    if alarm.acknowledged_at is not None:
        raise Conflict(f"alarm {alarm_id} was already acknowledged", code="already_acknowledged")
    before = snapshot(alarm)
    alarm.acknowledged_at = call.now
    alarm.acknowledged_by = call.actor.user_id
    call.audit("acknowledge", alarm, before, reason=form.note or None)
    return alarm_view(alarm, implant.patient_id)
