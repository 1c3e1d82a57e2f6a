"""Elapsed time that is right with and without time zones, and never mixes the two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from thecal.therapy.local_time import elapsed, is_aware, shift
from thecal.therapy.quantities import Duration

NAIVE = datetime(2026, 3, 28, 12, 0)
PLUS_ONE = timezone(timedelta(hours=1))
PLUS_TWO = timezone(timedelta(hours=2))


def test_naive_pump_clock_times_count_every_day_as_24_hours() -> None:
    assert elapsed(NAIVE, NAIVE + timedelta(days=3)) == Duration.from_days(3)
    assert shift(NAIVE, timedelta(hours=30)) == datetime(2026, 3, 29, 18, 0)


def test_aware_times_count_real_time_across_an_offset_change() -> None:
    before = datetime(2026, 3, 28, 12, 0, tzinfo=PLUS_ONE)
    after = datetime(2026, 3, 29, 12, 0, tzinfo=PLUS_TWO)
    assert elapsed(before, after) == Duration.from_hours(23)


def test_shifting_an_aware_time_keeps_its_zone_and_adds_real_time() -> None:
    moved = shift(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), timedelta(hours=1))
    assert moved == datetime(2026, 3, 28, 13, 0, tzinfo=UTC) and moved.tzinfo is UTC


def test_elapsed_is_negative_when_the_order_is_reversed() -> None:
    assert elapsed(NAIVE, NAIVE - timedelta(minutes=1)).is_negative()


def test_mixing_aware_and_naive_is_refused() -> None:
    with pytest.raises(ValueError, match="give both with an offset or both without"):
        elapsed(NAIVE, NAIVE.replace(tzinfo=UTC))


def test_awareness_needs_a_real_offset() -> None:
    assert is_aware(NAIVE.replace(tzinfo=UTC)) and not is_aware(NAIVE)
