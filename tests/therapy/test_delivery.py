"""The daily delivery profile: the one place a mode becomes dose rates over a day."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from thecal.therapy.delivery import (
    basal_and_bolus_volume_rates,
    day_profile,
    programmed_daily_dose,
    volume_rates,
    worst_case_daily_dose,
)
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.quantities import DoseRate, Mass, VolumeRate
from thecal.therapy.units import parse_dose_rate, parse_mass, parse_volume_rate

from .builders import PUMP, continuous, flex, minimum, patient, periodic, single, stopped
from .strategies import prescriptions


def test_a_flex_schedule_delivers_each_step_for_its_share_of_the_day() -> None:
    rx = flex("baclofen", "500 mcg/mL", ("00:00", "480 mcg/day"), ("12:00", "240 mcg/day"))
    assert programmed_daily_dose(rx) == parse_mass("360 mcg")
    assert day_profile(rx).rate_at(13 * 3600) == parse_dose_rate("240 mcg/day")


def test_a_stopped_pump_delivers_nothing() -> None:
    assert programmed_daily_dose(stopped("morphine", "10 mg/mL")) == Mass.zero()


def test_minimum_rate_mode_delivers_the_pumps_minimum_volume_at_the_concentration() -> None:
    rx = minimum("morphine", "10 mg/mL")
    assert programmed_daily_dose(rx, PUMP.minimum_rate.value) == parse_mass("0.48 mg")


def test_minimum_rate_needs_the_pump_model() -> None:
    with pytest.raises(ValueError, match="minimum rate"):
        day_profile(minimum("morphine", "10 mg/mL"))


def test_a_single_bolus_counts_as_its_whole_dose_and_has_no_daily_profile() -> None:
    rx = single("morphine", "10 mg/mL", "1 mg", "1 h")
    assert programmed_daily_dose(rx) == parse_mass("1 mg")
    with pytest.raises(ValueError, match="does not repeat daily"):
        day_profile(rx)


def test_periodic_boluses_add_to_their_background_rate() -> None:
    rx = periodic("morphine", "10 mg/mL", "0.5 mg", "30 min", "6 h", background="1 mg/day")
    assert programmed_daily_dose(rx) == parse_mass("3 mg")


def test_a_periodic_bolus_that_crosses_midnight_wraps_into_the_morning() -> None:
    rx = periodic("morphine", "10 mg/mL", "1 mg", "2 h", "24 h", first="23:00")
    profile = day_profile(rx)
    assert profile.rate_at(30 * 60) == parse_dose_rate("12 mg/day")
    assert profile.rate_at(2 * 3600) == DoseRate.zero()
    assert programmed_daily_dose(rx) == parse_mass("1 mg")


def test_worst_case_adds_every_patient_bolus_the_settings_allow() -> None:
    rx = continuous("morphine", "10 mg/mL", "4 mg/day", patient("0.2 mg", "10 min", "3 h", 4))
    assert worst_case_daily_dose(rx) == parse_mass("4.8 mg")


def test_bolus_rates_are_checked_apart_from_basal_rates() -> None:
    rx = periodic("morphine", "10 mg/mL", "1 mg", "1 h", "12 h", background="2.4 mg/day")
    basal, bolus = basal_and_bolus_volume_rates(rx)
    assert basal == (parse_volume_rate("0.24 mL/day"),)
    assert bolus == (parse_volume_rate("2.64 mL/day"),)


def test_a_background_that_never_runs_alone_is_not_a_basal_rate() -> None:
    # 3-hour boluses every 3 hours: the pump always runs background + bolus
    rx = periodic("morphine", "10 mg/mL", "1 mg", "3 h", "3 h", background="2.4 mg/day")
    basal, bolus = basal_and_bolus_volume_rates(rx)
    assert basal == ()
    assert bolus == volume_rates(rx)


def test_a_patient_bolus_rides_on_the_highest_rate_it_can_meet() -> None:
    rx = flex("morphine", "10 mg/mL", ("00:00", "1 mg/day"), ("12:00", "2 mg/day"),
              patient=patient("0.1 mg", "1 h", "2 h", 3))  # fmt: skip
    basal, bolus = basal_and_bolus_volume_rates(rx)
    assert bolus == (parse_volume_rate("0.44 mL/day"),)
    assert max(basal) == parse_volume_rate("0.2 mL/day")


@given(prescriptions(modes=(Mode.SIMPLE_CONTINUOUS, Mode.FLEX, Mode.PERIODIC_BOLUS,
                            Mode.SINGLE_BOLUS, Mode.STOPPED)))  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_basal_and_bolus_rates_together_are_every_rate_the_pump_runs(rx: Prescription) -> None:
    basal, bolus = basal_and_bolus_volume_rates(rx)
    assert set(basal) | set(bolus) == set(volume_rates(rx))
    assert all(rate > VolumeRate.zero() for rate in (*basal, *bolus))


@given(prescriptions(modes=(Mode.SIMPLE_CONTINUOUS, Mode.FLEX, Mode.PERIODIC_BOLUS)))
@settings(max_examples=100, deadline=None)
def test_the_profile_covers_the_day_and_integrates_to_the_daily_dose(rx: Prescription) -> None:
    profile = day_profile(rx)
    assert profile.segments[0].start == 0
    assert profile.segments[-1].end == 86400
    assert sum((s.dose() for s in profile.segments), Mass.zero()) == programmed_daily_dose(rx)
