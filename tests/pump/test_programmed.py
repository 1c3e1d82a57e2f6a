"""The firmware's programmed delivery: rate at a tick, volume between two ticks, time to
move a volume. One value holds the arithmetic both integration modes and the views use."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.pump.support import BACLOFEN, baclofen, baclofen_flex
from thecal.pump.firmware.programmed import (
    NEVER,
    ProgrammedDelivery,
    programmed_delivery,
)
from thecal.pump.payloads import BolusKind, TherapyState
from thecal.pump.records import ActiveBolus
from thecal.pump.timebase import DAY_US, HOUR_US
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.prescription import Bolus, Mode, Prescription
from thecal.therapy.projection import VolumePattern
from thecal.therapy.quantities import Duration, Mass, Volume, VolumeRate

MIN_RATE = VolumeRate(Fraction(1, 10))  # mL/day, a pump's minimum-rate mode


def per_us(ml_per_day: Fraction | int) -> Fraction:
    return Fraction(ml_per_day) / DAY_US


def bolus(start: int, end: int, ml: Fraction, replaces: bool) -> ActiveBolus:
    kind = BolusKind.PRIMING if replaces else BolusKind.CLINICIAN
    return ActiveBolus(kind, Volume(ml), Mass(ml), start, end, replaces, "r1")


# Two pieces a day: 1 mL/day from midnight, 3 mL/day from 12:00 (4 mL/day × ½ scale).
HALVES = VolumePattern.from_pieces(DAY_US, [(0, DAY_US // 2, 2), (DAY_US // 2, DAY_US, 6)], 2)
SINGLE = VolumePattern.from_pieces(HOUR_US, [(0, HOUR_US, 24)], 1, repeats=False)  # 1 mL in 1 h
HALF_DAY = DAY_US // 2


# -- rate at a tick: the boundaries --------------------------------------------------------
@pytest.mark.parametrize(
    ("programme", "tick", "rate", "until"),
    [
        (ProgrammedDelivery(), 0, Fraction(0), NEVER),
        (ProgrammedDelivery(constant=per_us(2)), 123, per_us(2), NEVER),
        (ProgrammedDelivery(HALVES), 0, per_us(1), HALF_DAY),
        (ProgrammedDelivery(HALVES), HALF_DAY - 1, per_us(1), HALF_DAY),
        (ProgrammedDelivery(HALVES), HALF_DAY, per_us(3), DAY_US),
        (ProgrammedDelivery(HALVES), DAY_US, per_us(1), DAY_US + HALF_DAY),
        # the origin is the local midnight: ticks run on the pump's clock offset
        (ProgrammedDelivery(HALVES, origin=-HALF_DAY), 0, per_us(3), HALF_DAY),
        # a repeating day repeats before its origin too (a clock set back far)
        (ProgrammedDelivery(HALVES, origin=DAY_US), DAY_US - 1, per_us(3), DAY_US),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), 0, Fraction(0), HOUR_US),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), HOUR_US, per_us(24), 2 * HOUR_US),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), 2 * HOUR_US, Fraction(0), NEVER),
    ],
)
def test_the_rate_at_a_tick_and_when_it_next_changes(
    programme: ProgrammedDelivery, tick: int, rate: Fraction, until: int
) -> None:
    assert programme.rate_at(tick) == (rate, until)


@pytest.mark.parametrize(
    ("replaces", "tick", "rate", "until"),
    [
        (False, HOUR_US - 1, per_us(1), HOUR_US),  # the window starts a piece
        (False, HOUR_US, per_us(1) + Fraction(1, HOUR_US), 2 * HOUR_US),
        (False, 2 * HOUR_US, per_us(1), HALF_DAY),  # the window ends a piece
        (True, HOUR_US, Fraction(1, HOUR_US), 2 * HOUR_US),
        (True, 2 * HOUR_US - 1, Fraction(1, HOUR_US), 2 * HOUR_US),
        (True, 2 * HOUR_US, per_us(1), HALF_DAY),
    ],
)
def test_a_bolus_adds_to_the_schedule_or_replaces_it_over_its_window_only(
    replaces: bool, tick: int, rate: Fraction, until: int
) -> None:
    programme = ProgrammedDelivery(HALVES, bolus=bolus(HOUR_US, 2 * HOUR_US, Fraction(1), replaces))
    assert programme.rate_at(tick) == (rate, until)


# -- volume between two ticks ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("programme", "start", "end", "volume"),
    [
        (ProgrammedDelivery(), 0, DAY_US, Fraction(0)),
        (ProgrammedDelivery(constant=per_us(2)), 5, 5 + DAY_US, Fraction(2)),
        (ProgrammedDelivery(HALVES), 0, DAY_US, Fraction(2)),
        (ProgrammedDelivery(HALVES), HALF_DAY, DAY_US, Fraction(3, 2)),
        (ProgrammedDelivery(HALVES), 0, 10 * DAY_US, Fraction(20)),
        (ProgrammedDelivery(HALVES, origin=3 * DAY_US), 0, DAY_US, Fraction(2)),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), 0, DAY_US, Fraction(1)),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), 0, HOUR_US + HOUR_US // 4, Fraction(1, 4)),
        (ProgrammedDelivery(HALVES), 7, 7, Fraction(0)),
        # a replacing bolus of 1 mL over the first hour: 1 mL + the day's other 23 h
        (
            ProgrammedDelivery(HALVES, bolus=bolus(0, HOUR_US, Fraction(1), True)),
            0,
            DAY_US,
            Fraction(1) + Fraction(2) - Fraction(1, 24),
        ),
        (
            ProgrammedDelivery(HALVES, bolus=bolus(0, HOUR_US, Fraction(1), False)),
            0,
            DAY_US,
            Fraction(3),
        ),
    ],
)
def test_the_volume_programmed_between_two_ticks(
    programme: ProgrammedDelivery, start: int, end: int, volume: Fraction
) -> None:
    assert programme.volume(start, end) == volume


def test_a_volume_over_an_interval_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        ProgrammedDelivery(HALVES).volume(10, 9)


# -- time to move a volume -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("programme", "start", "volume", "tick"),
    [
        (ProgrammedDelivery(), 0, Fraction(1), None),
        (ProgrammedDelivery(HALVES), 3, Fraction(0), Fraction(3)),
        (ProgrammedDelivery(constant=per_us(2)), 0, Fraction(1), Fraction(HALF_DAY)),
        (ProgrammedDelivery(HALVES), 0, Fraction(1, 2), Fraction(HALF_DAY)),
        (ProgrammedDelivery(HALVES), 0, Fraction(2), Fraction(DAY_US)),
        (ProgrammedDelivery(HALVES), 0, Fraction(4), Fraction(2 * DAY_US)),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), 0, Fraction(1), Fraction(2 * HOUR_US)),
        (ProgrammedDelivery(SINGLE, origin=HOUR_US), 0, Fraction(1) + Fraction(1, 10**9), None),
        # a 1-mL replacing bolus over the first hour moves ½ mL by its half-hour
        (
            ProgrammedDelivery(HALVES, bolus=bolus(0, HOUR_US, Fraction(1), True)),
            0,
            Fraction(1, 2),
            Fraction(HOUR_US, 2),
        ),
        # after the replacing bolus the schedule continues where its day stands
        (
            ProgrammedDelivery(HALVES, bolus=bolus(0, HOUR_US, Fraction(1), True)),
            0,
            Fraction(1) + Fraction(1, 24),
            Fraction(2 * HOUR_US),
        ),
    ],
)
def test_the_tick_by_which_a_volume_has_moved(
    programme: ProgrammedDelivery, start: int, volume: Fraction, tick: Fraction | None
) -> None:
    assert programme.time_to_move(start, volume) == tick


# -- built from the therapy state ------------------------------------------------------------
def test_a_running_prescription_programmes_its_daily_dose_in_a_day_of_the_local_clock() -> None:
    rx = baclofen_flex()
    programme = programmed_delivery(TherapyState.RUNNING, rx, 0, 5 * HOUR_US, MIN_RATE, None)
    daily_ml = (programmed_daily_dose(rx) / rx.concentration).amount
    assert programme.volume(17, 17 + DAY_US) == daily_ml
    # the flex step at 06:00 local is 01:00 on ticks five hours behind the local clock
    assert programme.rate_at(HOUR_US - 1)[1] == HOUR_US


@pytest.mark.parametrize(
    ("state", "rate"),
    [
        (TherapyState.MINIMUM_RATE, MIN_RATE.amount / DAY_US),
        (TherapyState.CONSTANT_FLOW, MIN_RATE.amount / DAY_US),
        (TherapyState.STOPPED, Fraction(0)),
        (TherapyState.END_OF_SERVICE, Fraction(0)),
    ],
)
def test_states_other_than_running_programme_the_minimum_rate_or_nothing(
    state: TherapyState, rate: Fraction
) -> None:
    programme = programmed_delivery(state, baclofen(), 0, 0, MIN_RATE, None)
    assert programme.rate_at(12345) == (rate, NEVER)


def test_a_single_bolus_prescription_runs_once_from_its_start() -> None:
    rx = Prescription(
        "baclofen",
        BACLOFEN,
        Mode.SINGLE_BOLUS,
        bolus=Bolus(Mass.from_mcg(100), Duration.from_minutes(30)),
    )
    assert rx.bolus is not None
    started = 7 * HOUR_US
    programme = programmed_delivery(TherapyState.RUNNING, rx, started, 3 * HOUR_US, MIN_RATE, None)
    assert programme.volume(0, 10 * DAY_US) == (rx.bolus.dose / rx.concentration).amount
    assert programme.rate_at(started + HOUR_US // 2) == (Fraction(0), NEVER)


# -- invariants ------------------------------------------------------------------------------
ticks = st.integers(min_value=-2 * DAY_US, max_value=5 * DAY_US)


@st.composite
def patterns(draw: st.DrawFn) -> VolumePattern:
    cuts = sorted(draw(st.sets(st.integers(1, DAY_US - 1), max_size=5)))
    bounds = [0, *cuts, DAY_US]
    rates = draw(st.lists(st.integers(0, 50), min_size=len(bounds) - 1, max_size=len(bounds) - 1))
    pieces = [(a, b, rate) for (a, b), rate in zip(pairwise(bounds), rates, strict=True)]
    repeats = draw(st.booleans())
    return VolumePattern.from_pieces(DAY_US, pieces, draw(st.integers(1, 7)), repeats)


@st.composite
def programmes(draw: st.DrawFn) -> ProgrammedDelivery:
    active = None
    if draw(st.booleans()):
        start = draw(ticks)
        length = draw(st.integers(1, DAY_US))
        ml = Fraction(draw(st.integers(1, 100)), draw(st.integers(1, 20)))
        active = bolus(start, start + length, ml, draw(st.booleans()))
    if draw(st.booleans()):
        constant = Fraction(draw(st.integers(0, 30)), DAY_US * draw(st.integers(1, 9)))
        return ProgrammedDelivery(constant=constant, bolus=active)
    return ProgrammedDelivery(draw(patterns()), draw(ticks), bolus=active)


@given(programmes(), st.lists(ticks, min_size=3, max_size=3))
def test_volumes_over_adjacent_intervals_add_up(
    programme: ProgrammedDelivery, three: list[int]
) -> None:
    a, b, c = sorted(three)
    assert programme.volume(a, b) + programme.volume(b, c) == programme.volume(a, c)


@given(programmes(), st.lists(ticks, min_size=2, max_size=2))
def test_the_volume_is_the_rate_summed_over_its_pieces(
    programme: ProgrammedDelivery, two: list[int]
) -> None:
    a, b = sorted(two)
    total, tick = Fraction(0), a
    while tick < b:
        rate, until = programme.rate_at(tick)
        assert until > tick
        step_end = min(b, until)
        total += rate * (step_end - tick)
        tick = step_end
    assert total == programme.volume(a, b)


@given(programmes(), st.lists(ticks, min_size=2, max_size=2))
def test_the_time_to_move_the_volume_from_a_to_b_lands_at_b_when_b_ends_a_delivery(
    programme: ProgrammedDelivery, two: list[int]
) -> None:
    a, b = sorted(two)
    volume = programme.volume(a, b)
    landing = programme.time_to_move(a, volume)
    assert landing is not None and a <= landing <= b
    if b > a and programme.rate_at(b - 1)[0] > 0:
        assert landing == b


@given(programmes(), ticks, st.fractions(min_value=0, max_value=10))
def test_the_time_to_move_a_volume_is_the_earliest_tick_that_moves_it(
    programme: ProgrammedDelivery, start: int, volume: Fraction
) -> None:
    landing = programme.time_to_move(start, volume)
    if landing is None:
        assert programme.volume(start, start + 30 * DAY_US) < volume
        return
    first_tick_at_or_after = -((-landing.numerator) // landing.denominator)
    assert programme.volume(start, first_tick_at_or_after) >= volume
    if landing > start:
        assert programme.volume(start, first_tick_at_or_after - 1) < volume
