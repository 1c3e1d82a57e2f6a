"""Time: event-to-event advance, the local wall clock, and the daylight-saving policy
(docs/pump.md, "Time and clocks")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from tests.pump.support import (
    BACLOFEN,
    accepted,
    baclofen,
    clinician,
    implant,
    morphine_pca,
    patient,
    rejected,
)
from thecal.pump.commands import PatientBolusRequest, Rejection, SetClock
from thecal.pump.payloads import ClockChange
from thecal.therapy.prescription import FlexStep, Mode, Prescription, TimeOfDay
from thecal.therapy.quantities import DoseRate, Volume

MIDNIGHT = datetime(2025, 3, 29, 0, 0)
STROKE = Fraction(1, 2000)


def three_steps() -> Prescription:
    """1200 mcg/day, but 2400 mcg/day from 02:00 to 03:00 (0.6 then 1.2 mL/day)."""
    steps = (
        FlexStep(TimeOfDay.parse("00:00"), DoseRate.from_mcg_per_day(1200)),
        FlexStep(TimeOfDay.parse("02:00"), DoseRate.from_mcg_per_day(2400)),
        FlexStep(TimeOfDay.parse("03:00"), DoseRate.from_mcg_per_day(1200)),
    )
    return Prescription("baclofen", BACLOFEN, Mode.FLEX, steps=steps)


class CountingHardware:
    """Wraps the hardware interface and counts motor commands."""

    def __init__(self, inner):
        self.inner = inner
        self.drives = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def drive(self, strokes, at):
        self.drives += 1
        return self.inner.drive(strokes, at)


def test_advance_jumps_from_event_to_event_not_stroke_by_stroke():
    twin = implant(baclofen(400), fill_ml=20)
    counter = CountingHardware(twin.firmware.hw)
    twin.firmware.hw = counter
    twin.advance(twin.now + timedelta(days=60))
    strokes = twin.truth().strokes
    assert strokes == 24_000  # 0.2 mL/day for 60 days in 0.5 µL strokes
    assert counter.drives <= 60 * 24 + 10  # one motor command per self-check interval at most


def test_advancing_backwards_is_refused():
    twin = implant(baclofen())
    with pytest.raises(ValueError, match="back in time"):
        twin.advance(twin.now - timedelta(seconds=1))


def test_the_schedule_follows_the_local_clock_after_set_clock():
    twin = implant(three_steps(), at=MIDNIGHT)
    twin.advance(MIDNIGHT + timedelta(minutes=30))
    accepted(clinician(twin, SetClock(twin.local_now + timedelta(hours=1, minutes=30))))  # 02:00
    assert twin.view().therapy.volume_rate.ml_per_day == Fraction(6, 5)


def test_spring_forward_skips_the_jumped_over_wall_clock_time_and_says_how_much():
    twin = implant(three_steps(), at=MIDNIGHT)
    reference = implant(three_steps(), at=MIDNIGHT)
    twin.advance(MIDNIGHT + timedelta(hours=2))
    change = accepted(clinician(twin, SetClock(MIDNIGHT + timedelta(hours=3)))).payload
    assert isinstance(change, ClockChange)
    assert change.jump.hours == 1
    assert change.skipped_volume == Volume.from_ml("0.05")  # the 02:00-03:00 hour at 1.2 mL/day
    assert change.repeated_volume == Volume.zero()
    for pump in (twin, reference):
        pump.advance(MIDNIGHT + timedelta(days=1))
    # In the same 24 elapsed hours the jumped pump ran the wall-clock day without its
    # 02:00-03:00 hour (1.2 mL/day) and then the next day's first hour (0.6 mL/day).
    missing = reference.firmware.ram.therapy.programmed - twin.firmware.ram.therapy.programmed
    assert missing == (Fraction(12, 10) - Fraction(6, 10)) / 24


def test_fall_back_repeats_the_wall_clock_hour_and_says_how_much():
    twin = implant(three_steps(), at=MIDNIGHT)
    twin.advance(MIDNIGHT + timedelta(hours=3))
    change = accepted(clinician(twin, SetClock(MIDNIGHT + timedelta(hours=2)))).payload
    assert change.jump.hours == -1
    assert change.repeated_volume == Volume.from_ml("0.05")
    assert twin.view().therapy.volume_rate.ml_per_day == Fraction(6, 5)  # 02:00 again
    start = twin.firmware.ram.therapy.programmed
    twin.advance(twin.now + timedelta(hours=1))
    assert twin.firmware.ram.therapy.programmed - start == Fraction(1, 20)


def test_the_daily_maximum_counts_elapsed_time_not_the_wall_clock():
    twin = implant(morphine_pca(lockout_h=3, max_per_24h=4))
    start = twin.now + timedelta(hours=3)
    for hours in (0, 3, 6, 9):
        twin.advance(start + timedelta(hours=hours))
        accepted(patient(twin, PatientBolusRequest()))
    twin.advance(start + timedelta(hours=12))
    # Moving the wall clock a day ahead does not start a new 24 hours.
    accepted(clinician(twin, SetClock(twin.local_now + timedelta(hours=23))))
    refusal = rejected(patient(twin, PatientBolusRequest()))
    assert refusal.reason is Rejection.DAILY_CAP
    assert refusal.retry_after == twin.local_now + timedelta(hours=12)


def test_set_clock_with_a_time_zone_is_refused():

    twin = implant(baclofen())
    response = clinician(twin, SetClock(datetime(2025, 1, 1, tzinfo=UTC)))
    assert rejected(response).reason is Rejection.INVALID_ARGUMENT
