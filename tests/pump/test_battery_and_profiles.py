"""Device profiles (sourced numbers on top of the therapy core's pump models) and the
battery projection the clinic uses, checked against the twin's own battery."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from tests.pump.support import T0, baclofen, implant
from thecal.pump import device_profile, device_profiles, project_battery
from thecal.pump.alarms import AlarmKind
from thecal.pump.payloads import BatteryState, TherapyState
from thecal.therapy.pump_models import pump_models
from thecal.therapy.quantities import Volume, VolumeRate

DAYS_PER_YEAR = Fraction(36525, 100)


def test_every_pump_model_has_a_device_profile():
    assert {p.id for p in device_profiles()} == {m.id for m in pump_models()}
    for profile in device_profiles():
        assert profile.model.id == profile.id


def test_every_profile_number_is_sourced_or_labelled_a_profile_parameter():
    for profile in device_profiles():
        values = [
            getattr(profile, name)
            for name in (
                "stroke_volume", "empty_level", "self_check_interval", "checkpoint_interval",
                "critical_repeat", "non_critical_repeat", "log_capacity", "request_memory",
                "mri_response", "mri_alarm_latch", "flow_activated_valve",
            )
        ]  # fmt: skip
        if profile.battery is not None:
            b = profile.battery
            values += [b.longevity_max, b.longevity_reference, b.reference_flow, b.eri_level,
                       b.eos_after_eri, b.reset_level]  # fmt: skip
        for sourced in values:
            assert sourced.site_default or sourced.source in profile.sources
            if sourced.site_default:
                assert sourced.provenance == "profile parameter"


def test_the_issue_numbers_are_in_the_profiles():
    peristaltic = device_profile("peristaltic-20")
    assert peristaltic.model.tubing_volume.value == Volume.from_ml("0.140")
    assert peristaltic.model.accuracy_percent.value == Fraction(145, 10)
    assert peristaltic.battery is not None
    assert peristaltic.battery.eos_after_eri.value.days == 90
    assert peristaltic.mri_recovery_min.value.hours == 2
    assert peristaltic.mri_recovery_max.value.hours == 24
    valve = device_profile("valve-accumulator-40")
    assert valve.flow_activated_valve.value and valve.fav_limit.value == Volume.from_ul(10)
    assert device_profile("constant-flow-30").battery is None
    assert {device_profile(i).capacity.ml for i in ("peristaltic-20", "peristaltic-40")} == {20, 40}


def test_battery_life_is_seven_years_at_zero_flow_and_five_at_the_reference_flow():
    idle = project_battery("peristaltic-20", T0, VolumeRate(Fraction(0)))
    typical = project_battery("peristaltic-20", T0, VolumeRate(Fraction(1)))
    assert idle.days_to_eos == 7 * DAYS_PER_YEAR  # S17: maximum 7 years
    assert typical.days_to_eos == 5 * DAYS_PER_YEAR  # S17: typically 5-7 years
    assert idle.eos_at - idle.eri_at == timedelta(days=90)


def test_more_volume_means_a_shorter_battery_life():
    low = project_battery("peristaltic-20", T0, VolumeRate(Fraction(1, 4)))
    high = project_battery("peristaltic-20", T0, VolumeRate(Fraction(2)))
    assert high.eri_at < low.eri_at


def test_a_pump_without_a_battery_projects_nothing():
    projection = project_battery("constant-flow-30", T0, VolumeRate(Fraction(1)))
    assert projection.eri_at is None and projection.eos_at is None


def test_unknown_models_are_refused_with_the_accepted_ids():
    with pytest.raises(ValueError, match="accepted: peristaltic-20"):
        project_battery("synchromed", T0, VolumeRate(Fraction(1)))


def test_the_twin_reaches_eri_within_one_self_check_of_the_projection_then_eos_90_days_on():
    charge = Fraction(1, 10)
    twin = implant(baclofen(400), battery_charge=charge)  # 0.2 mL/day
    projection = project_battery("peristaltic-20", T0, VolumeRate(Fraction(1, 5)), charge)
    assert projection.eri_at is not None and projection.eos_at is not None
    twin.advance(projection.eri_at - timedelta(minutes=1))
    assert twin.view().battery.state is BatteryState.NORMAL
    twin.advance(projection.eri_at + timedelta(hours=1))
    battery = twin.view().battery
    assert battery.state is BatteryState.ERI
    assert projection.eri_at <= battery.eri_at <= projection.eri_at + timedelta(hours=1)
    twin.advance(battery.eos_at + timedelta(minutes=1))
    view = twin.view()
    assert view.therapy.state is TherapyState.END_OF_SERVICE  # automatic stop [S17]
    assert AlarmKind.EOS in {a.kind for a in view.alarms}
    stopped = twin.truth().pumped_volume
    twin.advance(twin.now + timedelta(days=10))
    assert twin.truth().pumped_volume == stopped
