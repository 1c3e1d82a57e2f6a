"""Prescriptions go through the one safety evaluator and are saved with their verdicts and
override reasons; refills are reconciled, guarded and reschedule the pump."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.clinic.support import (
    BACLOFEN_400,
    MORPHINE_4MG,
    SYSTEM,
    T0,
    add_implant,
    add_patient,
    filled_baclofen_pump,
    later,
    prescribe,
    refill,
)
from thecal.clinic.errors import Conflict, Invalid, Refused
from thecal.clinic.refill_schedule import RefillLimit
from thecal.clinic.service import Clinic, FixedClock, implants, prescriptions, refills
from thecal.therapy.refill import Discrepancy


def new_pump(clinic: Clinic, pump: str = "peristaltic-20", diagnosis: str = "cancer_pain") -> int:
    patient = add_patient(clinic, diagnosis=diagnosis)
    return add_implant(clinic, patient.id, pump=pump).id


def test_a_saved_prescription_keeps_its_verdicts_and_override_reasons(clinic: Clinic) -> None:
    implant_id = new_pump(clinic)
    off_label = {**MORPHINE_4MG, "drug": "hydromorphone", "concentration": "2 mg/mL",
                 "rate": "1 mg/day"}  # fmt: skip
    saved = prescribe(clinic, implant_id, off_label, {"off_label": "failed morphine trial"})
    assert saved.override_reasons == {"off_label": "failed morphine trial"}
    rules = {v.rule: v.outcome for v in saved.verdicts}
    assert rules["off_label"] == "warning"
    assert rules["daily_dose"] == "allowed"
    history = clinic.perform(SYSTEM, lambda c: prescriptions.list_prescriptions(c, implant_id))
    assert history[0].verdicts == saved.verdicts


def test_a_warning_without_a_reason_is_not_saved(clinic: Clinic) -> None:
    implant_id = new_pump(clinic)
    off_label = {**MORPHINE_4MG, "drug": "hydromorphone", "concentration": "2 mg/mL",
                 "rate": "1 mg/day"}  # fmt: skip
    with pytest.raises(Invalid) as caught:
        prescribe(clinic, implant_id, off_label)
    assert caught.value.code == "override_reason_required"
    assert caught.value.accepted is not None and "off_label" in caught.value.accepted
    assert clinic.perform(SYSTEM, lambda c: prescriptions.list_prescriptions(c, implant_id)) == []


def test_a_dose_above_the_hard_limit_is_refused_and_not_saved(clinic: Clinic) -> None:
    implant_id = new_pump(clinic)
    with pytest.raises(Refused) as caught:
        prescribe(clinic, implant_id, {**MORPHINE_4MG, "rate": "30 mg/day"})
    refused = [v for v in caught.value.details if v["outcome"] == "refused"]
    assert [v["rule"] for v in refused] == ["daily_dose"]
    assert clinic.perform(SYSTEM, lambda c: prescriptions.list_prescriptions(c, implant_id)) == []


def test_a_per_hour_value_typed_as_per_day_is_refused(clinic: Clinic) -> None:
    implant_id = new_pump(clinic)
    prescribe(clinic, implant_id, {**MORPHINE_4MG, "rate": "0.5 mg/day"})
    with pytest.raises(Refused) as caught:
        prescribe(clinic, implant_id, {**MORPHINE_4MG, "rate": "12 mg/day"})
    rules = {v["rule"] for v in caught.value.details if v["outcome"] == "refused"}
    assert "hour_day_slip" in rules


def test_a_malformed_prescription_lists_every_problem_with_its_field(clinic: Clinic) -> None:
    implant_id = new_pump(clinic)
    with pytest.raises(Invalid) as caught:
        prescribe(clinic, implant_id, {**MORPHINE_4MG, "concentration": "10 mg/L",
                                       "rate": "4 mg"})  # fmt: skip
    fields = [problem["field"] for problem in caught.value.details]
    assert fields == ["concentration", "rate"]


def test_a_new_prescription_supersedes_the_current_one(clinic: Clinic, clock: FixedClock) -> None:
    implant_id = new_pump(clinic)
    first = prescribe(clinic, implant_id, MORPHINE_4MG)
    later(clock, 2)
    second = prescribe(clinic, implant_id, {**MORPHINE_4MG, "rate": "4.5 mg/day"})
    history = clinic.perform(SYSTEM, lambda c: prescriptions.list_prescriptions(c, implant_id))
    assert [(p.id, p.status) for p in history] == [(second.id, "active"), (first.id, "superseded")]
    assert history[1].active_until == history[0].active_from


def test_prescribing_against_a_stale_current_prescription_is_a_conflict(
    clinic: Clinic, clock: FixedClock
) -> None:
    implant_id = new_pump(clinic)
    reviewed = prescribe(clinic, implant_id, MORPHINE_4MG)
    later(clock, 2)
    prescribe(clinic, implant_id, {**MORPHINE_4MG, "rate": "4.5 mg/day"})  # someone else
    form = prescriptions.PrescribeForm.model_validate(
        {"prescription": {**MORPHINE_4MG, "rate": "5 mg/day"},
         "replaces_prescription_id": reviewed.id}
    )  # fmt: skip
    with pytest.raises(Conflict) as caught:
        clinic.perform(SYSTEM, lambda c: prescriptions.prescribe(c, implant_id, form.order()))
    assert caught.value.code == "stale_prescription"


def test_a_constant_flow_pump_is_recorded_at_its_fixed_rate_only(clinic: Clinic) -> None:
    implant_id = new_pump(clinic, "constant-flow-30", "spasticity_stroke")
    with pytest.raises(Invalid) as caught:
        prescribe(clinic, implant_id, BACLOFEN_400)
    assert caught.value.accepted == "mode simple_continuous, rate 500 mcg/day"
    saved = prescribe(clinic, implant_id, {**BACLOFEN_400, "rate": "500 mcg/day"})
    assert saved.daily_dose == "500 mcg/day"


def test_evaluating_a_proposal_saves_nothing(clinic: Clinic) -> None:
    implant_id = new_pump(clinic)
    data = prescriptions.to_prescription(
        prescriptions.PrescriptionInput.model_validate(MORPHINE_4MG)
    )
    result = clinic.perform(
        SYSTEM, lambda c: prescriptions.evaluate_prescription(c, implant_id, data)
    )
    assert result.confirmable and result.daily_dose == "4 mg/day"
    assert clinic.perform(SYSTEM, lambda c: prescriptions.list_prescriptions(c, implant_id)) == []


# --- refills ----------------------------------------------------------------------------


def test_the_first_fill_books_the_next_refill_before_the_alarm_with_the_baclofen_margin(
    clinic: Clinic,
) -> None:
    patient = add_patient(clinic)
    implant = add_implant(clinic, patient.id)
    prescribe(clinic, implant.id, BACLOFEN_400)
    first = refill(clinic, implant.id)
    # 0.8 mL/day: 18 mL to the 2 mL alarm = 22.5 days; less the 7-day high-risk margin.
    assert first.first_fill
    assert first.next_refill_due == T0 + timedelta(days=15, hours=12)
    assert first.limited_by is RefillLimit.ALARM_MARGIN


def test_overfilling_the_reservoir_is_refused(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    with pytest.raises(Refused) as caught:
        refill(clinic, implant_id, added="20.1 mL", aspirated="12 mL")
    assert (caught.value.code, caught.value.field) == ("overfill", "volume_added")


def test_an_aspirate_larger_than_the_reservoir_is_refused(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    with pytest.raises(Refused) as caught:
        refill(clinic, implant_id, aspirated="25 mL")  # from a 20 mL pump
    assert (caught.value.code, caught.value.field) == ("aspirate_over_capacity", "aspirated_volume")
    assert caught.value.accepted == "from 0 mL to at most 20 mL"
    assert len(clinic.perform(SYSTEM, lambda c: refills.list_refills(c, implant_id))) == 1


def test_a_refill_named_by_a_brand_of_the_prescribed_drug_is_no_drug_change(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    done = refill(clinic, implant_id, aspirated="12 mL", drug=" Lioresal")
    assert (done.drug, done.first_fill) == ("baclofen", False)


def test_a_reservoir_found_dry_is_flagged_with_the_day_it_ran_dry_and_a_withdrawal_watch(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)  # 20 mL at 0.8 mL/day: dry after 25 days
    later(clock, 30)
    done = refill(clinic, implant_id, aspirated="0 mL")
    assert done.discrepancy is Discrepancy.EMPTY_RESERVOIR
    assert f"{T0 + timedelta(days=25):%Y-%m-%d %H:%M}" in done.discrepancy_message
    assert "Withdrawal watch" in done.discrepancy_message
    assert any("late or missed refill" in cause for cause in done.likely_causes)


def test_a_refill_with_another_concentration_than_prescribed_is_refused(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    with pytest.raises(Refused) as caught:
        refill(clinic, implant_id, aspirated="12 mL", concentration="2000 mcg/mL")
    assert caught.value.code == "concentration_mismatch"
    assert len(clinic.perform(SYSTEM, lambda c: refills.list_refills(c, implant_id))) == 1


def test_a_concentration_change_comes_with_its_new_prescription(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    stronger = {**BACLOFEN_400, "concentration": "2000 mcg/mL"}
    with pytest.raises(Invalid) as caught:  # the bridge warning needs a stated plan
        refill(clinic, implant_id, aspirated="12 mL", concentration="2000 mcg/mL",
               new_prescription=stronger)  # fmt: skip
    assert caught.value.code == "override_reason_required"
    form = {"prescription": stronger, "override_reasons": {"bridge_bolus": "bridge bolus given"}}
    made = refills.RefillForm.model_validate(
        {"drug": "baclofen", "concentration": "2000 mcg/mL", "lot": "L", "volume_added": "20 mL",
         "aspirated_volume": "12 mL", "prescription": form}
    )  # fmt: skip
    done = clinic.perform(SYSTEM, lambda c: refills.record_refill(c, implant_id, made))
    assert done.concentration == "2 mg/mL"
    current = clinic.perform(SYSTEM, lambda c: prescriptions.current_prescription(c, implant_id))
    assert current is not None and current.concentration == "2 mg/mL"
    assert current.active_from == done.performed_at


@pytest.mark.parametrize(
    ("aspirated", "discrepancy"),
    [
        ("12 mL", Discrepancy.NONE),  # 10 days at 0.8 mL/day from 20 mL: 12 mL expected
        ("2 mL", Discrepancy.LESS_THAN_EXPECTED),
        ("17 mL", Discrepancy.MORE_THAN_EXPECTED),
    ],
)
def test_a_refill_is_reconciled_against_the_expected_volume(
    clinic: Clinic, clock: FixedClock, aspirated: str, discrepancy: Discrepancy
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    done = refill(clinic, implant_id, aspirated=aspirated)
    assert done.expected is not None and done.expected.expected == "12 mL"
    assert done.discrepancy is discrepancy


def test_a_refill_after_the_first_needs_the_aspirated_volume(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    with pytest.raises(Invalid) as caught:
        refill(clinic, implant_id)
    assert caught.value.field == "aspirated_volume"


def test_a_retried_refill_with_the_same_key_is_recorded_once(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    first = refill(clinic, implant_id, aspirated="12 mL", key="visit-0001")
    again = refill(clinic, implant_id, aspirated="12 mL", key="visit-0001")
    assert again == first
    assert len(clinic.perform(SYSTEM, lambda c: refills.list_refills(c, implant_id))) == 2


def test_reusing_a_key_for_a_different_refill_is_refused(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 10)
    refill(clinic, implant_id, aspirated="12 mL", key="visit-0002")
    with pytest.raises(Invalid) as caught:
        refill(clinic, implant_id, aspirated="11 mL", key="visit-0002")
    assert caught.value.code == "idempotency_key_reused"


def test_explanting_a_pump_clears_its_schedule(clinic: Clinic, clock: FixedClock) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    later(clock, 3)
    form = implants.ExplantForm(version=3, reason="infection")
    view = clinic.perform(SYSTEM, lambda c: implants.explant(c, implant_id, form))
    assert view.status == "explanted"
    assert view.schedule.next_refill_due is None


def test_a_second_active_pump_needs_to_name_the_one_it_replaces(clinic: Clinic) -> None:
    patient = add_patient(clinic)
    first = add_implant(clinic, patient.id, serial="A-1")
    with pytest.raises(Conflict) as caught:
        add_implant(clinic, patient.id, serial="A-2")
    assert caught.value.accepted == str(first.id)
