"""Small server-drawn charts: values in, a frozen description of an SVG out.

The functions here only place values on a canvas (scaling, ticks, the polyline);
`templates/charts.html` draws the result as an accessible SVG with a data table. They
hold no clinical rule: what is plotted and which threshold matters come from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

__all__ = ["Chart", "ChartPoint", "PlotPoint", "Threshold", "Tick", "nice_ceiling", "time_chart"]

WIDTH = 640
HEIGHT = 260
LEFT = 56
RIGHT = 16
TOP = 16
BOTTOM = 40


@dataclass(frozen=True)
class ChartPoint:
    """One value at one moment."""

    at: datetime
    value: float


@dataclass(frozen=True)
class Tick:
    """A gridline at `position` (canvas units along its axis) and its label."""

    position: float
    label: str


@dataclass(frozen=True)
class PlotPoint:
    """A point on the canvas and what it stands for (for the marker and the data table)."""

    x: float
    y: float
    when: str
    value: str


@dataclass(frozen=True)
class Threshold:
    """A horizontal reference line (e.g. the low-reservoir alarm) at canvas height `y`."""

    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Everything `charts.html` needs to draw one chart; canvas units, origin top left."""

    chart_id: str
    title: str
    description: str
    x_label: str
    y_label: str
    unit: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    points: tuple[PlotPoint, ...]
    line: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    threshold: Threshold | None

    @property
    def empty(self) -> bool:
        return not self.points


def _number(value: float) -> str:
    """A value as short text: whole numbers without a point, else up to 2 decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^n that is at least `value` (1 for 0 or less)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz) if tz is not None and moment.tzinfo is not None else moment


def time_chart(
    chart_id: str,
    title: str,
    description: str,
    points: Sequence[ChartPoint],
    *,
    y_label: str,
    unit: str,
    x_label: str = "Date",
    y_max: float | None = None,
    threshold: float | None = None,
    threshold_label: str = "",
    step: bool = False,
    tz: tzinfo | None = None,
) -> Chart:
    """Place `points` (any order) on a time axis against a value axis from 0.

    The value axis runs from 0 to `y_max`, or to a round number at or above the largest
    value (and the threshold). The time axis spans the first to the last point; a single
    point sits in the middle. With `step`, each value holds until the next point (a dose
    in force until it is changed). Moments are labelled in `tz`.
    """
    ordered = sorted(points, key=lambda p: p.at)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    highest = max([p.value for p in ordered] + [threshold or 0.0], default=0.0)
    top_value = y_max if y_max is not None and y_max > 0 else nice_ceiling(highest)

    def y_of(value: float) -> float:
        return round(TOP + plot_h * (1 - min(max(value, 0.0), top_value) / top_value), 2)

    first = ordered[0].at if ordered else None
    span = (ordered[-1].at - ordered[0].at).total_seconds() if ordered else 0.0

    def x_of(moment: datetime) -> float:
        if first is None or span <= 0:
            return LEFT + plot_w / 2
        return round(LEFT + plot_w * (moment - first).total_seconds() / span, 2)

    placed = tuple(
        PlotPoint(
            x_of(p.at),
            y_of(p.value),
            _local(p.at, tz).strftime("%Y-%m-%d %H:%M"),
            f"{_number(p.value)} {unit}".strip(),
        )
        for p in ordered
    )
    corners: list[tuple[float, float]] = []
    for index, point in enumerate(placed):
        if step and index > 0:
            corners.append((point.x, placed[index - 1].y))
        corners.append((point.x, point.y))
    line = " ".join(f"{x},{y}" for x, y in corners)
    y_ticks = tuple(Tick(y_of(top_value * i / 4), _number(top_value * i / 4)) for i in range(5))
    x_ticks: tuple[Tick, ...] = ()
    if first is not None:
        last = ordered[-1].at
        moments = [first] if span <= 0 else [first + (last - first) * (i / 4) for i in range(5)]
        x_ticks = tuple(Tick(x_of(m), _local(m, tz).strftime("%Y-%m-%d")) for m in moments)
    line_at = (
        Threshold(y_of(threshold), threshold_label or f"{_number(threshold)} {unit}")
        if threshold is not None
        else None
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        x_label=x_label,
        y_label=y_label,
        unit=unit,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
        points=placed,
        line=line,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        threshold=line_at,
    )
