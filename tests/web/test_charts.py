"""The chart geometry (`thecal.web.charts`) without a browser: scaling, empty, one point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from thecal.web.charts import ChartPoint, nice_ceiling, time_chart

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_first_and_last_points_span_the_plot_width_and_values_scale_from_zero() -> None:
    chart = time_chart(
        "c", "T", "D",
        [ChartPoint(START, 0), ChartPoint(START + timedelta(days=10), 10)],
        y_label="Pain", unit="/10", y_max=10,
    )  # fmt: skip
    first, last = chart.points
    assert (first.x, first.y) == (chart.left, chart.bottom)
    assert (last.x, last.y) == (chart.right, chart.top)


def test_a_point_in_the_middle_of_time_and_value_lands_in_the_middle_of_the_plot() -> None:
    chart = time_chart(
        "c", "T", "D",
        [ChartPoint(START, 0), ChartPoint(START + timedelta(days=5), 5),
         ChartPoint(START + timedelta(days=10), 10)],
        y_label="Pain", unit="/10", y_max=10,
    )  # fmt: skip
    middle = chart.points[1]
    assert middle.x == (chart.left + chart.right) / 2
    assert middle.y == (chart.top + chart.bottom) / 2


def test_points_are_drawn_in_time_order_whatever_order_they_come_in() -> None:
    later = ChartPoint(START + timedelta(days=1), 2)
    chart = time_chart("c", "T", "D", [later, ChartPoint(START, 1)], y_label="v", unit="u")
    assert [p.value for p in chart.points] == ["1 u", "2 u"]
    assert chart.points[0].x < chart.points[1].x


def test_the_value_axis_ends_at_a_round_number_covering_the_largest_value() -> None:
    chart = time_chart("c", "T", "D", [ChartPoint(START, 389.58)], y_label="v", unit="u")
    assert chart.y_ticks[-1].label == "500"
    assert chart.y_ticks[0].label == "0"


def test_the_value_axis_also_covers_a_threshold_above_every_value() -> None:
    chart = time_chart(
        "c", "T", "D", [ChartPoint(START, 1)], y_label="v", unit="mL", threshold=4,
        threshold_label="alarm",
    )  # fmt: skip
    assert chart.threshold is not None
    assert chart.threshold.label == "alarm"
    assert chart.top <= chart.threshold.y < chart.bottom


def test_no_data_gives_an_empty_chart_without_dividing_by_zero() -> None:
    chart = time_chart("c", "T", "D", [], y_label="v", unit="u")
    assert chart.empty
    assert chart.line == ""
    assert chart.x_ticks == ()


def test_one_point_sits_in_the_middle_with_one_date_tick() -> None:
    chart = time_chart("c", "T", "D", [ChartPoint(START, 3)], y_label="v", unit="u", y_max=10)
    (point,) = chart.points
    assert point.x == (chart.left + chart.right) / 2
    assert [tick.label for tick in chart.x_ticks] == ["2026-01-01"]


def test_all_zero_values_still_have_a_positive_axis() -> None:
    chart = time_chart(
        "c", "T", "D", [ChartPoint(START, 0), ChartPoint(START + timedelta(hours=1), 0)],
        y_label="v", unit="u",
    )  # fmt: skip
    assert chart.y_ticks[-1].label == "1"
    assert all(p.y == chart.bottom for p in chart.points)


def test_a_step_chart_holds_each_value_until_the_next_point() -> None:
    chart = time_chart(
        "c", "T", "D",
        [ChartPoint(START, 100), ChartPoint(START + timedelta(days=1), 200)],
        y_label="dose", unit="mcg/day", step=True,
    )  # fmt: skip
    corners = chart.line.split(" ")
    assert len(corners) == 3
    first, held, second = (tuple(map(float, c.split(","))) for c in corners)
    assert held == (second[0], first[1])


def test_dates_in_the_table_are_in_the_clinic_time_zone() -> None:
    late = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    chart = time_chart(
        "c", "T", "D", [ChartPoint(late, 1)], y_label="v", unit="u",
        tz=timezone(timedelta(hours=1)),
    )  # fmt: skip
    assert chart.points[0].when == "2026-01-02 00:30"


def test_nice_ceiling_rounds_up_to_1_2_2_5_or_5_times_a_power_of_ten() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 1.1, 2.2, 3, 7, 40, 41)] == [
        1, 0.5, 1, 2, 2.5, 5, 10, 50, 50,
    ]  # fmt: skip
