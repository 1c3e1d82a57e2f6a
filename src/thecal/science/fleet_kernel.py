"""The fleet model's inner step, compiled: one fill interval for every row of a block.

`fleet_model` keeps the block's patients as rows of a few float64 matrices (per-patient
constants, the state at the current fill, the running tallies; the day tables) and, for
each fill interval, calls `draw_no_shows` and then `step`, which work out the interval
for every row (in chunks, two passes each): the same formulas, in the same order and
with the same IEEE double arithmetic, as the whole-array numpy model they replace, so
results are identical to the last bit (`tests/science/test_fleet_kernel.py`;
`docs/science.md`, "Speed"). The interval's uniforms are numpy's, drawn here
(`fleet_random`). Where numpy computes differently from the C library, numpy/scipy
keep the last word: a missed-appointment count that is nearly whole is recounted with
numpy's ``log1p``, and a new pump's accuracy factor comes from scipy's normal quantile
(both in `fleet_model`).

Compiled with numba (``cache=True``: the first use on a machine compiles, about 7 s,
and stores the machine code next to this file, or in numba's cache directory; later
processes load it). The cache follows this file only: after editing `fleet_random`,
touch this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from thecal.science.fleet_random import as_double, fill_bank, next_state
from thecal.science.fleet_random import bank as random_bank

__all__ = [
    "CONSTANT_COLUMNS",
    "N_RULES",
    "RULE_NAMES",
    "STATE_COLUMNS",
    "TALLY_COLUMNS",
    "compact",
    "dry_after",
    "step",
]

F64 = NDArray[np.float64]

# Per-patient constants (one row per patient).
CONSTANT_COLUMNS = (
    "cap", "empty", "min_rate", "idle", "per_ml", "eri_level", "eos_gap", "daily", "daily_b",
    "at_hour", "low_after", "empty_after", "alarm_after", "stability", "first_fill_days",
    "days_per_charge",
)  # fmt: skip
CAP, EMPTY, MIN_RATE, IDLE, PER_ML, ERI_LEVEL, EOS_GAP, DAILY, DAILY_B = range(9)
AT_HOUR, LOW_AFTER, EMPTY_AFTER, ALARM_AFTER, STABILITY, FIRST_FILL_DAYS = range(9, 15)
DAYS_PER_CHARGE = 15

# The state at the current fill (first_fill is 0.0 or 1.0).
STATE_COLUMNS = ("t0", "charge", "factor", "dry_at", "eri", "eos", "repl", "first_fill")
T0, CHARGE, FACTOR, DRY_AT, ERI, EOS, REPL, FIRST_FILL = range(8)

# Running tallies; the counts are whole numbers held exactly in float64.
TALLY_COLUMNS = (
    "refills", "replacements", "dry_events", "intervals", "dry_intervals", "alarm_days",
    "no_drug", "eos_days", "programmed", "delivered", "first_eri",
)  # fmt: skip
REFILLS, REPLACEMENTS, DRY_EVENTS, INTERVALS, DRY_INTERVALS = range(5)
ALARM_DAYS, NO_DRUG, EOS_DAYS, PROGRAMMED, DELIVERED, FIRST_ERI = range(5, 11)

# The clinic's and the patients' rules (`FleetParameters`), as float64.
RULE_NAMES = (
    "horizon", "hour", "booking_margin_days", "delay_probability", "delay_days_max",
    "rebook_days", "report_visit_days_max", "low_alarm_report_probability",
    "empty_alarm_report_probability", "replacement_delay_days_min", "replacement_days_span",
    "months", "days_per_month",
)  # fmt: skip
N_RULES = len(RULE_NAMES)
HORIZON, HOUR, MARGIN, DELAY_P, DELAY_MAX, REBOOK, REPORT_MAX = range(7)
LOW_REPORT_P, EMPTY_REPORT_P, REPL_MIN, REPL_SPAN, MONTHS, DAYS_PER_MONTH = range(7, 13)

HOURS = 24.0

N_DRAWS = 8  # fleet_model.DRAW_NAMES

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def _cumulative(x: F64, y: F64, r: int, daily: float, t: float) -> float:
    """`fleet_model.cumulative` for row `r`."""
    whole = np.floor(t)
    tau = t - whole
    m = x.shape[1]
    j = 0
    for k in range(1, m):
        j += x[r, k] <= tau
    j = min(j, m - 2)
    x0, x1, y0, y1 = x[r, j], x[r, j + 1], y[r, j], y[r, j + 1]
    return whole * daily + y0 + (y1 - y0) * (tau - x0) / (x1 - x0)


@_jit
def _time_to_reach(x: F64, y: F64, r: int, daily: float, volume: float) -> float:
    """`fleet_model.time_to_reach` for row `r`."""
    whole = np.floor(volume / daily)
    rest = volume - whole * daily
    m = y.shape[1]
    j = 0
    for k in range(1, m):
        j += y[r, k] < rest
    j = min(j, m - 2)
    x0, x1, y0, y1 = x[r, j], x[r, j + 1], y[r, j], y[r, j + 1]
    span = y1 - y0 if y1 > y0 else 1.0
    tau = x0 + (x1 - x0) * (rest - y0) / span if rest > y0 else x0
    return whole + tau


@_jit
def fill_moments(
    x: F64,
    y: F64,
    daily: F64,
    worst_x: F64,
    worst_y: F64,
    cap: F64,
    threshold: F64,
    empty: F64,
    hour: float,
) -> tuple[F64, F64, F64, F64]:
    """Per row, the moments of a fill at the visit hour that are the same every day
    (`fleet_model.cumulative` and `time_to_reach` for each row, in the same order):
    volume programmed by the visit hour since midnight, and the day offsets of the
    low-reservoir and empty alarms and of the clinic's worst-case low-reservoir alarm."""
    n = x.shape[0]
    at_hour, low_after = np.empty(n), np.empty(n)
    empty_after, alarm_after = np.empty(n), np.empty(n)
    for r in range(n):
        at = _cumulative(x, y, r, daily[r], hour)
        at_hour[r] = at
        low_after[r] = _time_to_reach(x, y, r, daily[r], at + cap[r] - threshold[r])
        empty_after[r] = _time_to_reach(x, y, r, daily[r], at + cap[r] - empty[r])
        worst_daily = worst_y[r, worst_y.shape[1] - 1]
        alarm_after[r] = _time_to_reach(worst_x, worst_y, r, worst_daily, cap[r] - threshold[r])
    return at_hour, low_after, empty_after, alarm_after


@_jit
def dry_after(const: F64, state: F64, x: F64, y: F64, rows: NDArray[np.int64]) -> None:
    """Set `dry_at` (day offset from a fill's day at which the true reservoir is empty)
    of `rows` from their accuracy factor."""
    for r in rows:
        cap = const[r, CAP]
        volume = cap / state[r, FACTOR]
        limit = cap - const[r, EMPTY]
        if volume <= limit:
            at = _time_to_reach(x, y, r, const[r, DAILY], const[r, AT_HOUR] + min(volume, limit))
        else:
            at = const[r, EMPTY_AFTER] + (volume - limit) / const[r, MIN_RATE]
        state[r, DRY_AT] = at


# What `_next_fill` leaves for `_tally`, per row (NEW_ERI is NaN unless ERI is first
# seen in this interval, before its next fill).
N_MOMENTS = 10
START, LOW, DRY, NEXT, NEW_ERI, EOS_P, REPL_P, KIND, STOP, DRAW_7 = range(N_MOMENTS)
FINISHED, REFILL, REPLACEMENT = 0.0, 1.0, 2.0
CHUNK = 1024  # rows per pass


@_jit
def _next_fill(
    rules: F64,
    const: F64,
    state: F64,
    yb: F64,
    x: F64,
    streams: NDArray[np.uint64],
    missed_rows: NDArray[np.int64],
    missed: F64,
    k_missed: int,
    lo: int,
    moments: F64,
) -> int:
    """The moments of this fill interval and when and how it ends, for the rows from
    `lo` (as many as `moments` holds), drawing each row's draws 1 to 7 from the seven
    `streams` (moved on); returns where the next chunk's search of `missed_rows`
    starts."""
    horizon, hour, margin = rules[HORIZON], rules[HOUR], rules[MARGIN]
    delay_p, delay_max, rebook = rules[DELAY_P], rules[DELAY_MAX], rules[REBOOK]
    report_max, low_p, empty_p = rules[REPORT_MAX], rules[LOW_REPORT_P], rules[EMPTY_REPORT_P]
    repl_min, repl_span = rules[REPL_MIN], rules[REPL_SPAN]
    inf = np.inf
    # The seven streams (one per draw, all with the generator's increment) stay in
    # registers: their multiplications overlap the row's arithmetic.
    inc_hi, inc_lo = streams[0, 2], streams[0, 3]
    h1, l1, h2, l2 = streams[0, 0], streams[0, 1], streams[1, 0], streams[1, 1]
    h3, l3, h4, l4 = streams[2, 0], streams[2, 1], streams[3, 0], streams[3, 1]
    h5, l5, h6, l6 = streams[4, 0], streams[4, 1], streams[5, 0], streams[5, 1]
    h7, l7 = streams[6, 0], streams[6, 1]
    for i in range(moments.shape[0]):
        h1, l1 = next_state(h1, l1, inc_hi, inc_lo)
        h2, l2 = next_state(h2, l2, inc_hi, inc_lo)
        h3, l3 = next_state(h3, l3, inc_hi, inc_lo)
        h4, l4 = next_state(h4, l4, inc_hi, inc_lo)
        h5, l5 = next_state(h5, l5, inc_hi, inc_lo)
        h6, l6 = next_state(h6, l6, inc_hi, inc_lo)
        h7, l7 = next_state(h7, l7, inc_hi, inc_lo)
        r = lo + i
        start = state[r, T0]
        moments[i, START] = start
        if not start < horizon:
            # Finished at an earlier step, not yet compacted away: its draws are unused.
            moments[i, KIND] = FINISHED
            continue
        u1, u2, u3 = as_double(h1, l1), as_double(h2, l2), as_double(h3, l3)
        u4, u5, u6 = as_double(h4, l4), as_double(h5, l5), as_double(h6, l6)
        moments[i, DRAW_7] = as_double(h7, l7)  # the new pump's accuracy, if one comes
        day0 = np.floor(start)

        # -- the clinic books the next refill from this fill (`booked_visit`)
        first = state[r, FIRST_FILL] != 0.0
        stability = const[r, FIRST_FILL_DAYS] if first else const[r, STABILITY]
        by = start + min(const[r, ALARM_AFTER], stability)
        booked = max(np.floor(by) - margin, np.floor(start) + 1) + hour
        # -- attendance (`attendance_delay_days`); `missed_rows` ends with a sentinel
        while missed_rows[k_missed] < r:
            k_missed += 1
        misses = missed[k_missed] if missed_rows[k_missed] == r else 0.0
        postponed_days = 1 + np.floor(u2 * delay_max)
        postponed = postponed_days if u1 < delay_p else 0.0
        planned = booked + (misses * rebook + postponed)

        # -- closed-form moments of this fill (before any end of service)
        t_low = day0 + const[r, LOW_AFTER]
        t_empty = day0 + const[r, EMPTY_AFTER]
        t_dry = day0 + state[r, DRY_AT]

        # -- patients who hear an alarm may call and be refilled early
        report_days = 1 + np.floor(u5 * report_max)
        calls_low = u3 < low_p
        calls_empty = u4 < empty_p
        call_low = np.floor(t_low) + report_days + hour
        call_empty = np.floor(t_empty) + report_days + hour
        visit = min(planned, call_low if calls_low else inf)
        visit = min(visit, call_empty if calls_empty else inf)

        # -- the battery: the first hourly self-check at or after the ERI crossing
        has_eri = state[r, ERI] < inf
        if has_eri:
            eri_p, eos_p, repl_p = state[r, ERI], state[r, EOS], state[r, REPL]
        else:
            need = state[r, CHARGE] - const[r, ERI_LEVEL]
            if start + need * const[r, DAYS_PER_CHARGE] > visit + 2.0:
                # Over any L days the pump uses at most (L + 1) days' worth of charge at
                # its fastest average rate, so the crossing is more than a day after this
                # visit (a day's margin for rounding): ERI, end of service and the
                # replacement all come after the next fill and change nothing here.
                eri_p = eos_p = repl_p = inf
            else:
                cap, empty, m = const[r, CAP], const[r, EMPTY], const[r, MIN_RATE]
                idle, per_ml, daily_b = const[r, IDLE], const[r, PER_ML], const[r, DAILY_B]
                used_by_start = day0 * daily_b + idle * hour + per_ml * const[r, AT_HOUR]
                cross = _time_to_reach(x, yb, r, daily_b, used_by_start + need)
                if not cross <= t_empty:
                    used_at_empty = idle * (t_empty - start) + per_ml * (cap - empty)
                    cross = t_empty + (need - used_at_empty) / (idle + per_ml * m)
                seen = np.ceil(cross * HOURS - 1e-7) / HOURS
                eri_p = seen
                eos_p = seen + const[r, EOS_GAP]
                repl_p = np.floor(seen) + (repl_min + np.floor(u6 * repl_span)) + hour

        if eos_p < inf:
            # -- what happens before end of service; the visit again, without alarms
            # that end of service silences, and never after it (a dead pump waits for
            # its replacement)
            if not t_low < eos_p:
                t_low = inf
            t_empty_c = t_empty if t_empty < eos_p else inf
            if not t_dry < eos_p:
                t_dry = inf
            visit = planned
            if t_low < inf and calls_low:
                visit = min(visit, np.floor(t_low) + report_days + hour)
            if t_empty_c < inf and calls_empty:
                visit = min(visit, np.floor(t_empty_c) + report_days + hour)
            if not visit < eos_p:
                visit = inf
        t_next = min(visit, repl_p)
        new_eri = (not has_eri) and eri_p < t_next
        moments[i, LOW] = t_low
        moments[i, DRY] = t_dry
        moments[i, NEXT] = t_next
        moments[i, NEW_ERI] = eri_p if new_eri else np.nan
        moments[i, EOS_P] = eos_p
        moments[i, REPL_P] = repl_p
        moments[i, KIND] = REFILL if visit < repl_p else REPLACEMENT
        moments[i, STOP] = min(min(t_next, horizon), eos_p)
    streams[0, 0], streams[0, 1], streams[1, 0], streams[1, 1] = h1, l1, h2, l2
    streams[2, 0], streams[2, 1], streams[3, 0], streams[3, 1] = h3, l3, h4, l4
    streams[4, 0], streams[4, 1], streams[5, 0], streams[5, 1] = h5, l5, h6, l6
    streams[6, 0], streams[6, 1] = h7, l7
    return k_missed


@_jit
def _tally(
    rules: F64,
    const: F64,
    state: F64,
    tally: F64,
    x: F64,
    y: F64,
    lo: int,
    moments: F64,
    row: NDArray[np.int64],
    done: F64,
    inside: NDArray[np.bool_],
    swapped: NDArray[np.int64],
    swapped_draw: F64,
    counts: NDArray[np.int64],
    refills_month: NDArray[np.int64],
    replacements_month: NDArray[np.int64],
) -> None:
    """Tally the interval of the rows from `lo` up to their next fill (or the horizon),
    and move on to that fill; `counts` adds up rows inside, leaving and swapped."""
    horizon, per_month = rules[HORIZON], rules[DAYS_PER_MONTH]
    months = int(rules[MONTHS])
    n_inside, n_leaving, n_swapped = counts[0], counts[1], counts[2]
    inf = np.inf
    for i in range(moments.shape[0]):
        r = lo + i
        kind = moments[i, KIND]
        if kind == FINISHED:
            inside[r] = False
            continue
        start, t_next, stop = moments[i, START], moments[i, NEXT], moments[i, STOP]
        t_low, t_dry, eos_p = moments[i, LOW], moments[i, DRY], moments[i, EOS_P]
        day0 = np.floor(start)
        t_empty = day0 + const[r, EMPTY_AFTER]
        cap, empty, m = const[r, CAP], const[r, EMPTY], const[r, MIN_RATE]
        end = min(t_next, horizon)
        if stop <= t_empty:
            daily = const[r, DAILY]
            prog = _cumulative(x, y, r, daily, stop) - (day0 * daily + const[r, AT_HOUR])
        else:
            prog = (cap - empty) + m * max(stop - t_empty, 0.0)
        tally[r, PROGRAMMED] += prog
        tally[r, DELIVERED] += min(state[r, FACTOR] * prog, cap)
        tally[r, ALARM_DAYS] += max(end - t_low, 0.0)
        tally[r, DRY_EVENTS] += t_dry < end
        tally[r, NO_DRUG] += max(end - min(t_dry, eos_p), 0.0)
        tally[r, EOS_DAYS] += max(end - eos_p, 0.0)
        is_refill = kind == REFILL
        if t_next <= horizon:  # a complete interval
            tally[r, INTERVALS] += 1.0
            tally[r, DRY_INTERVALS] += t_dry < t_next
            month = min(int(t_next / per_month), months - 1)
            if is_refill:
                tally[r, REFILLS] += 1.0
                refills_month[month] += 1
            else:
                tally[r, REPLACEMENTS] += 1.0
                replacements_month[month] += 1

        new_eri = moments[i, NEW_ERI]
        if new_eri < horizon and np.isnan(tally[r, FIRST_ERI]):
            tally[r, FIRST_ERI] = new_eri

        # -- the next fill: same pump refilled, or a new pump
        if is_refill:
            state[r, CHARGE] -= const[r, IDLE] * (t_next - start) + const[r, PER_ML] * prog
            if new_eri == new_eri:  # not NaN
                state[r, ERI], state[r, EOS], state[r, REPL] = new_eri, eos_p, moments[i, REPL_P]
            state[r, FIRST_FILL] = 0.0
        else:
            state[r, CHARGE] = 1.0
            state[r, ERI] = state[r, EOS] = state[r, REPL] = inf
            state[r, FIRST_FILL] = 1.0
            swapped[n_swapped] = r
            swapped_draw[n_swapped] = moments[i, DRAW_7]
            n_swapped += 1
        state[r, T0] = t_next
        # A patient whose next fill is past the horizon is finished: its tallies are final.
        if t_next < horizon:
            inside[r] = True
            n_inside += 1
        else:
            inside[r] = False
            n_leaving += 1
            for c in range(tally.shape[1]):
                done[row[r], c] = tally[r, c]
    counts[0], counts[1], counts[2] = n_inside, n_leaving, n_swapped


@_jit
def draw_no_shows(
    stream: NDArray[np.uint64],
    size: int,
    q: float,
    log_q: float,
    max_no_shows: float,
    tolerance: float,
) -> tuple[NDArray[np.uint64], NDArray[np.int64], F64, NDArray[np.int64]]:
    """Open this step's stretch of the stream (`fleet_random.bank`: one stream per draw,
    and where the stretch ends) and use draw 0 of every row: the missed appointments,
    as `fleet_model.attendance_delay_days` counts them, ``min(floor(log1p(-u) /
    log(q)), max)``. Only rows with ``u >= 1 - q - 1e-9`` can miss one. Returns the
    bank, those rows (then a sentinel, `size`), their counts, and which of them have
    a quotient within `tolerance` (relative) of a whole number: numpy's ``log1p`` may
    differ from the one here in the last bits, so the caller recounts those with numpy
    (with a tolerance of 1e-9, in practice there are none)."""
    bank = random_bank(stream, N_DRAWS, size)
    # Draw 0 of every row: the stream's first `size` numbers, in four pieces side by side.
    part = (size + 3) // 4
    pieces = random_bank(bank[0], 4, part)
    draws = np.empty((4, part))
    fill_bank(pieces[:4], draws, 0, part)
    u = draws.reshape((1, 4 * part))
    bound = (1 - q) - 1e-9
    rows = np.empty(size + 1, dtype=np.int64)
    misses = np.zeros(size + 1)
    unsure = np.empty(size, dtype=np.int64)
    k = n_unsure = 0
    if q > 0:
        for r in range(size):
            if u[0, r] >= bound:
                v = np.log1p(-u[0, r]) / log_q
                f = np.floor(v)
                if min(v - f, f + 1 - v) < tolerance * max(1.0, v):
                    unsure[n_unsure] = k
                    n_unsure += 1
                rows[k] = r
                misses[k] = min(f, max_no_shows)
                k += 1
    rows[k] = size
    return bank, rows[: k + 1], misses[: k + 1], unsure[:n_unsure]


@_jit
def step(
    rules: F64,
    const: F64,
    state: F64,
    tally: F64,
    x: F64,
    y: F64,
    yb: F64,
    streams: NDArray[np.uint64],
    missed_rows: NDArray[np.int64],
    missed: F64,
    row: NDArray[np.int64],
    done: F64,
    inside: NDArray[np.bool_],
    swapped: NDArray[np.int64],
    swapped_draw: F64,
    refills_month: NDArray[np.int64],
    replacements_month: NDArray[np.int64],
) -> tuple[int, int, int]:
    """One fill interval for every row still inside the horizon.

    Draws 1 to 7 (`fleet_model.DRAW_NAMES`) come from the seven rows of `streams`
    (`fleet_random.bank`: where draw d of the first row lies in the block's stream),
    one number per row each; draw 0 has been used already: `missed[k]` is the number
    of missed appointments of row `missed_rows[k]` (ascending, then a sentinel not less
    than the number of rows), and every other row missed none. Rows whose next fill
    falls past the horizon copy their tallies to `done[row]`. Fills `inside` (next fill
    inside the horizon) and the first entries of `swapped` (rows that got a new pump)
    and `swapped_draw` (their draw 7: the accuracy factor and `dry_at` are left to the
    caller). Returns (rows inside, rows leaving now, rows swapped).

    Rows go in chunks, each in two passes (when and how each interval ends, then the
    tallies): shorter chains of dependent arithmetic per row than one pass, which the
    processor overlaps better, with the chunk's draws and scratch kept in cache."""
    n = state.shape[0]
    size = min(n, CHUNK)
    moments = np.empty((size, N_MOMENTS))
    counts = np.zeros(3, dtype=np.int64)
    k_missed = 0
    for lo in range(0, n, CHUNK):
        m = min(CHUNK, n - lo)
        scratch = moments[:m]
        k_missed = _next_fill(
            rules, const, state, yb, x, streams, missed_rows, missed, k_missed, lo, scratch
        )
        _tally(
            rules,
            const,
            state,
            tally,
            x,
            y,
            lo,
            scratch,
            row,
            done,
            inside,
            swapped,
            swapped_draw,
            counts,
            refills_month,
            replacements_month,
        )
    return counts[0], counts[1], counts[2]


@_jit
def compact(
    keep: NDArray[np.bool_],
    row: NDArray[np.int64],
    pump: NDArray[np.int8],
    const: F64,
    state: F64,
    tally: F64,
    x: F64,
    y: F64,
    yb: F64,
) -> int:
    """Move the rows to keep to the front, in order (in place); returns how many."""
    k = 0
    for r in range(keep.shape[0]):
        if keep[r]:
            if k != r:
                row[k] = row[r]
                pump[k] = pump[r]
                const[k] = const[r]
                state[k] = state[r]
                tally[k] = tally[r]
                x[k] = x[r]
                y[k] = y[r]
                yb[k] = yb[r]
            k += 1
    return k
