"""The 24-hour dose-rate chart of a prescription: geometry only, no drawing.

`schedule_chart` turns a day's delivery (the therapy layer's `DayProfile`, the one place
a mode becomes rates) into the numbers an SVG needs: step paths on a 24-hour clock axis,
axis ticks and a text description of every step for people who cannot see the chart.
The template macro `prescription_chart.html` draws it. Pure: the same profiles always
give the same chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from thecal.therapy.delivery import DayProfile
from thecal.therapy.display import DoseUnit, dose_amount, format_dose
from thecal.therapy.quantities import SECONDS_PER_DAY, decimal_text

__all__ = ["HEIGHT", "WIDTH", "ChartLine", "ScheduleChart", "Tick", "schedule_chart"]

WIDTH = 520
HEIGHT = 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 50, WIDTH - 22, 12, HEIGHT - 30
_HOURS_PER_TICK = 3
_MAX_Y_TICKS = 5


@dataclass(frozen=True)
class Tick:
    """An axis mark: its position in SVG units along the axis, and its label."""

    position: float
    label: str


@dataclass(frozen=True)
class ChartLine:
    """One prescription's step line: SVG path data, dashed for the current prescription."""

    name: str
    path: str
    dashed: bool


@dataclass(frozen=True)
class ScheduleChart:
    """Everything needed to draw the chart in a ``0 0 width height`` SVG view box."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    unit: str
    """The y axis unit, e.g. ``"mcg/day"``."""
    lines: tuple[ChartLine, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    description: str
    """Every step of every line in words: the chart's text alternative."""


def _nice_step(peak: Fraction) -> Fraction:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that covers `peak` in at most
    `_MAX_Y_TICKS` - 1 steps (so the axis reads in round numbers)."""
    raw = peak / (_MAX_Y_TICKS - 1)
    power = Fraction(10) ** math.floor(math.log10(raw))
    for multiple in (Fraction(1), Fraction(2), Fraction(5, 2), Fraction(5), Fraction(10)):
        if multiple * power >= raw:
            return multiple * power
    return 10 * power  # not reached: 10 * power >= raw always


def _clock(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}"


def _describe(name: str, profile: DayProfile, unit: DoseUnit) -> str:
    parts = [
        f"{_clock(segment.start)}–{_clock(segment.end)} {format_dose(segment.dose_rate, unit)}"
        for segment in profile.segments
    ]
    return f"{name}: " + ", ".join(parts)


def schedule_chart(
    pending: DayProfile | None, current: DayProfile | None, unit: DoseUnit
) -> ScheduleChart:
    """The chart of the pending day profile (solid) beside the current one (dashed).

    Rates are shown in the drug's display `unit` per day; the y axis starts at zero and
    ends at a round number at or above the highest rate of either line. Either profile
    may be missing (no current prescription, or a pending one that does not repeat daily).
    """
    profiles = [(name, p) for name, p in (("Pending", pending), ("Current", current)) if p]
    peak = max(
        (dose_amount(s.dose_rate, unit) for _, p in profiles for s in p.segments),
        default=Fraction(0),
    )
    step = _nice_step(peak) if peak > 0 else Fraction(1, _MAX_Y_TICKS - 1)
    top_value = step * max(1, math.ceil(peak / step))
    plot_width = _RIGHT - _LEFT
    plot_height = _BOTTOM - _TOP

    def x(second: int) -> float:
        return round(_LEFT + plot_width * second / SECONDS_PER_DAY, 2)

    def y(value: Fraction) -> float:
        return round(_BOTTOM - float(plot_height * value / top_value), 2)

    lines = []
    for name, profile in profiles:
        first = profile.segments[0]
        commands = [f"M {x(first.start)} {y(dose_amount(first.dose_rate, unit))}"]
        for segment in profile.segments:
            commands.append(f"V {y(dose_amount(segment.dose_rate, unit))}")
            commands.append(f"H {x(segment.end)}")
        lines.append(ChartLine(name.lower(), " ".join(commands), dashed=name == "Current"))
    x_ticks = tuple(
        Tick(x(hour * 3600), f"{hour:02d}:00") for hour in range(0, 25, _HOURS_PER_TICK)
    )
    count = int(top_value / step)
    y_ticks = tuple(Tick(y(step * k), decimal_text(step * k, 6)) for k in range(count + 1))
    per_day = f"{unit.value}/day"
    words = [
        _describe("Current (dashed)" if name == "Current" else name, profile, unit)
        for name, profile in profiles
    ]
    description = f"Dose rate over 24 hours in {per_day}. " + (
        "; ".join(words) if words else "No daily schedule to show."
    )
    return ScheduleChart(
        WIDTH,
        HEIGHT,
        _LEFT,
        _RIGHT,
        _TOP,
        _BOTTOM,
        per_day,
        tuple(lines),
        x_ticks,
        y_ticks,
        description,
    )
