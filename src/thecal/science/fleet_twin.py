"""Replay one fleet patient on the stroke-level pump twin: the fleet model's check.

The same patient (prescription, pump model, accuracy factor, battery charge) and the
same per-interval draws as `fleet_model.simulate_block(..., record=True)`; but here
the pump twin (`thecal.pump.PumpTwin`, one per pump the patient wears) moves the drug
stroke by stroke and raises its own alarms, the clinic books each refill with the
therapy core's `project_reservoir` (exact worst-case pattern, not the model's daily
average), patient boluses are real requests to the pump (which may refuse them), and
dry reservoirs, alarms, ERI and end of service are read from the twin's events. Slow
(seconds per patient-year): for tests and the documentation's validation table only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from thecal.pump import PumpTwin, SimulationMode
from thecal.pump.commands import Accepted, PatientBolusRequest, Role
from thecal.pump.faults import RateError
from thecal.pump.profiles import device_profile
from thecal.pump.twin import SimEvent
from thecal.science.fleet_model import DAYS_PER_YEAR, attendance_delay_days
from thecal.science.fleet_parameters import FleetParameters
from thecal.science.fleet_population import (
    CHARGE_STEP,
    FACTOR_STEP,
    FleetPopulation,
    accuracy_factor_units,
    prescription_of,
)
from thecal.therapy.library import default_library
from thecal.therapy.projection import prescription_pattern, project_reservoir

__all__ = ["ORIGIN", "TwinPatientOutcome", "replay_on_twin"]

ORIGIN = datetime(2026, 1, 5)  # local midnight of day 0 (any date: the pump has no calendar)


@dataclass(frozen=True)
class TwinPatientOutcome:
    """What the twins did for one patient over the horizon (volumes mL, times days)."""

    refills: int
    replacements: int
    dry_events: int
    low_alarm_days: float
    no_drug_days: float
    programmed_volume: float
    delivered_volume: float
    first_eri_day: float  # NaN if none
    boluses_granted: int
    boluses_refused: int


def _day(moment: datetime) -> float:
    return (moment - ORIGIN) / timedelta(days=1)


def _at(day: float) -> datetime:
    return ORIGIN + timedelta(microseconds=round(day * 86_400_000_000))


class _Log:
    """Collects the twin's alarms and hardware notes as (kind, day)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []

    def __call__(self, event: SimEvent) -> None:
        details = dict(event.details)
        if event.kind == "alarm_raised":
            self.events.append((details.get("alarm", ""), _day(event.time)))
        elif event.kind == "reservoir_ran_dry":
            self.events.append(("dry", _day(event.time)))

    def first(self, kind: str, after: float) -> float:
        times = [t for k, t in self.events if k == kind and t > after]
        return min(times) if times else math.inf


def replay_on_twin(
    params: FleetParameters,
    population: FleetPopulation,
    j: int,
    draws: list[np.ndarray],
    years: float,
    mode: SimulationMode = SimulationMode.STROKES,
) -> TwinPatientOutcome:
    """Run patient `j` of `population` for `years` on pump twins, consuming `draws[k][:, j]`
    for its k-th fill interval (from `simulate_block(..., record=True).draws`)."""
    rx = prescription_of(params, population, j)
    model_id = params.pumps[int(population.pump[j])].id
    profile = device_profile(model_id)
    assert profile.battery is not None
    eos_gap = float(profile.battery.eos_after_eri.value.days)
    capacity = profile.capacity
    threshold = profile.model.default_low_reservoir_alarm.value
    entry = default_library().get(rx.drug)
    horizon = years * DAYS_PER_YEAR
    hour = params.visit_hour / 24
    habit = [t.seconds / 86_400 for t in params.habit_times[: int(population.uses[j])]]

    def implant(day: float, charge: Fraction, factor: Fraction, log: _Log) -> PumpTwin:
        at = _at(day)
        return PumpTwin.implant(
            model_id,
            at,
            drug=rx.drug,
            concentration=rx.concentration,
            fill=capacity,
            prescription=rx,
            mode=mode,
            battery_charge=charge,
            faults=(RateError(at, None, factor),),
            observer=log,
        )

    log = _Log()
    start = hour
    twin = implant(
        start,
        Fraction(int(population.charge_units[j]), CHARGE_STEP),
        Fraction(int(population.factor_units[j]), FACTOR_STEP),
        log,
    )
    retired_programmed = retired_delivered = 0.0
    refills = replacements = dry = granted = refused = 0
    alarm_days = no_drug = 0.0
    first_eri = math.nan
    eri_day = eos_day = repl_day = math.inf
    first_fill = False

    def check_eri(log: _Log, repl_days: int) -> None:
        """Note the pump's ERI alarm once: end of service and the replacement follow."""
        nonlocal eri_day, eos_day, repl_day, first_eri
        if eri_day == math.inf:
            t_eri = log.first("eri", 0.0)
            if t_eri < math.inf:
                eri_day, eos_day = t_eri, t_eri + eos_gap
                repl_day = math.floor(t_eri) + repl_days + hour
                if math.isnan(first_eri) and t_eri < horizon:
                    first_eri = t_eri

    k = 0
    while start < horizon:
        u = draws[k][:, j]
        k += 1
        # The clinic books the next refill with the therapy core's projection.
        stability = entry.refill_limit(rx.concentration, first_fill=first_fill).value
        pattern = prescription_pattern(rx, _at(start), include_patient_boluses=True)
        projection = project_reservoir(pattern, capacity, threshold, _at(start), stability)
        assert projection.refill_by is not None
        by_day = math.floor(_day(projection.refill_by))
        booked = max(by_day - params.booking_margin_days, math.floor(start) + 1) + hour
        planned = booked + float(attendance_delay_days(params, u[0:1], u[1:2], u[2:3])[0])
        report_days = 1 + math.floor(u[5] * params.report_visit_days_max)
        repl_days = params.replacement_delay_days_min + math.floor(
            u[6] * (params.replacement_delay_days_max - params.replacement_delay_days_min + 1)
        )

        # Step the twin a day (and a habitual bolus) at a time: a call after an alarm
        # brings the patient in on a later day, never before the next visit hour.
        now = start
        while True:
            check_eri(log, repl_days)
            t_low = log.first("low_reservoir", start)
            t_empty = log.first("empty_reservoir", start)
            visit = planned
            if u[3] < params.low_alarm_report_probability and t_low < eos_day:
                visit = min(visit, math.floor(t_low) + report_days + hour)
            if u[4] < params.empty_alarm_report_probability and t_empty < eos_day:
                visit = min(visit, math.floor(t_empty) + report_days + hour)
            if visit >= eos_day:
                visit = math.inf  # a dead pump waits for its replacement
            t_next = min(visit, repl_day)
            end = min(t_next, horizon)
            if now >= end:
                break
            target = min(end, math.floor(now) + 1 + hour)
            for day in (math.floor(now), math.floor(now) + 1):
                for h in habit:
                    if now < day + h < target:
                        twin.advance(_at(day + h))
                        answer = twin.send(PatientBolusRequest(), Role.PATIENT)
                        if isinstance(answer, Accepted):
                            granted += 1
                        else:
                            refused += 1
            twin.advance(_at(target))
            now = target
        check_eri(log, repl_days)
        if t_low < end:
            alarm_days += end - t_low
        t_dry = log.first("dry", start)
        if t_dry < end:
            dry += 1
        stopped = min(t_dry, eos_day)
        if stopped < end:
            no_drug += end - stopped
        if t_next > horizon:
            break
        if visit < repl_day:
            twin.refill_visit(capacity)
            refills += 1
            first_fill = False
        else:
            retired_programmed += float(twin.firmware.ram.therapy.programmed)
            retired_delivered += float(twin.truth().delivered_volume.ml)
            pump_index = np.array([population.pump[j]])
            units = int(accuracy_factor_units(params, pump_index, np.array([u[7]]))[0])
            log = _Log()
            twin = implant(t_next, Fraction(1), Fraction(units, FACTOR_STEP), log)
            replacements += 1
            first_fill = True
            eri_day = eos_day = repl_day = math.inf
        start = t_next
    return TwinPatientOutcome(
        refills=refills,
        replacements=replacements,
        dry_events=dry,
        low_alarm_days=alarm_days,
        no_drug_days=no_drug,
        programmed_volume=retired_programmed + float(twin.firmware.ram.therapy.programmed),
        delivered_volume=retired_delivered + float(twin.truth().delivered_volume.ml),
        first_eri_day=first_eri,
        boluses_granted=granted,
        boluses_refused=refused,
    )
