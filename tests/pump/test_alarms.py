"""The alarm catalogue and how the firmware raises, repeats, acknowledges and clears alarms."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from tests.pump.support import T0, accepted, baclofen, clinician, implant, patient
from thecal.pump.alarms import ALARM_CATALOGUE, AlarmKind, DeliveryResponse, Priority, Tone
from thecal.pump.commands import AcknowledgeAlarm, SetAlarmSettings
from thecal.pump.payloads import TherapyState
from thecal.therapy.quantities import Duration, Volume

REQUIRED = {
    AlarmKind.LOW_RESERVOIR,
    AlarmKind.EMPTY_RESERVOIR,
    AlarmKind.ERI,
    AlarmKind.EOS,
    AlarmKind.LOW_BATTERY_RESET,
    AlarmKind.MOTOR_STALL,
    AlarmKind.MEMORY_ERROR,
    AlarmKind.ALARM_TEST,
}


def test_the_catalogue_has_every_required_alarm_with_priority_tone_and_response():
    assert set(ALARM_CATALOGUE) >= REQUIRED
    for kind, spec in ALARM_CATALOGUE.items():
        assert spec.kind is kind
        assert spec.tones and spec.description and spec.source and spec.clears


@pytest.mark.parametrize(
    ("kind", "priority", "response"),
    [
        (AlarmKind.LOW_BATTERY_RESET, Priority.CRITICAL, DeliveryResponse.MINIMUM_RATE),  # S15, S18
        (AlarmKind.ERI, Priority.NON_CRITICAL, DeliveryResponse.CONTINUE),  # S15
        (AlarmKind.EOS, Priority.CRITICAL, DeliveryResponse.STOP),  # S15, S17
    ],
)
def test_sourced_alarm_priorities_and_responses(kind, priority, response):
    spec = ALARM_CATALOGUE[kind]
    assert (spec.priority, spec.response) == (priority, response)


def test_critical_alarms_use_the_two_tone_and_others_the_single_tone():
    for spec in ALARM_CATALOGUE.values():
        if spec.kind is AlarmKind.ALARM_TEST:
            assert spec.tones == (Tone.TWO_TONE, Tone.SINGLE_TONE)
        elif spec.priority is Priority.CRITICAL:
            assert spec.tones == (Tone.TWO_TONE,)
        else:
            assert spec.tones == (Tone.SINGLE_TONE,)


def _days_to(volume_ml: Fraction, rate_ml_day: Fraction) -> Fraction:
    return volume_ml / rate_ml_day


def test_low_reservoir_alarm_sounds_when_the_estimate_reaches_the_threshold():
    twin = implant(baclofen(400), fill_ml=5)  # 0.2 mL/day; threshold 2 mL at day 15
    twin.advance(T0 + timedelta(days=15) - timedelta(seconds=1))
    assert not twin.view().alarms
    twin.advance(T0 + timedelta(days=15))
    alarms = twin.view().alarms
    assert [a.kind for a in alarms] == [AlarmKind.LOW_RESERVOIR]
    assert alarms[0].raised_at == T0 + timedelta(days=15)
    assert twin.view().therapy.state is TherapyState.RUNNING  # non-critical: continue


def test_empty_reservoir_alarm_drops_to_minimum_rate():
    twin = implant(baclofen(400), fill_ml=5)
    twin.advance(T0 + timedelta(days=20))  # 1 mL (the empty level) left at day 20
    view = twin.view()
    assert AlarmKind.EMPTY_RESERVOIR in {a.kind for a in view.alarms}
    assert view.therapy.state is TherapyState.MINIMUM_RATE
    assert view.therapy.volume_rate == twin.profile.model.minimum_rate.value


def test_a_programmable_threshold_moves_the_low_reservoir_alarm():
    twin = implant(baclofen(400), fill_ml=5)
    accepted(clinician(twin, SetAlarmSettings(Volume.from_ml(3), Duration.from_minutes(10))))
    twin.advance(T0 + timedelta(days=10))
    assert [a.kind for a in twin.view().alarms] == [AlarmKind.LOW_RESERVOIR]


def test_critical_alarms_repeat_at_the_programmable_interval_until_acknowledged():
    twin = implant(baclofen(400), fill_ml=5)
    accepted(clinician(twin, SetAlarmSettings(Volume.from_ml(2), Duration.from_minutes(30))))
    twin.advance(T0 + timedelta(days=20))
    twin.advance(twin.now + timedelta(hours=2))
    empty = next(a for a in twin.view().alarms if a.kind is AlarmKind.EMPTY_RESERVOIR)
    assert empty.tones_sounded == 5  # at 0, 30, 60, 90 and 120 minutes
    assert empty.next_tone_at == empty.raised_at + timedelta(minutes=150)
    accepted(patient(twin, AcknowledgeAlarm("empty_reservoir")))
    twin.advance(twin.now + timedelta(hours=2))
    empty = next(a for a in twin.view().alarms if a.kind is AlarmKind.EMPTY_RESERVOIR)
    assert empty.acknowledged_at is not None
    assert empty.next_tone_at is None
    assert empty.tones_sounded == 5


def test_a_refill_clears_the_reservoir_alarms_and_resumes_the_prescription():
    twin = implant(baclofen(400), fill_ml=5)
    twin.advance(T0 + timedelta(days=21))
    twin.refill_visit(Volume.from_ml(20))
    view = twin.view()
    assert not view.alarms
    assert view.therapy.state is TherapyState.RUNNING
