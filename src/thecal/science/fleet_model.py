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

Per interval a block draws ``N_DRAWS`` uniforms for each of its patients still inside
the horizon, in patient order; which patients those are depends only on the block, so
the draws, and the results, are the same however blocks are scheduled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thecal.science import fleet_kernel as kernel
from thecal.science.fleet_parameters import FleetParameters
from thecal.science.fleet_population import (
    FACTOR_STEP,
    AccuracyDistribution,
    FleetPopulation,
    block_generator,
    block_population,
    pump_constants,
)
from thecal.science.fleet_random import fill_bank, get_state, set_state

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
if kernel.N_DRAWS != N_DRAWS:
    raise ImportError("fleet_kernel.N_DRAWS must be the number of DRAW_NAMES")
HOURS = 24.0

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Missed-appointment counts whose quotient log1p(-u) / log(q) lies this close (relative)
# to a whole number are recounted with numpy's own log1p (`kernel.draw_no_shows`).
NO_SHOW_TOLERANCE = 1e-9


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


def _no_shows(params: FleetParameters, u_no_show: F64) -> F64:
    """Missed appointments for draws 0 `u_no_show` (as in `attendance_delay_days`, with
    numpy's own ``log1p``)."""
    misses = np.floor(np.log1p(-u_no_show) / math.log(params.no_show_probability))
    return np.minimum(misses, params.max_no_shows)


def _rules(params: FleetParameters, horizon: float, hour: float, months: int) -> F64:
    values = {
        "horizon": horizon,
        "hour": hour,
        "booking_margin_days": params.booking_margin_days,
        "delay_probability": params.delay_probability,
        "delay_days_max": params.delay_days_max,
        "rebook_days": params.rebook_days,
        "report_visit_days_max": params.report_visit_days_max,
        "low_alarm_report_probability": params.low_alarm_report_probability,
        "empty_alarm_report_probability": params.empty_alarm_report_probability,
        "replacement_delay_days_min": params.replacement_delay_days_min,
        "replacement_days_span": (
            params.replacement_delay_days_max - params.replacement_delay_days_min + 1
        ),
        "months": months,
        "days_per_month": DAYS_PER_MONTH,
    }
    return np.array([float(values[name]) for name in kernel.RULE_NAMES])


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
    idle, per_ml = pc.idle_per_day[p], pc.per_ml[p]
    x, y, daily = pop.day_x, pop.day_y, pop.daily_volume

    # Every fill happens at the visit hour of some day d, and the schedule repeats daily,
    # so a moment defined by a volume programmed since a fill is d plus a constant of the
    # patient: the low-reservoir and empty alarms, the dry moment (per pump) and the
    # clinic's refill-by offset are computed once, not at every fill.
    at_hour, low_after, empty_after, alarm_after = kernel.fill_moments(
        x, y, daily, pop.worst_x, pop.worst_y, cap, thr, empty, hour
    )
    columns = {
        "cap": cap,
        "empty": empty,
        "min_rate": pc.minimum_rate[p],
        "idle": idle,
        "per_ml": per_ml,
        "eri_level": pc.eri_level[p],
        "eos_gap": pc.eos_after_eri_days[p],
        "daily": daily,
        "daily_b": idle + per_ml * daily,
        "at_hour": at_hour,
        "low_after": low_after,
        "empty_after": empty_after,
        "alarm_after": alarm_after,
        "stability": pop.stability_days,
        "first_fill_days": pop.first_fill_days,
        # days per unit of charge at the fastest average use: the whole day's use, or
        # the minimum rate's after the empty alarm (a bound: see `kernel.step`)
        "days_per_charge": 1 / (idle + per_ml * np.maximum(daily, pc.minimum_rate[p])),
    }
    # One row per patient still inside the horizon: constants, state at the current
    # fill, running tallies, and the day tables (volume, and battery use with the same
    # breakpoints). Rows of finished patients are dropped in batches (`kernel.compact`).
    const = np.ascontiguousarray(np.column_stack([columns[c] for c in kernel.CONSTANT_COLUMNS]))
    state = np.zeros((n, len(kernel.STATE_COLUMNS)))
    state[:, kernel.T0] = hour
    state[:, kernel.CHARGE] = pop.charge
    state[:, kernel.FACTOR] = pop.factor
    state[:, kernel.ERI] = state[:, kernel.EOS] = state[:, kernel.REPL] = np.inf
    tally = np.zeros((n, len(kernel.TALLY_COLUMNS)))
    tally[:, kernel.FIRST_ERI] = np.nan
    done = tally.copy()
    xs = np.ascontiguousarray(x, dtype=np.float64)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    yb = np.ascontiguousarray(idle[:, None] * x + per_ml[:, None] * y)  # battery use
    row = np.arange(n, dtype=np.int64)
    pump = p.copy()
    kernel.dry_after(const, state, xs, ys, row)
    rules = _rules(params, horizon, hour, months)
    accuracy = AccuracyDistribution.of(params)
    inside = np.zeros(n, dtype=np.bool_)
    swapped = np.zeros(n, dtype=np.int64)
    refills_month = np.zeros(months, dtype=np.int64)
    repl_month = np.zeros(months, dtype=np.int64)
    draws: list[F64] = []

    swapped_draw = np.zeros(n)
    # The block's stream, drawn by the kernel itself (`fleet_random`: numpy's PCG64,
    # number for number); the generator is moved on to the same place at the end.
    stream = get_state(rng)
    size = n
    while size:
        # Draws for the rows still in the block, in patient order: which patients those
        # are depends only on the block, so the stream is reproducible. They are the
        # numbers ``rng.random((N_DRAWS, size))`` would give: draw d of row r is number
        # ``d * size + r`` of this step's stretch of the stream.
        q = params.no_show_probability
        bank, missed_rows, missed, unsure = kernel.draw_no_shows(
            stream,
            size,
            q,
            math.log(q) if q > 0 else 0.0,
            float(params.max_no_shows),
            NO_SHOW_TOLERANCE,
        )
        if unsure.size:  # numpy's log1p decides a count that is nearly whole
            u0 = np.empty((1, size))
            fill_bank(bank[:1].copy(), u0, 0, size)
            missed[unsure] = _no_shows(params, u0[0, missed_rows[unsure]])
        if record:
            u = np.empty((N_DRAWS, size))
            fill_bank(bank[:N_DRAWS].copy(), u, 0, size)
            full = np.full((N_DRAWS, n), np.nan)
            full[:, row[:size]] = u
            draws.append(full)
        n_inside, n_leaving, n_swapped = kernel.step(
            rules,
            const[:size],
            state[:size],
            tally[:size],
            xs[:size],
            ys[:size],
            yb[:size],
            bank[1:N_DRAWS],
            missed_rows,
            missed,
            row[:size],
            done,
            inside[:size],
            swapped,
            swapped_draw,
            refills_month,
            repl_month,
        )
        stream = bank[N_DRAWS]
        if n_swapped:
            # A new pump draws a new accuracy factor (scipy's normal quantile).
            new = swapped[:n_swapped]
            units = accuracy.units(pump[new], swapped_draw[:n_swapped])
            state[new, kernel.FACTOR] = units / FACTOR_STEP
            kernel.dry_after(const, state, xs, ys, new)
        # Finished rows are compacted away in batches (a finished row's later draws and
        # sums are never used).
        if n_leaving and n_inside <= 0.8 * size:
            size = kernel.compact(inside[:size], row, pump, const, state, tally, xs, ys, yb)
    set_state(rng, stream)

    def tallied(name: str, dtype: type = np.float64) -> NDArray[Any]:
        return done[:, kernel.TALLY_COLUMNS.index(name)].astype(dtype)

    return BlockOutcome(
        first=pop.first,
        years=years,
        drug=pop.drug,
        pump=pop.pump,
        refills=tallied("refills", np.int64),
        replacements=tallied("replacements", np.int64),
        dry_events=tallied("dry_events", np.int64),
        intervals=tallied("intervals", np.int64),
        dry_intervals=tallied("dry_intervals", np.int64),
        low_alarm_days=tallied("alarm_days"),
        no_drug_days=tallied("no_drug"),
        end_of_service_days=tallied("eos_days"),
        programmed_volume=tallied("programmed"),
        delivered_volume=tallied("delivered"),
        first_eri_day=tallied("first_eri"),
        refills_by_month=refills_month,
        replacements_by_month=repl_month,
        draws=draws,
    )
