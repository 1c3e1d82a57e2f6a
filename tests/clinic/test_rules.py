"""Pure clinic rules: candidacy screening, trial success, the policy
file, battery planning and the diagnosis families."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from importlib import resources

import pytest

import thecal.pump
from thecal.clinic import battery
from thecal.clinic.candidacy import (
    PsychEvaluation,
    ScreeningCriteria,
    TrialCriterion,
    screen,
    trial_outcome,
)
from thecal.clinic.diagnoses import Diagnosis, DiagnosisFamily, family_of, therapies_for
from thecal.clinic.policy import PolicyError, default_policy, parse_policy
from thecal.therapy.library import default_library
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import VolumeRate

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PUMP = find_pump_model("peristaltic-20")
ALL_MET = ScreeningCriteria(True, True, True, True, True, True, PsychEvaluation.FAVOURABLE)


def test_a_candidate_meeting_every_criterion_is_eligible() -> None:
    assert screen(ALL_MET, Diagnosis.FAILED_BACK_SURGERY_SYNDROME).eligible


@pytest.mark.parametrize(
    ("field", "unmet"),
    [
        ("conservative_therapies_tried", "conservative therapies not yet tried"),
        ("no_other_surgical_option", "another surgical option exists"),
        ("no_untreated_addiction", "active untreated addiction"),
        ("no_infection", "contraindication: infection"),
        ("body_size_adequate", "contraindication: insufficient body size"),
        ("implant_depth_adequate", "contraindication: implant depth"),
    ],
)
def test_each_unmet_criterion_makes_a_candidate_ineligible_and_is_named(
    field: str, unmet: str
) -> None:
    criteria = ScreeningCriteria(**{**ALL_MET.__dict__, field: False})
    result = screen(criteria, Diagnosis.CANCER_PAIN)
    assert not result.eligible
    assert result.unmet == (unmet,)


@pytest.mark.parametrize(
    ("diagnosis", "eligible"),
    [
        (Diagnosis.FAILED_BACK_SURGERY_SYNDROME, False),  # non-cancer pain needs one
        (Diagnosis.CANCER_PAIN, True),
        (Diagnosis.SPASTICITY_STROKE, True),
    ],
)
def test_a_psychological_evaluation_is_required_for_non_cancer_pain(
    diagnosis: Diagnosis, eligible: bool
) -> None:
    criteria = ScreeningCriteria(
        **{**ALL_MET.__dict__, "psychological_evaluation": PsychEvaluation.NOT_DONE}
    )
    assert screen(criteria, diagnosis).eligible is eligible


@pytest.mark.parametrize(
    ("before", "after", "success"),
    [
        (8, 4, True),  # exactly 50 %
        (10, 5, True),
        (9, 5, False),  # 44 %
        (8, 5, False),  # 37.5 %
        (6, 0, True),
        (5, 7, False),  # worse
    ],
)
def test_a_pain_trial_succeeds_at_fifty_percent_relief(
    before: int, after: int, success: bool
) -> None:
    outcome = trial_outcome(Diagnosis.CRPS, before, after)
    assert outcome.criterion is TrialCriterion.PAIN_RELIEF_50
    assert outcome.success is success


@pytest.mark.parametrize(
    ("before", "after", "success", "drop"),
    [
        ("4", "2", True, Fraction(2)),  # exactly 2 points
        ("3", "1+", False, Fraction(3, 2)),
        ("4", "1+", True, Fraction(5, 2)),
        ("2", "1", False, Fraction(1)),
    ],
)
def test_a_spasticity_trial_succeeds_at_a_two_point_ashworth_drop(
    before: str, after: str, success: bool, drop: Fraction
) -> None:
    outcome = trial_outcome(Diagnosis.SPASTICITY_CEREBRAL_PALSY, None, None, before, after)
    assert outcome.criterion is TrialCriterion.ASHWORTH_DROP_2
    assert (outcome.success, outcome.improvement) == (success, drop)


def test_a_pain_trial_from_zero_pain_is_refused_with_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="accepted: 1 to 10"):
        trial_outcome(Diagnosis.CANCER_PAIN, 0, 0)


def test_every_policy_number_names_a_source_or_says_it_is_a_site_default() -> None:
    policy = default_policy()
    for name in policy.__dataclass_fields__:
        value = getattr(policy, name)
        if hasattr(value, "provenance"):
            assert value.site_default or value.source in policy.sources, name


def test_a_broken_policy_file_lists_every_problem() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy('schema = 1\n[refill]\nmargin = { value = "3 mg" }\n')
    problems = " ".join(caught.value.problems)
    assert "refill.margin" in problems
    assert "escalation.steps: missing" in problems


def test_a_policy_file_with_its_own_reconciliation_thresholds_is_refused() -> None:
    # One source of truth: the refill rules the pump uses too (thecal.therapy.refill).
    text = resources.files("thecal.clinic").joinpath("data/clinic_policy.toml").read_text()
    extra = '\n[reconciliation]\nminimum_tolerance = { value = "2 mL", site_default = true }\n'
    with pytest.raises(PolicyError, match="no longer clinic policy"):
        parse_policy(text + extra)


def test_constant_flow_pumps_have_no_battery_to_plan() -> None:
    outlook = battery.battery_outlook(
        "constant-flow-30", T0, VolumeRate.from_ml_per_day(1), default_policy()
    )
    assert outlook is None


def test_battery_replacement_is_due_well_before_end_of_service() -> None:
    policy = default_policy()
    outlook = battery.battery_outlook(
        "peristaltic-20", T0, VolumeRate.from_ml_per_day("0.5"), policy
    )
    assert outlook is not None
    assert outlook.eri_at < outlook.eos_at
    lead = policy.battery_replacement_lead.value.to_timedelta_floor()
    assert outlook.replacement_due == min(outlook.eos_at - lead, outlook.eri_at)


def test_the_battery_dates_are_the_pump_twins_projection() -> None:
    rate = VolumeRate.from_ml_per_day("0.8")
    twin = thecal.pump.project_battery("peristaltic-40", T0, rate)
    outlook = battery.battery_outlook("peristaltic-40", T0, rate, default_policy())
    assert outlook is not None
    assert (outlook.eri_at, outlook.eos_at) == (twin.eri_at, twin.eos_at)


def test_more_volume_pumped_brings_the_replacement_forward() -> None:
    slow = battery.battery_outlook(
        "peristaltic-20", T0, VolumeRate.from_ml_per_day("0.2"), default_policy()
    )
    fast = battery.battery_outlook(
        "peristaltic-20", T0, VolumeRate.from_ml_per_day(2), default_policy()
    )
    assert slow is not None and fast is not None
    assert fast.replacement_due < slow.replacement_due


@pytest.mark.parametrize(
    ("diagnosis", "family"),
    [(d, DiagnosisFamily.SPASTICITY) for d in Diagnosis if d.value.startswith("spasticity")]
    + [(d, DiagnosisFamily.PAIN) for d in Diagnosis if not d.value.startswith("spasticity")],
)
def test_each_diagnosis_belongs_to_one_therapy_family(
    diagnosis: Diagnosis, family: DiagnosisFamily
) -> None:
    assert family_of(diagnosis) is family


def test_spasticity_is_offered_baclofen_and_pain_the_rest_approved_first() -> None:
    library = default_library()
    spastic = therapies_for(Diagnosis.SPASTICITY_STROKE, library)
    pain = therapies_for(Diagnosis.CANCER_PAIN, library)
    assert [o.drug_id for o in spastic] == ["baclofen"]
    assert "baclofen" not in {o.drug_id for o in pain}
    approved = [o.approved_for_pump for o in pain]
    assert approved == sorted(approved, reverse=True)
