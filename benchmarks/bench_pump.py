"""Pump twin speed: simulated time per wall time for a year of a 12-step flex schedule
with four patient boluses a day, stroke-level, against a simple baseline in the same run.

Baselines: the simple stroke-level simulator that steps from one stroke to the next, and
the per-second ticking one; both exact, schedule only (no alarms, memory, log or
commands), run for a short span and extrapolated.
Target for the twin: at least 10^7 simulated seconds per wall second (a pump-year in
about 3 s on one core).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from fractions import Fraction

from thecal.pump import PumpTwin, SimulationMode
from thecal.pump.commands import PatientBolusRequest, Rejected, Role
from thecal.therapy.delivery import day_profile
from thecal.therapy.prescription import FlexStep, Mode, PatientBolus, Prescription, TimeOfDay
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume

START = datetime(2025, 1, 1, 0, 0)
YEAR = timedelta(days=365)
TARGET = 10**7


def prescription() -> Prescription:
    """Morphine 10 mg/mL, 12 two-hour flex steps (2-5 mg/day), patient boluses."""
    rates = (3000, 2500, 2000, 2000, 3000, 4000, 5000, 4500, 4000, 3500, 3500, 3000)
    steps = tuple(
        FlexStep(TimeOfDay(120 * index), DoseRate.from_mcg_per_day(rate))
        for index, rate in enumerate(rates)
    )
    return Prescription(
        "morphine",
        Concentration.from_mg_per_ml(10),
        Mode.FLEX,
        steps=steps,
        patient_bolus=PatientBolus(
            Mass.from_mcg(200), Duration.from_minutes(10), Duration.from_hours(3), 4
        ),
    )


def run_twin(mode: SimulationMode) -> tuple[float, int, int]:
    """A year with four patient requests a day and a refill every 30 days; returns
    (wall seconds, boluses granted, strokes)."""
    rx = prescription()
    twin = PumpTwin.implant(
        "peristaltic-40",
        START,
        drug=rx.drug,
        concentration=rx.concentration,
        fill=Volume.from_ml(40),
        prescription=rx,
        mode=mode,
    )
    granted = 0
    began = time.perf_counter()
    for day in range(365):
        base = START + timedelta(days=day)
        if day and day % 30 == 0:
            twin.advance(base + timedelta(hours=7))
            twin.refill_visit(Volume.from_ml(40))
        for hour in (8, 12, 16, 20):
            twin.advance(base + timedelta(hours=hour))
            if not isinstance(twin.send(PatientBolusRequest(), Role.PATIENT), Rejected):
                granted += 1
    twin.advance(START + YEAR)
    wall = time.perf_counter() - began
    return wall, granted, int(twin.truth().strokes)


def run_baseline_strokes(days: int) -> float:
    """The simple stroke-level simulator: step from one stroke to the next (exact
    arithmetic, crossing flex-step boundaries), nothing else. Returns wall seconds."""
    rx = prescription()
    profile = day_profile(rx)
    stroke = Fraction(1, 2000)  # mL
    pieces = [
        (seg.start, seg.end, seg.dose_rate.amount / rx.concentration.amount / 86_400)
        for seg in profile.segments
    ]  # mL per second
    t, carry, strokes, end = Fraction(0), Fraction(0), 0, days * 86_400
    began = time.perf_counter()
    while t < end:
        day, within = divmod(t, 86_400)
        _, stop, rate = next(p for p in pieces if p[0] <= within < p[1])
        boundary = day * 86_400 + stop
        to_stroke = (stroke - carry) / rate
        if t + to_stroke <= boundary:
            t += to_stroke
            carry = Fraction(0)
            strokes += 1
        else:
            carry += rate * (boundary - t)
            t = boundary
    return time.perf_counter() - began


def run_baseline_ticks(days: int) -> float:
    """The per-second ticking simulator the twin avoids. Returns wall seconds."""
    rx = prescription()
    profile = day_profile(rx)
    stroke = Fraction(1, 2000)
    per_second = [
        seg.dose_rate.amount / rx.concentration.amount / 86_400 for seg in profile.segments
    ]
    starts = [seg.start for seg in profile.segments]
    carry = Fraction(0)
    began = time.perf_counter()
    index = 0
    for second in range(days * 86_400):
        within = second % 86_400
        if within == 0:
            index = 0
        elif index + 1 < len(starts) and within >= starts[index + 1]:
            index += 1
        carry += per_second[index]
        if carry >= stroke:
            carry -= stroke
    return time.perf_counter() - began


def main() -> None:
    simulated = YEAR.total_seconds()
    wall, granted, strokes = run_twin(SimulationMode.STROKES)
    rate = simulated / wall
    analytic_wall, _, _ = run_twin(SimulationMode.ANALYTIC)
    days = 7
    stroke_rate = days * 86_400 / run_baseline_strokes(days)
    tick_rate = 1 * 86_400 / run_baseline_ticks(1)
    print("a year of a 12-step flex schedule, 4 patient requests a day, refills every 30 days")
    print(f"  twin, stroke-level: {wall:.2f} s wall, {rate:,.0f} simulated s per wall s")
    print(f"    ({strokes:,} strokes, {granted} patient boluses granted)")
    print(f"  twin, analytic:     {analytic_wall:.2f} s wall, {simulated / analytic_wall:,.0f} s/s")
    print("baselines in the same run (schedule only: no alarms, memory, log or commands)")
    print(f"  one step per stroke:  {stroke_rate:,.0f} simulated s per wall s ({days} days)")
    print(f"  one tick per second:  {tick_rate:,.0f} simulated s per wall s (1 day)")
    print(f"  stroke-level twin / per-stroke baseline: {rate / stroke_rate:,.1f} x")
    print(f"  stroke-level twin / per-second baseline: {rate / tick_rate:,.1f} x")
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(f"  target >= {TARGET:,} s/s: {verdict}")
