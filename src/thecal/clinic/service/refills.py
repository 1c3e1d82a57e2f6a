"""Refill visits: reconcile what came back out of the pump, record the new fill, and book
the next refill date.

Guards at a refill (devices.md §1.5, hazards), each one of the refill rules of the therapy
core (`thecal.therapy.refill`), which the pump and the programmer call too:

- neither the aspirate nor the new volume may exceed the reservoir (an overfill, or an
  aspirate that cannot have come from the reservoir, is refused);
- the drug and concentration filled must be those of the prescription in force after the
  refill, the drug by its library name or alias (a mismatch is refused); a change of
  drug or concentration comes with its new prescription in the same request, judged by
  the safety evaluator;
- the aspirated volume is reconciled against the expectation (possible over-infusion or
  pocket fill; possible under-delivery), and an empty reservoir is always flagged with the
  date the pump most likely ran dry and what that means for the drug.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import AwareDatetime, Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.errors import Conflict, Invalid, Refused
from thecal.clinic.refill_schedule import RefillLimit
from thecal.clinic.service import prescriptions, schedule
from thecal.clinic.service.common import (
    Form,
    View,
    VolumeText,
    load,
    not_in_future,
    quantity_text,
)
from thecal.clinic.service.core import Call
from thecal.clinic.service.idempotency import idempotent
from thecal.clinic.storage.models import (
    Implant,
    ImplantStatus,
    Interrogation,
    PrescriptionRecord,
    Refill,
)
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.refill import (
    AnchorKind,
    Discrepancy,
    Expectation,
    ExpectationBasis,
    ExpectedRange,
    RefillVolume,
    ReservoirAnchor,
    Solution,
    VolumeRefusal,
    VolumeRule,
    check_refill_volumes,
    check_solution,
    expect_from_deliveries,
    expected_range,
    likely_causes,
    reconcile,
    same_drug,
)
from thecal.therapy.units import QuantityParseError, parse_concentration, parse_volume

__all__ = [
    "ExpectationView",
    "RefillForm",
    "RefillView",
    "expectation_view_from",
    "expected_reservoir",
    "list_refills",
    "record_refill",
    "refill_expectation",
    "refill_view",
    "stored_refill_view",
]


class RefillForm(Form):
    performed_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    aspirated_volume: VolumeText | None = Field(
        default=None, description="Volume drawn back out; required except at the first fill"
    )
    drug: str = Field(min_length=1, max_length=40)
    concentration: str = Field(min_length=1, max_length=40, examples=["500 mcg/mL"])
    lot: str = Field(min_length=1, max_length=64)
    volume_added: VolumeText
    prescription: prescriptions.PrescribeForm | None = Field(
        default=None,
        description="The new prescription when the drug or concentration changes "
        "(takes effect at the refill)",
    )
    note: str = Field(default="", max_length=2000)


class ExpectationView(View):
    at: datetime
    expected: str
    low: str
    high: str
    since: datetime
    since_volume: str
    basis: str
    """Where the last known content came from (a refill, the pump's estimate)."""
    bolus_basis: ExpectationBasis | None = None
    """How patient boluses were counted (None: as recorded at an older refill)."""
    boluses: str = ""
    unrecorded_allowance: str = ""
    """The loss every allowed but unrecorded patient bolus could hide (mL text)."""


class RefillView(View):
    id: int
    implant_id: int
    patient_id: int
    performed_at: datetime
    performed_by: int | None
    first_fill: bool
    expected: ExpectationView | None
    aspirated_volume: str | None
    discrepancy: Discrepancy
    discrepancy_message: str
    likely_causes: list[str]
    drug: str
    concentration: str
    lot: str
    volume_added: str
    next_refill_due: datetime | None
    limited_by: RefillLimit | None
    note: str


@dataclass(frozen=True)
class _Found:
    expectation: Expectation
    range: ExpectedRange
    basis: str


def _expectation(call: Call, implant: Implant, at: datetime) -> _Found | None:
    """What the reservoir should hold at `at`, from the last refill or pump reading."""
    return _expectation_from(
        call,
        implant,
        schedule.last_refill(call, implant.id),
        schedule.last_interrogation(call, implant.id),
        schedule.deliveries_for(call, implant.id),
        at,
    )


def _expectation_from(
    call: Call,
    implant: Implant,
    refill: Refill | None,
    reading: Interrogation | None,
    history: list[tuple[PrescriptionRecord, Prescription]],
    at: datetime,
) -> _Found | None:
    found = schedule.reservoir_history(refill, reading, history, at)
    if refill is None or found is None or found.anchor.at > at:
        return None
    basis = found.basis
    if found.anchor.kind is AnchorKind.PUMP_ESTIMATE:
        basis += " (counting the boluses it gave)"
    anchor, periods = found.anchor, found.periods
    pump = find_pump_model(implant.pump_model)
    fill = ReservoirAnchor(refill.performed_at, refill.volume_added)
    expectation = expect_from_deliveries(anchor, at, periods, pump, call.tz, last_fill=fill)
    return _Found(expectation, expected_range(expectation, pump), basis)


def expectation_view_from(
    call: Call,
    implant: Implant,
    refill: Refill | None,
    reading: Interrogation | None,
    history: list[tuple[PrescriptionRecord, Prescription]],
) -> ExpectationView | None:
    """The expectation now, from rows the caller already has (the patient page)."""
    return _expectation_view(_expectation_from(call, implant, refill, reading, history, call.now))


def _expectation_view(found: _Found | None) -> ExpectationView | None:
    if found is None:
        return None
    expectation, anchor = found.expectation, found.expectation.since
    return ExpectationView(
        at=expectation.at,
        expected=quantity_text(expectation.most_likely) or "",
        low=quantity_text(found.range.low) or "",
        high=quantity_text(found.range.high) or "",
        since=anchor.at,
        since_volume=quantity_text(anchor.volume) or "",
        basis=found.basis,
        bolus_basis=expectation.basis,
        boluses=expectation.basis.description,
        unrecorded_allowance=quantity_text(expectation.unrecorded_allowance) or "",
    )


def refill_expectation(
    call: Call, implant_id: int, at: datetime | None = None
) -> ExpectationView | None:
    """The volume a refill now (or at `at`) should draw back out (for the refill wizard)."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    return _expectation_view(_expectation(call, implant, at or call.now))


def expected_reservoir(
    call: Call, implant_id: int, at: datetime | None = None
) -> Expectation | None:
    """The exact range the reservoir should hold now (or at `at`): the same expectation
    as `refill_expectation`, as quantities (for a twin filled to match the record)."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    found = _expectation(call, implant, at or call.now)
    return found.expectation if found else None


def refill_view(
    refill: Refill,
    expected: ExpectationView | None,
    next_due: datetime | None = None,
    limited_by: RefillLimit | None = None,
) -> RefillView:
    return RefillView(
        id=refill.id,
        implant_id=refill.implant_id,
        patient_id=refill.patient_id,
        performed_at=refill.performed_at,
        performed_by=refill.performed_by,
        first_fill=refill.first_fill,
        expected=expected,
        aspirated_volume=quantity_text(refill.aspirated_volume),
        discrepancy=refill.discrepancy,
        discrepancy_message=refill.discrepancy_message,
        likely_causes=list(likely_causes(refill.discrepancy)),
        drug=refill.drug,
        concentration=quantity_text(refill.concentration) or "",
        lot=refill.lot,
        volume_added=quantity_text(refill.volume_added) or "",
        next_refill_due=next_due,
        limited_by=limited_by,
        note=refill.note,
    )


def record_refill(
    call: Call, implant_id: int, form: RefillForm, idempotency_key: str | None = None
) -> RefillView:
    """Record a refill visit (idempotent with `idempotency_key`) and reschedule."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.REFILL_WRITE, implant.patient_id)
    return idempotent(
        call,
        f"refill:{implant_id}",
        idempotency_key,
        form,
        lambda: _record(call, implant, form),
        RefillView,
    )


def _record(call: Call, implant: Implant, form: RefillForm) -> RefillView:
    if implant.status is not ImplantStatus.ACTIVE:
        raise Conflict(f"implant {implant.id} is explanted", code="not_active")
    at = form.performed_at or call.now
    not_in_future(call, at, "performed_at")
    previous = schedule.last_refill(call, implant.id)
    floor = previous.performed_at if previous else implant.implanted_at
    if at < floor:
        raise Invalid(
            f"performed_at: {at.isoformat()} is before {floor.isoformat()}",
            field="performed_at",
            accepted=f"a time from {floor.isoformat()} to now",
        )
    drug = call.library.find(form.drug)
    if drug is None:
        raise Invalid(
            f"drug: {form.drug!r} is not in the library",
            field="drug",
            accepted=call.library.drug_ids(),
        )
    try:
        concentration = parse_concentration(form.concentration, "concentration")
    except QuantityParseError as error:
        raise Invalid(str(error), field="concentration", accepted=error.accepted) from None
    if drug.concentration_entry(concentration) is None:
        listed = ", ".join(str(entry.concentration.value) for entry in drug.concentrations)
        raise Invalid(
            f"concentration: {concentration} is not a library concentration of {drug.id}",
            field="concentration",
            accepted=listed,
        )
    added = parse_volume(form.volume_added, "volume_added")
    aspirated = (
        parse_volume(form.aspirated_volume, "aspirated_volume") if form.aspirated_volume else None
    )
    if previous is not None and aspirated is None:
        raise Invalid(
            "aspirated_volume: required at a refill (what was drawn back out of the pump)",
            field="aspirated_volume",
            accepted="a volume, e.g. '3.2 mL'",
        )
    refusals = check_refill_volumes(implant.reservoir, added, aspirated)
    if refusals:
        raise _volume_refused(refusals[0])
    found = _expectation(call, implant, at)
    expected_view = _expectation_view(found)
    discrepancy, message = Discrepancy.NONE, ""
    if found is not None and aspirated is not None:
        held = call.library.find(previous.drug) if previous is not None else None
        pump = find_pump_model(implant.pump_model)
        outcome = reconcile(found.expectation, aspirated, pump, held)
        discrepancy, message = outcome.discrepancy, outcome.message
    first_fill = previous is None or not same_drug(call.library, previous.drug, drug.id)
    refill = Refill(
        implant_id=implant.id,
        patient_id=implant.patient_id,
        performed_at=at,
        performed_by=call.actor.user_id,
        expected_volume=found.expectation.most_likely if found else None,
        expected_low=found.range.low if found else None,
        expected_high=found.range.high if found else None,
        aspirated_volume=aspirated,
        discrepancy=discrepancy,
        discrepancy_message=message,
        drug=drug.id,
        concentration=concentration,
        lot=form.lot,
        volume_added=added,
        first_fill=first_fill,
        note=form.note,
    )
    call.session.add(refill)
    call.audit("refill", refill, None, reason=message or None)
    if form.prescription is not None:
        new = replace(form.prescription.order(), active_from=at)
        prescriptions.prescribe(call, implant.id, new)
    current = prescriptions.current_record(call, implant.id)
    filled = Solution(drug.id, concentration)
    if (
        current is None
        or not check_solution(
            call.library, Solution(current.drug, current.concentration), filled
        ).matches
    ):
        in_force = f"{current.drug} {current.concentration}" if current else "no prescription"
        raise Refused(
            f"the pump would hold {drug.id} {quantity_text(concentration)} but the prescription "
            f"in force is {in_force}: a concentration mismatch; include the new prescription",
            code="concentration_mismatch",
            field="prescription",
            accepted=f"a prescription for {drug.id} {quantity_text(concentration)}",
        )
    schedule.recompute(call, implant, f"refill {refill.id}")
    return refill_view(refill, expected_view, implant.next_refill_due, implant.refill_limited_by)


def _volume_refused(refusal: VolumeRefusal) -> Refused:
    """The service error for a refill volume the refill rules refuse."""
    aspirate = refusal.volume is RefillVolume.ASPIRATED
    field = "aspirated_volume" if aspirate else "volume_added"
    code = "invalid"
    if refusal.rule is VolumeRule.OVER_CAPACITY:
        code = "aspirate_over_capacity" if aspirate else "overfill"
    return Refused(f"{field}: {refusal.message}", code=code, field=field, accepted=refusal.accepted)


def stored_refill_view(row: Refill) -> RefillView:
    """A refill as recorded, with the expectation computed when it was done."""
    expected = None
    if row.expected_volume is not None:
        expected = ExpectationView(
            at=row.performed_at,
            expected=quantity_text(row.expected_volume) or "",
            low=quantity_text(row.expected_low) or "",
            high=quantity_text(row.expected_high) or "",
            since=row.performed_at,
            since_volume="",
            basis="as computed at the refill",
        )
    return refill_view(row, expected)


def list_refills(call: Call, implant_id: int, limit: int = 1000) -> list[RefillView]:
    """The implant's refills, newest first."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    rows = call.session.scalars(
        select(Refill)
        .where(Refill.implant_id == implant_id)
        .order_by(Refill.performed_at.desc(), Refill.id.desc())
        .limit(limit)
    )
    return [stored_refill_view(row) for row in rows]
