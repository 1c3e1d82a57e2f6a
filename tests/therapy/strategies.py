"""Hypothesis strategies for well-formed prescriptions (values on exact decimal grids)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from thecal.therapy.prescription import (
    Bolus,
    FlexStep,
    Mode,
    PatientBolus,
    PeriodicBolus,
    Prescription,
    TimeOfDay,
)
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass

concentrations = st.sampled_from(["25", "500", "2000", "10000", "25000", "1.5"]).map(
    lambda text: Concentration(Fraction(text))
)
dose_rates = st.integers(1, 2_000_000).map(lambda n: DoseRate(Fraction(n, 100)))
masses = st.integers(1, 100_000).map(lambda n: Mass(Fraction(n, 100)))
minutes = st.integers(1, 240)
DIVISORS_OF_A_DAY = [3600 * h for h in (1, 2, 3, 4, 6, 8, 12, 24)]


@st.composite
def flex_steps(draw: st.DrawFn, max_steps: int = 24) -> tuple[FlexStep, ...]:
    count = draw(st.integers(1, max_steps))
    starts = sorted(draw(st.sets(st.integers(1, 1439), min_size=count - 1, max_size=count - 1)))
    rates = draw(st.lists(st.one_of(dose_rates, st.just(DoseRate.zero())), min_size=count,
                          max_size=count))  # fmt: skip
    return tuple(
        FlexStep(TimeOfDay(minute), rate) for minute, rate in zip([0, *starts], rates, strict=True)
    )


@st.composite
def patient_boluses(draw: st.DrawFn) -> PatientBolus:
    duration = draw(minutes)
    lockout = draw(st.integers(duration, 24 * 60 + 60))
    return PatientBolus(
        draw(masses),
        Duration.from_minutes(duration),
        Duration.from_minutes(lockout),
        draw(st.integers(1, 30)),
    )


@st.composite
def prescriptions(draw: st.DrawFn, modes: tuple[Mode, ...] = tuple(Mode)) -> Prescription:
    mode = draw(st.sampled_from(modes))
    drug = draw(st.sampled_from(["morphine", "baclofen", "ziconotide", "clonidine"]))
    concentration = draw(concentrations)
    patient = draw(st.none() | patient_boluses())
    if mode in (Mode.STOPPED, Mode.MINIMUM_RATE, Mode.SINGLE_BOLUS):
        patient = None
    if mode is Mode.SIMPLE_CONTINUOUS:
        return Prescription(drug, concentration, mode, rate=draw(dose_rates), patient_bolus=patient)
    if mode is Mode.FLEX:
        return Prescription(drug, concentration, mode, steps=draw(flex_steps()),
                            patient_bolus=patient)  # fmt: skip
    if mode is Mode.SINGLE_BOLUS:
        bolus = Bolus(draw(masses), Duration.from_minutes(draw(minutes)))
        return Prescription(drug, concentration, mode, bolus=bolus)
    if mode is Mode.PERIODIC_BOLUS:
        interval = draw(st.sampled_from(DIVISORS_OF_A_DAY))
        duration = draw(st.integers(60, interval))
        periodic = PeriodicBolus(
            Bolus(draw(masses), Duration.from_seconds(duration)),
            Duration.from_seconds(interval),
            TimeOfDay(draw(st.integers(0, 1439))),
        )
        background = draw(st.none() | dose_rates)
        return Prescription(drug, concentration, mode, rate=background, periodic=periodic,
                            patient_bolus=patient)  # fmt: skip
    return Prescription(drug, concentration, mode)
