"""Implants: pump and catheter, their schedule, explant and replacement."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from pydantic import AwareDatetime, Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.anatomy import tip_level
from thecal.clinic.audit import snapshot
from thecal.clinic.errors import Conflict, Invalid
from thecal.clinic.refill_schedule import RefillLimit
from thecal.clinic.service import schedule
from thecal.clinic.service.common import (
    Form,
    View,
    VolumeText,
    check_version,
    load,
    not_in_future,
    quantity_text,
)
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import Implant, ImplantStatus, Patient
from thecal.therapy.pump_models import (
    CatheterModel,
    PumpModel,
    find_catheter_model,
    find_pump_model,
)
from thecal.therapy.quantities import Volume, decimal_text
from thecal.therapy.units import parse_volume

__all__ = [
    "ExplantForm",
    "ImplantForm",
    "ImplantView",
    "RefillState",
    "ScheduleView",
    "active_implant",
    "explant",
    "find_active_by_serial",
    "get_implant",
    "implant_pump",
    "implant_view",
    "list_implants",
    "pump_model_or_invalid",
    "refill_state",
    "refill_state_at",
]

LENGTH_PATTERN = r"^\d{1,3}(\.\d{1,2})?$"


class RefillState(StrEnum):
    NOT_SCHEDULED = "not_scheduled"
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


class ImplantForm(Form):
    pump_model: str = Field(min_length=1, max_length=40, examples=["peristaltic-20"])
    serial: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    implanted_at: AwareDatetime | None = None
    catheter_model: str = Field(min_length=1, max_length=40, examples=["prometra-110"])
    catheter_trimmed_length_cm: str = Field(pattern=LENGTH_PATTERN, examples=["68.5"])
    catheter_tip_level: str = Field(min_length=2, max_length=8, examples=["T10"])
    low_reservoir_alarm: VolumeText | None = Field(
        default=None, description="Defaults to the pump model's alarm volume"
    )
    replaces_implant_id: int | None = Field(default=None, ge=1)
    note: str = Field(default="", max_length=2000)


class ExplantForm(Form):
    version: int = Field(ge=1)
    explanted_at: AwareDatetime | None = None
    reason: str = Field(min_length=1, max_length=500)


class ScheduleView(View):
    state: RefillState
    high_risk: bool
    next_refill_due: datetime | None
    limited_by: RefillLimit | None
    low_alarm_at: datetime | None
    empty_at: datetime | None
    stability_limit_at: datetime | None
    battery_eri_at: datetime | None
    battery_eos_at: datetime | None
    replacement_due: datetime | None
    battery_basis: str | None


class ImplantView(View):
    id: int
    patient_id: int
    status: ImplantStatus
    pump_model: str
    pump_label: str
    serial: str
    reservoir: str
    low_reservoir_alarm: str
    implanted_at: datetime
    catheter_model: str
    catheter_length_cm: str
    catheter_trimmed_length_cm: str
    catheter_tip_level: str
    explanted_at: datetime | None
    explant_reason: str | None
    replaces_id: int | None
    note: str
    schedule: ScheduleView
    version: int


def refill_state_at(call: Call, due: datetime | None, high_risk: bool) -> RefillState:
    """Overdue after the due time; due soon from the policy's reminder lead before it."""
    if due is None:
        return RefillState.NOT_SCHEDULED
    if call.now > due:
        return RefillState.OVERDUE
    if call.now >= due - call.policy.remind_before(high_risk).value.to_timedelta_floor():
        return RefillState.DUE_SOON
    return RefillState.OK


def refill_state(call: Call, implant: Implant) -> RefillState:
    if implant.status is not ImplantStatus.ACTIVE:
        return RefillState.NOT_SCHEDULED
    return refill_state_at(call, implant.next_refill_due, implant.high_risk)


def implant_view(call: Call, implant: Implant) -> ImplantView:
    return ImplantView(
        id=implant.id,
        patient_id=implant.patient_id,
        status=implant.status,
        pump_model=implant.pump_model,
        pump_label=find_pump_model(implant.pump_model).label,
        serial=implant.serial,
        reservoir=quantity_text(implant.reservoir) or "",
        low_reservoir_alarm=quantity_text(implant.low_reservoir_alarm) or "",
        implanted_at=implant.implanted_at,
        catheter_model=implant.catheter_model,
        catheter_length_cm=decimal_text(implant.catheter_length_cm, 2),
        catheter_trimmed_length_cm=decimal_text(implant.catheter_trimmed_length_cm, 2),
        catheter_tip_level=implant.catheter_tip_level,
        explanted_at=implant.explanted_at,
        explant_reason=implant.explant_reason,
        replaces_id=implant.replaces_id,
        note=implant.note,
        schedule=ScheduleView(
            state=refill_state(call, implant),
            high_risk=implant.high_risk,
            next_refill_due=implant.next_refill_due,
            limited_by=implant.refill_limited_by,
            low_alarm_at=implant.low_alarm_at,
            empty_at=implant.empty_at,
            stability_limit_at=implant.stability_limit_at,
            battery_eri_at=implant.battery_eri_at,
            battery_eos_at=implant.battery_eos_at,
            replacement_due=implant.replacement_due,
            battery_basis=implant.battery_basis,
        ),
        version=implant.version,
    )


def active_implant(call: Call, patient_id: int) -> Implant | None:
    return call.session.scalars(
        select(Implant).where(
            Implant.patient_id == patient_id, Implant.status == ImplantStatus.ACTIVE
        )
    ).first()


def _accepted(error: ValueError) -> str:
    return str(error).split("accepted: ", 1)[-1]


def pump_model_or_invalid(model_id: str) -> PumpModel:
    """The pump model, or `Invalid` naming the accepted model ids."""
    try:
        return find_pump_model(model_id)
    except ValueError as error:
        raise Invalid(str(error), field="pump_model", accepted=_accepted(error)) from None


def _catheter_model(model_id: str) -> CatheterModel:
    try:
        return find_catheter_model(model_id)
    except ValueError as error:
        raise Invalid(str(error), field="catheter_model", accepted=_accepted(error)) from None


def implant_pump(call: Call, patient_id: int, form: ImplantForm) -> ImplantView:
    """Record an implanted pump and catheter. A patient has at most one active pump: a
    replacement names the implant it replaces, which is explanted in the same change."""
    authorize(call.actor, Permission.IMPLANT_WRITE, patient_id)
    load(call, Patient, patient_id, "patient")
    pump = pump_model_or_invalid(form.pump_model)
    catheter = _catheter_model(form.catheter_model)
    implanted_at = form.implanted_at or call.now
    not_in_future(call, implanted_at, "implanted_at")
    length = catheter.length_cm.value
    trimmed = Fraction(form.catheter_trimmed_length_cm)
    if not 0 < trimmed <= length:
        raise Invalid(
            f"catheter_trimmed_length_cm: {form.catheter_trimmed_length_cm} cm",
            field="catheter_trimmed_length_cm",
            accepted=f"more than 0 and at most the catheter's {decimal_text(length, 2)} cm",
        )
    try:
        level = tip_level(form.catheter_tip_level)
    except ValueError as error:
        raise Invalid(str(error), field="catheter_tip_level", accepted=_accepted(error)) from None
    alarm = (
        parse_volume(form.low_reservoir_alarm, "low_reservoir_alarm")
        if form.low_reservoir_alarm
        else pump.default_low_reservoir_alarm.value
    )
    if not Volume.zero() < alarm < pump.reservoir.value:
        raise Invalid(
            f"low_reservoir_alarm: {alarm}",
            field="low_reservoir_alarm",
            accepted=f"more than 0 mL and less than the {pump.reservoir.value} reservoir",
        )
    duplicate = call.session.scalar(
        select(Implant.id).where(
            Implant.serial == form.serial, Implant.status == ImplantStatus.ACTIVE
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"serial {form.serial!r} is already an active implant", code="duplicate", field="serial"
        )
    current = active_implant(call, patient_id)
    if current is not None and form.replaces_implant_id != current.id:
        raise Conflict(
            f"the patient already has an active pump (implant {current.id}); to replace it, "
            "give replaces_implant_id",
            code="active_implant_exists",
            field="replaces_implant_id",
            accepted=str(current.id),
        )
    if current is None and form.replaces_implant_id is not None:
        raise Invalid(
            f"replaces_implant_id: implant {form.replaces_implant_id} is not this patient's "
            "active pump",
            field="replaces_implant_id",
        )
    if current is not None:
        _explant(call, current, implanted_at, "replaced")
    implant = Implant(
        patient_id=patient_id,
        status=ImplantStatus.ACTIVE,
        pump_model=pump.id,
        serial=form.serial,
        reservoir=pump.reservoir.value,
        low_reservoir_alarm=alarm,
        implanted_at=implanted_at,
        catheter_model=catheter.id,
        catheter_length_cm=length,
        catheter_trimmed_length_cm=trimmed,
        catheter_tip_level=level,
        replaces_id=current.id if current else None,
        note=form.note,
    )
    call.session.add(implant)
    call.audit("create", implant, None)
    schedule.recompute(call, implant, "implanted")
    return implant_view(call, implant)


def _explant(call: Call, implant: Implant, at: datetime, reason: str) -> None:
    before = snapshot(implant)
    implant.status = ImplantStatus.EXPLANTED
    implant.explanted_at = at
    implant.explant_reason = reason
    call.audit("explant", implant, before, reason=reason)
    schedule.recompute(call, implant, f"explanted: {reason}")


def explant(call: Call, implant_id: int, form: ExplantForm) -> ImplantView:
    """Record that a pump was removed; its reminders are cancelled."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.IMPLANT_WRITE, implant.patient_id)
    check_version(implant, form.version)
    if implant.status is not ImplantStatus.ACTIVE:
        raise Conflict(f"implant {implant_id} is already explanted", code="not_active")
    at = form.explanted_at or call.now
    not_in_future(call, at, "explanted_at")
    if at < implant.implanted_at:
        raise Invalid("explanted_at: before the implant date", field="explanted_at")
    _explant(call, implant, at, form.reason)
    return implant_view(call, implant)


def get_implant(call: Call, implant_id: int) -> ImplantView:
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    return implant_view(call, implant)


def find_active_by_serial(call: Call, serial: str) -> ImplantView | None:
    """The active implant with this pump serial, if the clinic has one (a pump in reach
    of the programmer is matched to its patient this way)."""
    implant = call.session.scalars(
        select(Implant).where(Implant.serial == serial, Implant.status == ImplantStatus.ACTIVE)
    ).first()
    if implant is None:
        return None
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    return implant_view(call, implant)


def list_implants(call: Call, patient_id: int) -> list[ImplantView]:
    """The patient's implants, current first."""
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    load(call, Patient, patient_id, "patient")
    rows = call.session.scalars(
        select(Implant)
        .where(Implant.patient_id == patient_id)
        .order_by(Implant.implanted_at.desc(), Implant.id.desc())
    )
    return [implant_view(call, row) for row in rows]
