"""The fleet model as it was first written: whole-array numpy expressions, one interval
for all patients at a time. The compiled kernel (`thecal.science.fleet_kernel`) must
give exactly these numbers (`test_fleet_kernel.py`); kept here as the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from thecal.science.fleet_model import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    HOURS,
    N_DRAWS,
    attendance_delay_days,
    booked_visit,
    cumulative,
    months_in,
    time_to_reach,
)
from thecal.science.fleet_parameters import FleetParameters
from thecal.science.fleet_population import (
    FACTOR_STEP,
    accuracy_factor_units,
    block_generator,
    block_population,
    pump_constants,
)

F64 = NDArray[np.float64]


class _Working:
    """Per-patient arrays of the patients still inside the horizon (rows in step).

    Patients leave only when their next fill falls past the horizon; their rows are
    then dropped (`compact`) so that every later step works on contiguous arrays."""

    def __init__(self, **arrays: NDArray[Any]) -> None:
        self.__dict__.update(arrays)

    def compact(self, keep: NDArray[np.bool_]) -> None:
        for name, values in self.__dict__.items():
            self.__dict__[name] = values[keep]


def reference_block(
    params: FleetParameters, seed: int, block: int, size: int, years: float
) -> dict[str, NDArray[Any]]:
    """The outcome arrays of `fleet_model.simulate_block` (same keys as its
    `BlockOutcome` fields), computed with whole-array numpy expressions."""
    rng = block_generator(seed, block)
    pop = block_population(params, block, size, rng)
    record = True
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
    at_hour = cumulative(x, y, daily, np.full(n, hour))
    w = _Working(
        row=np.arange(n),
        pump=p,
        cap=cap,
        empty=empty,
        min_rate=pc.minimum_rate[p],
        idle=idle,
        per_ml=per_ml,
        eri_level=pc.eri_level[p],
        eos_gap=pc.eos_after_eri_days[p],
        x=x,
        y=y,
        daily=daily,
        yb=idle[:, None] * x + per_ml[:, None] * y,  # battery use since midnight, same breaks
        daily_b=idle + per_ml * daily,
        at_hour=at_hour,
        low_after=time_to_reach(x, y, daily, at_hour + cap - thr),
        empty_after=time_to_reach(x, y, daily, at_hour + cap - empty),
        alarm_after=time_to_reach(pop.worst_x, pop.worst_y, pop.worst_y[:, -1], cap - thr),
        stability=pop.stability_days,
        first_fill_days=pop.first_fill_days,
        # state
        t0=np.full(n, hour),
        charge=pop.charge.copy(),
        factor=pop.factor.copy(),
        dry_at=np.zeros(n),
        eri=np.full(n, np.inf),
        eos=np.full(n, np.inf),
        repl=np.full(n, np.inf),
        first_fill=np.zeros(n, dtype=bool),
        # tallies
        refills=np.zeros(n, dtype=np.int64),
        replacements=np.zeros(n, dtype=np.int64),
        dry_events=np.zeros(n, dtype=np.int64),
        intervals=np.zeros(n, dtype=np.int64),
        dry_intervals=np.zeros(n, dtype=np.int64),
        alarm_days=np.zeros(n),
        no_drug=np.zeros(n),
        eos_days=np.zeros(n),
        programmed=np.zeros(n),
        delivered=np.zeros(n),
        first_eri=np.full(n, np.nan),
    )
    tallies = (
        "refills", "replacements", "dry_events", "intervals", "dry_intervals", "alarm_days",
        "no_drug", "eos_days", "programmed", "delivered", "first_eri",
    )  # fmt: skip
    done: dict[str, NDArray[Any]] = {name: np.copy(getattr(w, name)) for name in tallies}

    def dry_after(rows: NDArray[np.bool_] | slice, factor: F64) -> F64:
        """Day offset from a fill's day at which the true reservoir is empty."""
        volume = w.cap[rows] / factor
        limit = w.cap[rows] - w.empty[rows]
        early = time_to_reach(
            w.x[rows], w.y[rows], w.daily[rows], w.at_hour[rows] + np.minimum(volume, limit)
        )
        late = w.empty_after[rows] + (volume - limit) / w.min_rate[rows]
        return np.where(volume <= limit, early, late)

    w.dry_at = dry_after(slice(None), w.factor)
    refills_month = np.zeros(months, dtype=np.int64)
    repl_month = np.zeros(months, dtype=np.int64)
    draws: list[F64] = []

    while w.row.size:
        # Draws for the patients still inside the horizon, in patient order: which
        # patients those are depends only on the block, so the stream is reproducible.
        u = rng.random((N_DRAWS, w.row.size))
        if record:
            full = np.full((N_DRAWS, n), np.nan)
            full[:, w.row] = u
            draws.append(full)
        start = w.t0
        day0 = np.floor(start)
        F, E, m = w.cap, w.empty, w.min_rate

        # -- the clinic books the next refill from this fill
        stability = np.where(w.first_fill, w.first_fill_days, w.stability)
        booked = booked_visit(start, w.alarm_after, stability, params.booking_margin_days, hour)
        planned = booked + attendance_delay_days(params, u[0], u[1], u[2])

        # -- closed-form moments of this fill (before any end of service)
        t_low = day0 + w.low_after
        t_empty = day0 + w.empty_after
        t_dry = day0 + w.dry_at

        # -- the battery: the first hourly self-check at or after the ERI crossing
        has_eri = np.isfinite(w.eri)
        need = w.charge - w.eri_level
        used_by_start = day0 * w.daily_b + w.idle * hour + w.per_ml * w.at_hour
        cross = time_to_reach(w.x, w.yb, w.daily_b, used_by_start + need)
        used_at_empty = w.idle * (t_empty - start) + w.per_ml * (F - E)
        cross = np.where(
            cross <= t_empty, cross, t_empty + (need - used_at_empty) / (w.idle + w.per_ml * m)
        )
        seen = np.ceil(cross * HOURS - 1e-7) / HOURS
        replacement_days = params.replacement_delay_days_min + np.floor(
            u[6] * (params.replacement_delay_days_max - params.replacement_delay_days_min + 1)
        )
        eri_p = np.where(has_eri, w.eri, seen)
        eos_p = np.where(has_eri, w.eos, seen + w.eos_gap)
        repl_p = np.where(has_eri, w.repl, np.floor(seen) + replacement_days + hour)

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
        c_stop = cumulative(w.x, w.y, w.daily, np.minimum(stop, t_empty))
        prog = np.where(
            stop <= t_empty,
            c_stop - (day0 * w.daily + w.at_hour),
            (F - E) + m * np.maximum(stop - t_empty, 0.0),
        )
        w.programmed += prog
        w.delivered += np.minimum(w.factor * prog, F)
        w.alarm_days += np.maximum(end - t_low, 0.0)
        w.dry_events += t_dry < end
        w.no_drug += np.maximum(end - np.minimum(t_dry, eos_p), 0.0)
        w.eos_days += np.maximum(end - eos_p, 0.0)
        complete = t_next <= horizon
        w.intervals += complete
        w.dry_intervals += complete & (t_dry < t_next)
        seen_in = new_eri & (eri_p < horizon) & np.isnan(w.first_eri)
        w.first_eri[seen_in] = eri_p[seen_in]
        month = np.minimum((t_next / DAYS_PER_MONTH).astype(np.int64), months - 1)
        counted_refill = complete & is_refill
        counted_repl = complete & ~is_refill
        w.refills += counted_refill
        w.replacements += counted_repl
        refills_month += np.bincount(month[counted_refill], minlength=months)
        repl_month += np.bincount(month[counted_repl], minlength=months)

        # -- the next fill: same pump refilled, or a new pump
        w.charge = np.where(
            is_refill, w.charge - (w.idle * (t_next - start) + w.per_ml * prog), 1.0
        )
        w.eri = np.where(new_eri, eri_p, w.eri)
        w.eos = np.where(new_eri, eos_p, w.eos)
        w.repl = np.where(new_eri, repl_p, w.repl)
        swap = ~is_refill
        if swap.any():
            w.factor[swap] = accuracy_factor_units(params, w.pump[swap], u[7][swap]) / FACTOR_STEP
            w.dry_at[swap] = dry_after(swap, w.factor[swap])
            w.eri[swap] = w.eos[swap] = w.repl[swap] = np.inf
        w.first_fill = swap
        w.t0 = t_next
        # A patient whose next fill is past the horizon is finished: its tallies are
        # final now. Its row is dropped at the next compaction (rows are compacted in
        # batches; a finished row's later draws and sums are never used).
        inside = t_next < horizon
        leaving = ~inside & (start < horizon)
        if leaving.any():
            for name in tallies:
                done[name][w.row[leaving]] = getattr(w, name)[leaving]
            remaining = int(inside.sum())
            if remaining <= 0.8 * inside.size:
                w.compact(inside)

    return {
        "refills": done["refills"],
        "replacements": done["replacements"],
        "dry_events": done["dry_events"],
        "intervals": done["intervals"],
        "dry_intervals": done["dry_intervals"],
        "low_alarm_days": done["alarm_days"],
        "no_drug_days": done["no_drug"],
        "end_of_service_days": done["eos_days"],
        "programmed_volume": done["programmed"],
        "delivered_volume": done["delivered"],
        "first_eri_day": done["first_eri"],
        "refills_by_month": refills_month,
        "replacements_by_month": repl_month,
        "draws": draws,
    }
