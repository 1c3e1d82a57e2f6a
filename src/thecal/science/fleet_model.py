"""The fleet model: the pump twin's analytic mode, vectorised over patients.

Time runs in days from local midnight of day 0; every patient is refilled at the
clinic's visit hour on day 0. The model steps from one *fill* (a refill visit or a
replacement pump) to the next, for all patients of a block at once (numpy arrays;
never per second or per stroke). Within a fill interval everything has a closed form:

* programmed volume: the patient's day table (``FleetPopulation.day_x/day_y``) repeats
  daily, so the volume programmed since midnight of day 0 is
  ``C(t) = floor(t) * daily + day(t mod 1)``, piecewise linear, and the moment a
  volume is reached is its inverse (one search over a day's breakpoints);
* the firmware's estimate falls by the programmed volume: the low-reservoir alarm
  comes when ``fill - threshold`` has been programmed, the empty alarm at
  ``fill - empty level``, after which the pump runs at the model's minimum rate
  (no patient boluses), as the twin's firmware does;
* the true reservoir falls by ``factor`` times the programmed volume (the pump's
  accuracy); it runs dry when ``fill / factor`` has been programmed;
* the battery falls by the twin's own model (`thecal.pump.profiles.BatteryProfile`:
  idle per day plus per programmed mL); ERI is seen at the first hourly self-check
  at or after the crossing, end of service (EOS) 90 days later stops delivery;
* the clinic books the next refill at the refill-by date from the fill (the earlier of
  the low-reservoir alarm with worst-case patient boluses and the drug's stability
  limit) minus a margin; the patient misses some appointments (rebooked), some are
  postponed, and a patient who hears an alarm may call and be refilled early; after
  ERI a replacement is booked, and a visit after EOS is for the replacement only.

Per interval a block draws ``N_DRAWS`` uniforms for every patient of the block (lock
step, whether or not the patient is still inside the horizon), so patient ``j``'s
draws for its ``k``-th interval are the same however blocks are scheduled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from thecal.science.fleet_parameters import FleetParameters
from thecal.science.fleet_population import (
    FACTOR_STEP,
    FleetPopulation,
    accuracy_factor_units,
    block_generator,
    block_population,
    pump_constants,
)

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "DRAW_NAMES",
    "N_DRAWS",
    "BlockOutcome",
    "attendance_delay_days",
    "booked_visit",
    "cumulative",
    "months_in",
    "simulate_block",
    "time_to_reach",
]

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
DRAW_NAMES = (
    "no_show",
    "delay",
    "delay_days",
    "low_alarm_report",
    "empty_alarm_report",
    "report_days",
    "replacement_days",
    "new_pump_factor",
)
N_DRAWS = len(DRAW_NAMES)
HOURS = 24.0

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def months_in(years: float) -> int:
    return max(1, math.ceil(years * 12 - 1e-9))


@dataclass
class BlockOutcome:
    """Per-patient results of one block (arrays of length `size`) and monthly counts.

    Volumes mL, times days. An interval is complete when its closing fill (refill or
    replacement) falls inside the horizon."""

    first: int
    years: float
    drug: NDArray[np.int8]
    pump: NDArray[np.int8]
    refills: I64
    replacements: I64
    dry_events: I64
    intervals: I64
    dry_intervals: I64
    low_alarm_days: F64
    no_drug_days: F64
    end_of_service_days: F64
    programmed_volume: F64
    delivered_volume: F64
    first_eri_day: F64  # NaN when no ERI inside the horizon
    refills_by_month: I64
    replacements_by_month: I64
    draws: list[F64] = field(default_factory=list)  # per interval (N_DRAWS, size), if recorded

    @property
    def size(self) -> int:
        return int(self.drug.shape[0])


def cumulative(day_x: F64, day_y: F64, daily: F64, t: F64) -> F64:
    """Volume programmed from local midnight of day 0 to `t` (days), per row:
    whole days times the daily volume plus the day table at the time of day."""
    whole = np.floor(t)
    tau = t - whole
    rows = np.arange(t.shape[0])
    j = np.minimum((day_x[:, 1:] <= tau[:, None]).sum(axis=1), day_x.shape[1] - 2)
    x0, x1 = day_x[rows, j], day_x[rows, j + 1]
    y0, y1 = day_y[rows, j], day_y[rows, j + 1]
    return whole * daily + y0 + (y1 - y0) * (tau - x0) / (x1 - x0)


def time_to_reach(day_x: F64, day_y: F64, daily: F64, volume: F64) -> F64:
    """Earliest time (days) by which `volume` mL has been programmed since midnight of
    day 0 (the inverse of `cumulative`; `volume` > 0)."""
    whole = np.floor(volume / daily)
    rest = volume - whole * daily
    rows = np.arange(volume.shape[0])
    j = np.minimum((day_y[:, 1:] < rest[:, None]).sum(axis=1), day_y.shape[1] - 2)
    x0, x1 = day_x[rows, j], day_x[rows, j + 1]
    y0, y1 = day_y[rows, j], day_y[rows, j + 1]
    span = np.where(y1 > y0, y1 - y0, 1.0)
    tau = np.where(rest > y0, x0 + (x1 - x0) * (rest - y0) / span, x0)
    return whole + tau


def booked_visit(
    fill_time: F64, days_to_alarm: F64, stability: F64, margin: int, visit_hour: float
) -> F64:
    """The clinic's booking rule: the day of the refill-by moment (the earlier of the
    low-reservoir alarm and the stability limit, from the fill) minus `margin` days,
    at the visit hour; never before the next day."""
    by = fill_time + np.minimum(days_to_alarm, stability)
    day = np.maximum(np.floor(by) - margin, np.floor(fill_time) + 1)
    return day + visit_hour


def attendance_delay_days(
    params: FleetParameters, u_no_show: F64, u_delay: F64, u_days: F64
) -> F64:
    """Whole days between the booked and the attended visit: each missed appointment is
    rebooked `rebook_days` later (the number of misses is geometric), and an attended
    one may be postponed 1 to `delay_days_max` days."""
    q = params.no_show_probability
    if q > 0:
        misses = np.floor(np.log1p(-u_no_show) / math.log(q))
        misses = np.minimum(misses, params.max_no_shows)
    else:
        misses = np.zeros_like(u_no_show)
    postponed = np.where(
        u_delay < params.delay_probability, 1 + np.floor(u_days * params.delay_days_max), 0.0
    )
    return misses * params.rebook_days + postponed


def simulate_block(
    params: FleetParameters,
    seed: int,
    block: int,
    size: int,
    years: float,
    record: bool = False,
) -> BlockOutcome:
    """Simulate the `size` patients of `block` for `years` years (seeded: the same
    arguments give the same outcome anywhere). With `record` the per-interval draws are
    kept (for replaying a patient on the pump twin)."""
    if years <= 0:
        raise ValueError("years must be positive")
    rng = block_generator(seed, block)
    pop = block_population(params, block, size, rng)
    return _run(params, pop, rng, years, record)


def _run(
    params: FleetParameters,
    pop: FleetPopulation,
    rng: np.random.Generator,
    years: float,
    record: bool,
) -> BlockOutcome:
    pc = pump_constants(tuple(p.id for p in params.pumps))
    n = pop.size
    horizon = years * DAYS_PER_YEAR
    hour = params.visit_hour / HOURS
    months = months_in(years)
    p = pop.pump
    cap, thr, empty = pc.capacity[p], pc.low_threshold[p], pc.empty_level[p]
    min_rate, idle, per_ml = pc.minimum_rate[p], pc.idle_per_day[p], pc.per_ml[p]
    eri_level, eos_gap = pc.eri_level[p], pc.eos_after_eri_days[p]

    t0 = np.full(n, hour)
    charge = pop.charge.copy()
    factor = pop.factor.copy()
    eri = np.full(n, np.inf)
    eos = np.full(n, np.inf)
    repl = np.full(n, np.inf)
    first_fill = np.zeros(n, dtype=bool)

    refills = np.zeros(n, dtype=np.int64)
    replacements = np.zeros(n, dtype=np.int64)
    dry_events = np.zeros(n, dtype=np.int64)
    intervals = np.zeros(n, dtype=np.int64)
    dry_intervals = np.zeros(n, dtype=np.int64)
    alarm_days = np.zeros(n)
    no_drug = np.zeros(n)
    eos_days = np.zeros(n)
    programmed = np.zeros(n)
    delivered = np.zeros(n)
    first_eri = np.full(n, np.nan)
    refills_month = np.zeros(months, dtype=np.int64)
    repl_month = np.zeros(months, dtype=np.int64)
    draws: list[F64] = []

    active = np.arange(n)
    while active.size:
        all_draws = rng.random((N_DRAWS, n))
        if record:
            draws.append(all_draws)
        a = active
        u = all_draws[:, a]
        x, y, daily = pop.day_x[a], pop.day_y[a], pop.daily_volume[a]
        F, f, c0, start = cap[a], factor[a], charge[a], t0[a]
        E, low, m = empty[a], thr[a], min_rate[a]
        i_day, k_ml = idle[a], per_ml[a]

        # -- the clinic books the next refill from this fill
        stability = np.where(first_fill[a], pop.first_fill_days[a], pop.stability_days[a])
        wx, wy = pop.worst_x[a], pop.worst_y[a]
        booked = booked_visit(
            start,
            time_to_reach(wx, wy, wy[:, -1], F - low),
            stability,
            params.booking_margin_days,
            hour,
        )
        planned = booked + attendance_delay_days(params, u[0], u[1], u[2])

        # -- closed-form moments of this fill (before any end of service)
        c_start = cumulative(x, y, daily, start)
        t_low = time_to_reach(x, y, daily, c_start + F - low)
        t_empty = time_to_reach(x, y, daily, c_start + F - E)
        dry_volume = F / f  # programmed volume at which the true reservoir is empty
        before_empty = dry_volume <= F - E
        t_dry = np.where(
            before_empty,
            time_to_reach(x, y, daily, c_start + np.minimum(dry_volume, F - E)),
            t_empty + (dry_volume - (F - E)) / m,
        )

        # -- the battery: the first hourly self-check at or after the ERI crossing
        has_eri = np.isfinite(eri[a])
        need = c0 - eri_level[a]
        yb = i_day[:, None] * x + k_ml[:, None] * y
        daily_b = i_day + k_ml * daily
        cross = time_to_reach(x, yb, daily_b, cumulative(x, yb, daily_b, start) + need)
        used_at_empty = i_day * (t_empty - start) + k_ml * (F - E)
        cross = np.where(
            cross <= t_empty, cross, t_empty + (need - used_at_empty) / (i_day + k_ml * m)
        )
        seen = np.ceil(cross * HOURS - 1e-7) / HOURS
        replacement_days = params.replacement_delay_days_min + np.floor(
            u[6] * (params.replacement_delay_days_max - params.replacement_delay_days_min + 1)
        )
        eri_p = np.where(has_eri, eri[a], seen)
        eos_p = np.where(has_eri, eos[a], seen + eos_gap[a])
        repl_p = np.where(has_eri, repl[a], np.floor(seen) + replacement_days + hour)

        # -- what happens before end of service
        t_low = np.where(t_low < eos_p, t_low, np.inf)
        t_empty_c = np.where(t_empty < eos_p, t_empty, np.inf)
        t_dry = np.where(t_dry < eos_p, t_dry, np.inf)

        # -- patients who hear an alarm may call and be refilled early
        report_days = 1 + np.floor(u[5] * params.report_visit_days_max)
        early_low = np.where(
            np.isfinite(t_low) & (u[3] < params.low_alarm_report_probability),
            np.floor(t_low) + report_days + hour,
            np.inf,
        )
        early_empty = np.where(
            np.isfinite(t_empty_c) & (u[4] < params.empty_alarm_report_probability),
            np.floor(t_empty_c) + report_days + hour,
            np.inf,
        )
        visit = np.minimum(planned, np.minimum(early_low, early_empty))
        visit = np.where(visit < eos_p, visit, np.inf)  # a dead pump waits for its replacement
        t_next = np.minimum(visit, repl_p)
        is_refill = visit < repl_p
        new_eri = ~has_eri & (eri_p < t_next)

        # -- tally up to the next fill or the horizon
        end = np.minimum(t_next, horizon)
        stop = np.minimum(end, eos_p)
        c_stop = cumulative(x, y, daily, np.minimum(stop, t_empty))
        prog = np.where(
            stop <= t_empty, c_stop - c_start, (F - E) + m * np.maximum(stop - t_empty, 0.0)
        )
        programmed[a] += prog
        delivered[a] += np.minimum(f * prog, F)
        alarm_days[a] += np.maximum(end - t_low, 0.0)
        went_dry = t_dry < end
        dry_events[a] += went_dry
        no_drug[a] += np.maximum(end - np.minimum(t_dry, eos_p), 0.0)
        eos_days[a] += np.maximum(end - eos_p, 0.0)
        complete = t_next <= horizon
        intervals[a] += complete
        dry_intervals[a] += complete & (t_dry < t_next)
        seen_in = new_eri & (eri_p < horizon) & np.isnan(first_eri[a])
        first_eri[a[seen_in]] = eri_p[seen_in]
        month = np.minimum((t_next / DAYS_PER_MONTH).astype(np.int64), months - 1)
        counted_refill = complete & is_refill
        counted_repl = complete & ~is_refill
        refills[a] += counted_refill
        replacements[a] += counted_repl
        refills_month += np.bincount(month[counted_refill], minlength=months)
        repl_month += np.bincount(month[counted_repl], minlength=months)

        # -- the next fill: same pump refilled, or a new pump
        used = i_day * (t_next - start) + k_ml * prog
        eri[a] = np.where(new_eri, eri_p, eri[a])
        eos[a] = np.where(new_eri, eos_p, eos[a])
        repl[a] = np.where(new_eri, repl_p, repl[a])
        swap = ~is_refill
        if swap.any():
            s = a[swap]
            charge[s] = 1.0
            factor[s] = accuracy_factor_units(params, p[s], u[7][swap]) / FACTOR_STEP
            eri[s] = eos[s] = repl[s] = np.inf
        keep = a[is_refill]
        charge[keep] = c0[is_refill] - used[is_refill]
        first_fill[a] = swap
        t0[a] = t_next
        active = a[t_next < horizon]

    return BlockOutcome(
        first=pop.first,
        years=years,
        drug=pop.drug,
        pump=pop.pump,
        refills=refills,
        replacements=replacements,
        dry_events=dry_events,
        intervals=intervals,
        dry_intervals=dry_intervals,
        low_alarm_days=alarm_days,
        no_drug_days=no_drug,
        end_of_service_days=eos_days,
        programmed_volume=programmed,
        delivered_volume=delivered,
        first_eri_day=first_eri,
        refills_by_month=refills_month,
        replacements_by_month=repl_month,
        draws=draws,
    )
