"""The next refill date: the earlier of the low-reservoir alarm less a safety margin and the
drug's stability limit, worst-case patient boluses counted; baclofen gets the larger margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.clinic.policy import default_policy
from thecal.clinic.refill_schedule import RefillLimit, RefillOutlook, refill_outlook
from thecal.therapy.library import default_library
from thecal.therapy.prescription import Mode, PatientBolus, Prescription
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume
from thecal.therapy.refill import DeliveryPeriod, ReservoirAnchor, volume_moved

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
PUMP = find_pump_model("peristaltic-20")
LIBRARY = default_library()
POLICY = default_policy()


def continuous(
    drug: str, concentration: str, rate_mcg_per_day: int, **extra: object
) -> Prescription:
    return Prescription(
        drug=drug,
        concentration=Concentration.from_mcg_per_ml(concentration),
        mode=Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mcg_per_day(rate_mcg_per_day),
        **extra,  # type: ignore[arg-type]
    )


def plan(
    rx: Prescription,
    fill_ml: int = 20,
    margin_days: int = 3,
    stability_days: int = 90,
    periods: list[DeliveryPeriod] | None = None,
    anchor: ReservoirAnchor | None = None,
) -> RefillOutlook:
    return refill_outlook(
        anchor=anchor or ReservoirAnchor(T0, Volume.from_ml(fill_ml)),
        filled_at=T0,
        deliveries=periods or [DeliveryPeriod(T0, rx)],
        pump=PUMP,
        alarm_threshold=Volume.from_ml(2),
        stability=Duration.from_days(stability_days),
        margin=Duration.from_days(margin_days),
        tz=UTC_ZONE,
    )


# 1 mL/day for every case below: 20 mL filled, alarm at 2 mL -> alarm after 18 days.
@pytest.mark.parametrize(
    ("margin_days", "stability_days", "due_after_days", "limited_by"),
    [
        (3, 90, 15, RefillLimit.ALARM_MARGIN),  # alarm (18 d) - 3 d comes long before 90 d
        (7, 90, 11, RefillLimit.ALARM_MARGIN),  # a larger margin: earlier
        (3, 15, 15, RefillLimit.ALARM_MARGIN),  # equal: the alarm rule is the one named
        (3, 14, 14, RefillLimit.STABILITY),  # one day less stability: stability binds
        (0, 18, 18, RefillLimit.ALARM_MARGIN),  # no margin: the alarm date itself
    ],
)
def test_refill_is_due_by_the_earlier_of_alarm_less_margin_and_stability(
    margin_days: int, stability_days: int, due_after_days: int, limited_by: RefillLimit
) -> None:
    result = plan(continuous("morphine", "10000", 10000), 20, margin_days, stability_days)
    assert result.low_alarm_at == T0 + timedelta(days=18)
    assert result.refill_due == T0 + timedelta(days=due_after_days)
    assert result.limited_by is limited_by


@pytest.mark.parametrize(
    ("drug", "high_risk", "margin"),
    [
        ("baclofen", True, POLICY.high_risk_refill_margin.value),
        ("morphine", False, POLICY.refill_margin.value),
        ("ziconotide", False, POLICY.refill_margin.value),
    ],
)
def test_baclofen_is_high_risk_and_gets_the_larger_margin(
    drug: str, high_risk: bool, margin: Duration
) -> None:
    entry = LIBRARY.get(drug)
    assert entry.high_risk_withdrawal.value is high_risk
    assert POLICY.margin(entry.high_risk_withdrawal.value).value == margin


def test_the_high_risk_margin_is_larger_than_the_standard_one() -> None:
    assert POLICY.high_risk_refill_margin.value > POLICY.refill_margin.value


def test_worst_case_patient_boluses_bring_the_refill_forward() -> None:
    base = continuous("morphine", "10000", 4000)
    with_boluses = continuous(
        "morphine",
        "10000",
        4000,
        patient_bolus=PatientBolus(
            Mass.from_mcg(200), Duration.from_minutes(10), Duration.from_hours(3), 4
        ),
    )
    plain, worst = plan(base), plan(with_boluses)
    # 0.4 mL/day -> 45 days to the alarm; + 4 boluses of 0.02 mL -> 0.48 mL/day -> 37.5 days.
    assert plain.low_alarm_at == T0 + timedelta(days=45)
    assert worst.low_alarm_at <= T0 + timedelta(days=37, hours=12)
    assert worst.refill_due < plain.refill_due


def test_a_slow_ziconotide_infusion_is_limited_by_stability() -> None:
    rx = continuous("ziconotide", "25", Fraction(24, 10))
    result = plan(rx, stability_days=84)
    assert result.limited_by is RefillLimit.STABILITY
    assert result.refill_due == T0 + timedelta(days=84)


def test_a_stopped_pump_is_due_only_at_the_end_of_stability() -> None:
    stopped = Prescription(
        drug="baclofen", concentration=Concentration.from_mcg_per_ml(500), mode=Mode.STOPPED
    )
    result = plan(stopped, stability_days=77)
    assert result.low_alarm_at is None
    assert result.refill_due == T0 + timedelta(days=77)


def test_a_dose_increase_mid_interval_is_followed_through() -> None:
    slow = continuous("morphine", "10000", 5000)  # 0.5 mL/day
    fast = continuous("morphine", "10000", 10000)  # 1 mL/day
    change = T0 + timedelta(days=10)  # 5 mL used by then; 13 mL to the alarm at 1 mL/day
    result = plan(slow, periods=[DeliveryPeriod(T0, slow), DeliveryPeriod(change, fast)])
    assert result.low_alarm_at == change + timedelta(days=13)


def test_a_pump_reading_restarts_the_projection_from_what_the_pump_holds() -> None:
    rx = continuous("morphine", "10000", 10000)
    reading = ReservoirAnchor(T0 + timedelta(days=5), Volume.from_ml(8))
    result = plan(rx, anchor=reading)
    assert result.low_alarm_at == reading.at + timedelta(days=6)


def test_volume_moved_counts_boluses_only_when_asked() -> None:
    rx = continuous(
        "morphine",
        "10000",
        4000,
        patient_bolus=PatientBolus(
            Mass.from_mcg(200), Duration.from_minutes(10), Duration.from_hours(3), 4
        ),
    )
    periods = [DeliveryPeriod(T0, rx)]
    day = T0 + timedelta(days=1)
    programmed = volume_moved(T0, day, periods, PUMP, UTC_ZONE, include_patient_boluses=False)
    worst = volume_moved(T0, day, periods, PUMP, UTC_ZONE, include_patient_boluses=True)
    assert programmed == Volume(Fraction(4, 10))
    assert worst == Volume(Fraction(48, 100))


@settings(max_examples=60, deadline=None)
@given(
    rate=st.integers(min_value=100, max_value=20000),
    fill=st.integers(min_value=3, max_value=20),
    margin=st.integers(min_value=0, max_value=14),
    stability=st.integers(min_value=1, max_value=120),
)
def test_the_refill_is_never_due_after_the_alarm_less_margin_or_the_stability_limit(
    rate: int, fill: int, margin: int, stability: int
) -> None:
    result = plan(continuous("morphine", "10000", rate), fill, margin, stability)
    assert result.refill_due <= T0 + timedelta(days=stability)
    low = result.low_alarm_at
    assert low is not None
    assert result.refill_due <= low - timedelta(days=margin)
    assert result.empty_at >= low
