"""The fleet model for one patient at a time, in plain Python: the benchmark's baseline.

The same fill-to-fill arithmetic as `fleet_model` (same formulas, same order), with
Python floats and `bisect` instead of arrays. A test checks that it gives the
vectorised model's results for the same patients and draws; `benchmarks/bench_fleet.py`
times both.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from thecal.science.fleet_model import DAYS_PER_YEAR, HOURS
from thecal.science.fleet_parameters import FleetParameters
from thecal.science.fleet_population import (
    FACTOR_STEP,
    FleetPopulation,
    accuracy_factor_units,
    pump_constants,
)

__all__ = ["PatientTotals", "simulate_patient"]

INF = math.inf


@dataclass(frozen=True)
class PatientTotals:
    refills: int
    replacements: int
    dry_events: int
    intervals: int
    dry_intervals: int
    low_alarm_days: float
    no_drug_days: float
    end_of_service_days: float
    programmed_volume: float
    delivered_volume: float
    first_eri_day: float


def _cum(xs: list[float], ys: list[float], daily: float, t: float) -> float:
    whole = math.floor(t)
    tau = t - whole
    j = min(bisect_right(xs, tau) - 1, len(xs) - 2)
    x0, x1, y0, y1 = xs[j], xs[j + 1], ys[j], ys[j + 1]
    return whole * daily + y0 + (y1 - y0) * (tau - x0) / (x1 - x0)


def _reach(xs: list[float], ys: list[float], daily: float, volume: float) -> float:
    whole = math.floor(volume / daily)
    rest = volume - whole * daily
    j = min(bisect_left(ys, rest, 1) - 1, len(ys) - 2)
    x0, x1, y0, y1 = xs[j], xs[j + 1], ys[j], ys[j + 1]
    if rest > y0:
        return whole + x0 + (x1 - x0) * (rest - y0) / (y1 - y0)
    return whole + x0


def simulate_patient(
    params: FleetParameters,
    population: FleetPopulation,
    j: int,
    years: float,
    draw: Callable[[int], Sequence[float]],
) -> PatientTotals:
    """Simulate patient `j` of `population`; `draw(k)` gives the `N_DRAWS` uniforms of
    its k-th fill interval (in `fleet_model.DRAW_NAMES` order)."""
    pc = pump_constants(tuple(p.id for p in params.pumps))
    p = int(population.pump[j])
    cap, low, empty = float(pc.capacity[p]), float(pc.low_threshold[p]), float(pc.empty_level[p])
    m, idle, per_ml = float(pc.minimum_rate[p]), float(pc.idle_per_day[p]), float(pc.per_ml[p])
    eri_level, eos_gap = float(pc.eri_level[p]), float(pc.eos_after_eri_days[p])
    xs = [float(v) for v in population.day_x[j]]
    ys = [float(v) for v in population.day_y[j]]
    daily = float(population.daily_volume[j])
    bys = [idle * x + per_ml * y for x, y in zip(xs, ys, strict=True)]
    daily_b = idle + per_ml * daily
    wxs = [float(v) for v in population.worst_x[j]]
    wys = [float(v) for v in population.worst_y[j]]
    stability, first_fill_days = (
        float(population.stability_days[j]),
        float(population.first_fill_days[j]),
    )
    horizon = years * DAYS_PER_YEAR
    hour = params.visit_hour / HOURS
    q = params.no_show_probability
    log_q = math.log(q) if q > 0 else 0.0

    start, charge, factor = hour, float(population.charge[j]), float(population.factor[j])
    eri = eos = repl = INF
    first_fill = False
    refills = replacements = dry = intervals = dry_intervals = 0
    alarm = no_drug = eos_days = programmed = delivered = 0.0
    first_eri = math.nan
    k = 0
    while start < horizon:
        u = draw(k)
        k += 1
        limit = first_fill_days if first_fill else stability
        by = start + min(_reach(wxs, wys, wys[-1], cap - low), limit)
        booked = max(math.floor(by) - params.booking_margin_days, math.floor(start) + 1) + hour
        misses = min(math.floor(math.log1p(-u[0]) / log_q), params.max_no_shows) if q > 0 else 0
        postponed = (
            1 + math.floor(u[2] * params.delay_days_max) if u[1] < params.delay_probability else 0
        )
        planned = booked + (misses * params.rebook_days + postponed)

        c_start = _cum(xs, ys, daily, start)
        t_low = _reach(xs, ys, daily, c_start + cap - low)
        t_empty = _reach(xs, ys, daily, c_start + cap - empty)
        dry_volume = cap / factor
        if dry_volume <= cap - empty:
            t_dry = _reach(xs, ys, daily, c_start + min(dry_volume, cap - empty))
        else:
            t_dry = t_empty + (dry_volume - (cap - empty)) / m

        if eri == INF:
            need = charge - eri_level
            cross = _reach(xs, bys, daily_b, _cum(xs, bys, daily_b, start) + need)
            if cross > t_empty:
                used_at_empty = idle * (t_empty - start) + per_ml * (cap - empty)
                cross = t_empty + (need - used_at_empty) / (idle + per_ml * m)
            seen = math.ceil(cross * HOURS - 1e-7) / HOURS
            days = params.replacement_delay_days_min + math.floor(
                u[6] * (params.replacement_delay_days_max - params.replacement_delay_days_min + 1)
            )
            eri_p, eos_p, repl_p = seen, seen + eos_gap, math.floor(seen) + days + hour
        else:
            eri_p, eos_p, repl_p = eri, eos, repl

        t_low = t_low if t_low < eos_p else INF
        t_empty_c = t_empty if t_empty < eos_p else INF
        t_dry = t_dry if t_dry < eos_p else INF
        report = 1 + math.floor(u[5] * params.report_visit_days_max)
        visit = planned
        if t_low < INF and u[3] < params.low_alarm_report_probability:
            visit = min(visit, math.floor(t_low) + report + hour)
        if t_empty_c < INF and u[4] < params.empty_alarm_report_probability:
            visit = min(visit, math.floor(t_empty_c) + report + hour)
        if visit >= eos_p:
            visit = INF
        t_next = min(visit, repl_p)
        is_refill = visit < repl_p
        new_eri = eri == INF and eri_p < t_next

        end = min(t_next, horizon)
        stop = min(end, eos_p)
        if stop <= t_empty:
            prog = _cum(xs, ys, daily, min(stop, t_empty)) - c_start
        else:
            prog = (cap - empty) + m * max(stop - t_empty, 0.0)
        programmed += prog
        delivered += min(factor * prog, cap)
        alarm += max(end - t_low, 0.0)
        dry += t_dry < end
        no_drug += max(end - min(t_dry, eos_p), 0.0)
        eos_days += max(end - eos_p, 0.0)
        complete = t_next <= horizon
        intervals += complete
        dry_intervals += complete and t_dry < t_next
        if new_eri and eri_p < horizon and math.isnan(first_eri):
            first_eri = eri_p
        refills += complete and is_refill
        replacements += complete and not is_refill

        used = idle * (t_next - start) + per_ml * prog
        if new_eri:
            eri, eos, repl = eri_p, eos_p, repl_p
        if is_refill:
            charge -= used
        else:
            charge = 1.0
            units = accuracy_factor_units(params, np.array([p]), np.array([u[7]]))
            factor = int(units[0]) / FACTOR_STEP
            eri = eos = repl = INF
        first_fill = not is_refill
        start = t_next
    return PatientTotals(
        refills,
        replacements,
        dry,
        intervals,
        dry_intervals,
        alarm,
        no_drug,
        eos_days,
        programmed,
        delivered,
        first_eri,
    )
