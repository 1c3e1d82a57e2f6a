"""The 24-hour dose-rate chart's geometry, without a browser."""

from __future__ import annotations

import re
from fractions import Fraction

from thecal.therapy.delivery import DayProfile, day_profile
from thecal.therapy.display import DoseUnit
from thecal.therapy.prescription import FlexStep, Mode, Prescription, TimeOfDay
from thecal.therapy.quantities import Concentration, DoseRate
from thecal.web.schedule_chart import ScheduleChart, schedule_chart


def flex(*steps: tuple[str, int]) -> DayProfile:
    rx = Prescription(
        "baclofen",
        Concentration(Fraction(500)),
        Mode.FLEX,
        steps=tuple(FlexStep(TimeOfDay.parse(t), DoseRate(Fraction(r))) for t, r in steps),
    )
    return day_profile(rx)


def continuous(mcg_per_day: Fraction | int) -> DayProfile:
    rx = Prescription(
        "morphine",
        Concentration(Fraction(10_000)),
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate(Fraction(mcg_per_day)),
    )
    return day_profile(rx)


def points(chart: ScheduleChart, name: str) -> list[tuple[float, float]]:
    """The corners of a step line, from its M/V/H path commands."""
    line = next(line for line in chart.lines if line.name == name)
    x = y = 0.0
    corners: list[tuple[float, float]] = []
    for command, a, b in re.findall(r"([MVH]) ([\d.]+)(?: ([\d.]+))?", line.path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "V":
            y = float(a)
        else:
            x = float(a)
        corners.append((x, y))
    return corners


def test_a_step_starts_at_its_clock_time_across_the_day() -> None:
    chart = schedule_chart(flex(("00:00", 400), ("06:00", 500), ("18:00", 300)), None, DoseUnit.MCG)
    width = chart.right - chart.left
    xs = sorted({x for x, _ in points(chart, "pending")})
    assert xs == [chart.left, chart.left + width / 4, chart.left + width * 3 / 4, chart.right]


def test_a_higher_rate_is_drawn_higher_and_zero_sits_on_the_axis() -> None:
    chart = schedule_chart(flex(("00:00", 0), ("12:00", 600)), None, DoseUnit.MCG)
    corners = points(chart, "pending")
    first_half = [y for x, y in corners if x < (chart.left + chart.right) / 2]
    assert first_half and all(y == chart.bottom for y in first_half)
    assert min(y for _, y in corners) == chart.top  # 600 is the top of a 0-600 axis


def test_the_rate_axis_reads_in_round_steps_up_to_at_least_the_peak() -> None:
    chart = schedule_chart(flex(("00:00", 450), ("06:00", 500)), None, DoseUnit.MCG)
    assert [tick.label for tick in chart.y_ticks] == ["0", "200", "400", "600"]
    assert chart.y_ticks[0].position == chart.bottom
    assert chart.y_ticks[-1].position == chart.top


def test_the_axis_uses_the_drugs_display_unit() -> None:
    chart = schedule_chart(continuous(4000), None, DoseUnit.MG)
    assert chart.unit == "mg/day"
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    assert "00:00–24:00 4 mg/day" in chart.description


def test_the_clock_axis_is_marked_every_three_hours_from_midnight_to_midnight() -> None:
    chart = schedule_chart(continuous(500), None, DoseUnit.MCG)
    assert [tick.label for tick in chart.x_ticks][::4] == ["00:00", "12:00", "24:00"]
    assert len(chart.x_ticks) == 9


def test_the_current_prescription_is_dashed_beside_the_solid_pending_one() -> None:
    chart = schedule_chart(continuous(600), continuous(500), DoseUnit.MCG)
    assert [(line.name, line.dashed) for line in chart.lines] == [
        ("pending", False),
        ("current", True),
    ]
    assert points(chart, "pending")[1][1] < points(chart, "current")[1][1]


def test_the_description_names_every_step_of_both_lines_in_words() -> None:
    chart = schedule_chart(
        flex(("00:00", 450), ("06:00", 700)), flex(("00:00", 450), ("06:00", 500)), DoseUnit.MCG
    )
    assert chart.description == (
        "Dose rate over 24 hours in mcg/day. "
        "Pending: 00:00–06:00 450 mcg/day, 06:00–24:00 700 mcg/day; "
        "Current (dashed): 00:00–06:00 450 mcg/day, 06:00–24:00 500 mcg/day"
    )


def test_a_rate_without_an_exact_decimal_is_described_truncated_never_rounded_up() -> None:
    chart = schedule_chart(continuous(Fraction(2, 3)), None, DoseUnit.MCG)
    assert "0.666666… mcg/day" in chart.description


def test_a_stopped_pump_charts_a_flat_zero_line_on_a_valid_axis() -> None:
    chart = schedule_chart(flex(("00:00", 0)), None, DoseUnit.MCG)
    assert {y for _, y in points(chart, "pending")} == {chart.bottom}
    assert len(chart.y_ticks) >= 2


def test_with_no_daily_schedule_there_is_no_line_and_the_text_says_so() -> None:
    chart = schedule_chart(None, None, DoseUnit.MCG)
    assert chart.lines == ()
    assert "No daily schedule" in chart.description
