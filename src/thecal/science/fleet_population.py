"""Seeded virtual patients for the fleet simulation, as numpy arrays.

The fleet is cut into blocks of `BLOCK_SIZE` patients; block `b` holds patients
``b * BLOCK_SIZE ...`` and draws everything (the patients here, then their refill
attendance in `fleet_model`) from its own generator,
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(b,)))``. The block size is
fixed, never a function of the number of workers, so a patient's draws, and hence
the results, are the same however the blocks are spread over processes or machines.

What each patient gets (parameters in ``data/fleet.toml``):

* a pump model (capacity, alarm threshold, empty level, minimum rate, battery from
  the pump model and the twin's device profile), a fixed accuracy factor (true /
  programmed volume, truncated normal within the model's accuracy band) and a
  battery part-way through its life (the stationary age of a renewing fleet:
  uniform over the life to ERI);
* a drug, a daily dose (log-normal, clipped, rounded down to a dose step), the
  lowest library concentration that keeps the volume at or below the clinic's
  daily maximum, a daily schedule (continuous or flex) and, for some, patient
  boluses with a habitual number used each day at fixed times.

The day's programmed volume is a table per patient: breakpoints ``day_x`` (fraction
of the local day) and cumulative volume ``day_y`` (mL), built from
`thecal.therapy.delivery.day_profile` of each schedule template; `prescription_of`
gives the exact `Prescription` the pump twin runs for the same patient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from thecal.pump.profiles import device_profile
from thecal.science.fleet_parameters import FleetParameters, ScheduleTemplate
from thecal.therapy.delivery import day_profile
from thecal.therapy.library import default_library
from thecal.therapy.prescription import FlexStep, Mode, PatientBolus, Prescription
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass

__all__ = [
    "BLOCK_SIZE",
    "AccuracyDistribution",
    "FleetPopulation",
    "PumpConstants",
    "accuracy_factor_units",
    "block_count",
    "block_generator",
    "block_population",
    "prescription_of",
    "pump_constants",
    "schedule_day_fractions",
]

BLOCK_SIZE = 32768
"""Patients per seeded block. Part of the random stream: changing it changes results."""

CHARGE_STEP = 1_000_000  # the starting battery charge is a multiple of 1e-6
FACTOR_STEP = 10_000  # the accuracy factor is a multiple of 1e-4

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def block_count(patients: int) -> int:
    """How many blocks `patients` patients fill."""
    return -(-patients // BLOCK_SIZE)


def block_generator(seed: int, block: int) -> np.random.Generator:
    """The generator of one block: independent of how blocks are scheduled."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


@dataclass(frozen=True)
class PumpConstants:
    """Per pump model of the mix (index = `FleetPopulation.pump`): capability and battery,
    all from `thecal.therapy.pump_models` and `thecal.pump.profiles` (the same battery
    model `project_battery` and the twin's hardware use)."""

    ids: tuple[str, ...]
    capacity: F64  # mL
    low_threshold: F64  # mL, the model's default low-reservoir alarm
    empty_level: F64  # mL, where the firmware's empty alarm drops to the minimum rate
    minimum_rate: F64  # mL/day
    idle_per_day: F64  # fraction of battery capacity per day
    per_ml: F64  # fraction of battery capacity per programmed mL
    eri_level: F64
    eos_after_eri_days: F64
    band: F64  # accuracy band, fraction (0.145 = +-14.5 %)
    kind: tuple[str, ...]


@cache
def pump_constants(ids: tuple[str, ...]) -> PumpConstants:
    """Constants for the pump models `ids` (each must be programmable, with a battery)."""
    capacity, low, empty, minimum, idle, per_ml, eri, eos, band, kind = ([] for _ in range(10))
    for model_id in ids:
        profile = device_profile(model_id)
        battery = profile.battery
        if battery is None or not profile.model.programmable:
            raise ValueError(
                f"{model_id}: the fleet model needs a programmable pump with a battery"
            )
        model = profile.model
        capacity.append(float(model.reservoir.value.ml))
        low.append(float(model.default_low_reservoir_alarm.value.ml))
        empty.append(float(profile.empty_level.value.ml))
        minimum.append(float(model.minimum_rate.value.ml_per_day))
        idle.append(float(battery.idle_per_day))
        per_ml.append(float(battery.per_ml))
        eri.append(float(battery.eri_level.value))
        eos.append(float(battery.eos_after_eri.value.days))
        band.append(float(model.accuracy_percent.value / 100))
        kind.append(model.kind.value)
    arr = np.array
    return PumpConstants(
        ids,
        arr(capacity),
        arr(low),
        arr(empty),
        arr(minimum),
        arr(idle),
        arr(per_ml),
        arr(eri),
        arr(eos),
        arr(band),
        tuple(kind),
    )


@dataclass(frozen=True)
class FleetPopulation:
    """One block of virtual patients (arrays of length `size`, except the day tables)."""

    first: int  # global index of the first patient
    pump: NDArray[np.int8]  # index into params.pumps
    drug: NDArray[np.int8]  # index into params.drugs
    concentration_index: NDArray[np.int8]  # index into that drug's concentrations
    concentration: F64  # mcg/mL
    dose_units: I64  # daily dose = dose_units * dose_step (mcg/day)
    dose: F64  # mcg/day
    schedule: NDArray[np.int8]  # index into params.schedules
    bolus_units: I64  # patient-bolus dose in dose steps (0: no patient bolus)
    bolus_volume: F64  # mL per patient bolus
    uses: NDArray[np.int8]  # habitual patient boluses a day
    factor_units: I64  # accuracy factor = factor_units / FACTOR_STEP
    factor: F64  # true volume / programmed volume
    charge_units: I64  # battery charge at the start = charge_units / CHARGE_STEP
    charge: F64
    day_x: F64  # (size, m) breakpoints, fractions of the local day, 0 ... 1
    day_y: F64  # (size, m) programmed volume since local midnight at day_x (mL)
    daily_volume: F64  # mL/day programmed, habitual boluses included
    worst_x: F64  # (size, m) the clinic's worst case from a visit: day fractions after it
    worst_y: F64  # (size, m) ... and programmed volume since the visit (mL)
    stability_days: F64  # longest time a fill may stay in the pump (drug library)
    first_fill_days: F64  # the same for the first fill of a new pump

    @property
    def size(self) -> int:
        return int(self.pump.shape[0])


@cache
def schedule_day_fractions(
    template: ScheduleTemplate,
) -> tuple[tuple[int, ...], tuple[Fraction, ...]]:
    """Segment starts (s after midnight) and the cumulative fraction of the daily dose at
    each start and at midnight, from `day_profile` of a unit-dose prescription."""
    rx = _unit_prescription(template)
    profile = day_profile(rx)
    starts = tuple(segment.start for segment in profile.segments)
    cumulative = [Fraction(0)]
    for segment in profile.segments:
        cumulative.append(cumulative[-1] + segment.dose().amount)
    return starts, tuple(cumulative)


def _unit_prescription(template: ScheduleTemplate) -> Prescription:
    one = Concentration.from_mcg_per_ml(1)
    multipliers = template.multipliers()
    if len(multipliers) == 1:
        return Prescription("unit", one, Mode.SIMPLE_CONTINUOUS, rate=DoseRate(multipliers[0]))
    steps = tuple(
        FlexStep(start, DoseRate(m)) for start, m in zip(template.starts, multipliers, strict=True)
    )
    return Prescription("unit", one, Mode.FLEX, steps=steps)


def _patient_bolus(params: FleetParameters, units: int, step: Fraction) -> PatientBolus:
    return PatientBolus(
        Mass(units * step),
        Duration.from_minutes(params.bolus_duration_minutes),
        Duration.from_hours(params.bolus_lockout_hours),
        params.bolus_max_per_24h,
    )


def prescription_of(params: FleetParameters, population: FleetPopulation, j: int) -> Prescription:
    """The exact prescription of patient `j` of the block (for the pump twin)."""
    mix = params.drugs[int(population.drug[j])]
    template = params.schedules[int(population.schedule[j])]
    dose = int(population.dose_units[j]) * mix.dose_step
    concentration = mix.concentrations[int(population.concentration_index[j])]
    bolus = None
    if population.bolus_units[j] > 0:
        bolus = _patient_bolus(params, int(population.bolus_units[j]), mix.dose_step)
    multipliers = template.multipliers()
    if len(multipliers) == 1:
        return Prescription(
            mix.id,
            concentration,
            Mode.SIMPLE_CONTINUOUS,
            rate=DoseRate(dose * multipliers[0]),
            patient_bolus=bolus,
        )
    steps = tuple(
        FlexStep(start, DoseRate(dose * m))
        for start, m in zip(template.starts, multipliers, strict=True)
    )
    return Prescription(mix.id, concentration, Mode.FLEX, steps=steps, patient_bolus=bolus)


@dataclass(frozen=True)
class AccuracyDistribution:
    """Per pump model of the mix: the model's normal distribution of the accuracy factor
    (fleet.toml) and the cumulative probabilities of its accuracy band's ends."""

    mean: F64
    sd: F64
    lo_p: F64
    hi_p: F64

    @classmethod
    def of(cls, params: FleetParameters) -> AccuracyDistribution:
        pumps = pump_constants(tuple(p.id for p in params.pumps))
        mean = np.array([params.accuracy_mean[k] for k in pumps.kind])
        sd = np.array([params.accuracy_sd[k] for k in pumps.kind])
        band = pumps.band
        return cls(mean, sd, ndtr((-band - mean) / sd), ndtr((band - mean) / sd))

    def units(self, pump: NDArray[np.integer], u: F64) -> I64:
        """`accuracy_factor_units` for pumps of the models `pump`."""
        mean, sd, lo_p, hi_p = self.mean[pump], self.sd[pump], self.lo_p[pump], self.hi_p[pump]
        factor = 1 + mean + sd * ndtri(lo_p + u * (hi_p - lo_p))
        return np.rint(factor * FACTOR_STEP).astype(np.int64)


def accuracy_factor_units(params: FleetParameters, pump: NDArray[np.integer], u: F64) -> I64:
    """A pump's accuracy factor (true / programmed volume) in units of 1/FACTOR_STEP, from
    uniform draws `u`: the model's normal distribution (fleet.toml) truncated to the pump
    model's accuracy band, by inverse transform."""
    return AccuracyDistribution.of(params).units(pump, u)


def _weights(values: list[float]) -> NDArray[np.float64]:
    w = np.asarray(values, dtype=float)
    return w / w.sum()


def block_population(
    params: FleetParameters, block: int, size: int, rng: np.random.Generator
) -> FleetPopulation:
    """Draw the `size` patients of `block` from `rng` (the block's generator, which the
    model goes on drawing attendance from). The order of draws is fixed."""
    if size <= 0:
        raise ValueError("a block holds at least one patient")
    pumps = pump_constants(tuple(p.id for p in params.pumps))
    library = default_library()
    n = size
    pump = rng.choice(len(params.pumps), size=n, p=_weights([p.weight for p in params.pumps]))
    drug = rng.choice(len(params.drugs), size=n, p=_weights([d.weight for d in params.drugs]))
    z_dose = rng.standard_normal(n)
    u_schedule = rng.random(n)
    u_bolus = rng.random(n)
    uses_draw = rng.choice(
        len(params.uses_per_day_weights), size=n, p=_weights(list(params.uses_per_day_weights))
    )
    u_factor = rng.random(n)
    u_age = rng.random(n)

    dose_units = np.zeros(n, dtype=np.int64)
    conc_index = np.zeros(n, dtype=np.int8)
    concentration = np.zeros(n)
    schedule = np.zeros(n, dtype=np.int8)
    bolus_units = np.zeros(n, dtype=np.int64)
    stability = np.zeros(n)
    first_fill = np.zeros(n)
    limit_ml = float(params.max_daily_volume_ml)
    for d, mix in enumerate(params.drugs):
        mine = drug == d
        if not mine.any():
            continue
        step = float(mix.dose_step)
        raw = np.exp(math.log(mix.dose_median) + math.log(mix.dose_gsd) * z_dose[mine])
        lo = math.ceil(mix.dose_min / mix.dose_step)
        hi = math.floor(mix.dose_max / mix.dose_step)
        units = np.clip(np.floor(raw / step + 1e-9).astype(np.int64), lo, hi)
        strengths = np.array([float(c.mcg_per_ml) for c in mix.concentrations])
        # The lowest concentration that keeps the volume at or below the clinic's limit.
        fits = (units[:, None] * step) / strengths[None, :] <= limit_ml + 1e-12
        chosen = np.where(fits.any(axis=1), fits.argmax(axis=1), len(strengths) - 1)
        cap = np.floor(strengths[chosen] * limit_ml / step + 1e-9).astype(np.int64)
        units = np.minimum(units, cap)
        dose_units[mine] = units
        conc_index[mine] = chosen
        concentration[mine] = strengths[chosen]
        # Schedule template by the drug's weights.
        names = list(mix.schedule_weights)
        cdf = np.cumsum(_weights([mix.schedule_weights[k] for k in names]))
        pick = np.minimum(np.searchsorted(cdf, u_schedule[mine], side="right"), len(names) - 1)
        schedule[mine] = np.array([params.schedule_index(k) for k in names], dtype=np.int8)[pick]
        # Patient boluses: a fraction of the daily dose, within the library's limits.
        entry = library.get(mix.id)
        if mix.patient_bolus_probability > 0 and mix.bolus_fraction > 0:
            wanted = np.floor(units * float(mix.bolus_fraction) + 1e-9).astype(np.int64)
            if entry.bolus_dose_soft_max is not None:
                wanted = np.minimum(
                    wanted, math.floor(entry.bolus_dose_soft_max.value.amount / mix.dose_step)
                )
            count = _patient_bolus(params, 1, mix.dose_step).worst_case_count_per_24h()
            hard = math.floor(entry.daily_dose_hard_max.value.amount / mix.dose_step)
            wanted = np.minimum(wanted, np.maximum(0, (hard - units) // count))
            has = u_bolus[mine] < mix.patient_bolus_probability
            bolus_units[mine] = np.where(has, wanted, 0)
        for c_i, strength in enumerate(mix.concentrations):
            at = mine & (conc_index == c_i)
            stability[at] = float(entry.refill_limit(strength).value.days)
            first_fill[at] = float(entry.refill_limit(strength, first_fill=True).value.days)

    dose = dose_units * np.array([float(m.dose_step) for m in params.drugs])[drug]
    bolus_dose = bolus_units * np.array([float(m.dose_step) for m in params.drugs])[drug]
    bolus_volume = bolus_dose / concentration
    habits = min(len(params.habit_times), params.bolus_max_per_24h)
    uses = np.where(bolus_units > 0, np.minimum(uses_draw, habits), 0).astype(np.int8)

    factor_units = accuracy_factor_units(params, pump, u_factor)
    # Battery: stationary age, uniform over the life to ERI.
    eri = pumps.eri_level[pump]
    charge_units = np.floor((1 - u_age * (1 - eri)) * CHARGE_STEP).astype(np.int64)
    charge_units = np.maximum(charge_units, np.floor(eri * CHARGE_STEP).astype(np.int64) + 1)

    basal = dose / concentration
    habit = [[t.seconds for t in params.habit_times[:k]] for k in range(habits + 1)]
    day_x, day_y = _day_tables(params, schedule, basal, bolus_volume, uses, habit)
    # The clinic's worst case from a visit (as `prescription_pattern` counts it): every
    # patient bolus the settings allow in 24 hours, a lockout apart from the visit on.
    worst_case = _patient_bolus(params, 1, Fraction(1))
    lockout = int(worst_case.lockout.seconds)
    worst_starts = [[], [i * lockout for i in range(worst_case.worst_case_count_per_24h())]]
    has_bolus = (bolus_units > 0).astype(np.int8)
    visit = params.visit_hour * 3600
    worst_x, worst_y = _day_tables(
        params, schedule, basal, bolus_volume, has_bolus, worst_starts, origin=visit
    )
    return FleetPopulation(
        first=block * BLOCK_SIZE,
        pump=pump.astype(np.int8),
        drug=drug.astype(np.int8),
        concentration_index=conc_index,
        concentration=concentration,
        dose_units=dose_units,
        dose=dose,
        schedule=schedule,
        bolus_units=bolus_units,
        bolus_volume=bolus_volume,
        uses=uses,
        factor_units=factor_units,
        factor=factor_units / FACTOR_STEP,
        charge_units=charge_units,
        charge=charge_units / CHARGE_STEP,
        day_x=day_x,
        day_y=day_y,
        daily_volume=day_y[:, -1].copy(),
        worst_x=worst_x,
        worst_y=worst_y,
        stability_days=stability,
        first_fill_days=first_fill,
    )


def _day_tables(
    params: FleetParameters,
    schedule: NDArray[np.int8],
    basal_daily: F64,
    bolus_volume: F64,
    group: NDArray[np.int8],
    bolus_starts: list[list[int]],
    origin: int = 0,
) -> tuple[F64, F64]:
    """Per patient: breakpoints (fractions of a day from `origin` seconds after local
    midnight) and the cumulative programmed volume (mL) from `origin`, for the basal
    schedule plus patient boluses starting at `bolus_starts[group]` seconds after
    `origin`. Patients sharing a schedule and a group share breakpoints; rows are
    padded at the end with (1, daily volume)."""
    day = 86_400
    duration = params.bolus_duration_minutes * 60
    tables: dict[tuple[int, int], tuple[F64, F64, F64]] = {}
    for s_i, template in enumerate(params.schedules):
        starts, cumulative = schedule_day_fractions(template)
        xp = np.array([*starts, day], dtype=float)
        fp = np.array([float(c) for c in cumulative])

        def basal_from_midnight(seconds: F64, xp: F64 = xp, fp: F64 = fp) -> F64:
            whole = np.floor(seconds / day)
            return whole + np.interp(seconds - whole * day, xp, fp)

        for g, bolus in enumerate(bolus_starts):
            edges = sorted(
                {
                    0,
                    day,
                    *((s - origin) % day for s in starts),
                    *bolus,
                    *(b + duration for b in bolus),
                }
            )
            x = np.array([e for e in edges if e <= day], dtype=float)
            basal = basal_from_midnight(origin + x) - basal_from_midnight(np.array([float(origin)]))
            added = np.zeros_like(x)
            for b in bolus:
                added += np.clip((x - b) / duration, 0.0, 1.0)
            tables[(s_i, g)] = (x / day, basal, added)
    width = max(len(x) for x, _, _ in tables.values())
    n = schedule.shape[0]
    day_x = np.ones((n, width))
    day_y = np.zeros((n, width))
    for (s_i, g), (x, basal, added) in tables.items():
        rows = np.nonzero((schedule == s_i) & (group == g))[0]
        if rows.size == 0:
            continue
        m = x.shape[0]
        y = basal_daily[rows, None] * basal[None, :] + bolus_volume[rows, None] * added[None, :]
        day_x[rows, :m] = x[None, :]
        day_y[rows, :m] = y
        day_y[rows, m:] = y[:, -1:]
    return day_x, day_y
