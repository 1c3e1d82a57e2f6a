"""Small builders that keep the specifications readable: text in, exact values out."""

from __future__ import annotations

from datetime import datetime

from thecal.therapy.prescription import (
    Bolus,
    FlexStep,
    Mode,
    PatientBolus,
    PeriodicBolus,
    Prescription,
    TimeOfDay,
)
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.units import (
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_mass,
)

PUMP: PumpModel = find_pump_model("peristaltic-20")
T0 = datetime(2026, 3, 2, 8, 0)


def continuous(
    drug: str, concentration: str, rate: str, patient: PatientBolus | None = None
) -> Prescription:
    return Prescription(
        drug,
        parse_concentration(concentration),
        Mode.SIMPLE_CONTINUOUS,
        rate=parse_dose_rate(rate),
        patient_bolus=patient,
    )


def flex(
    drug: str, concentration: str, *steps: tuple[str, str], patient: PatientBolus | None = None
) -> Prescription:
    return Prescription(
        drug,
        parse_concentration(concentration),
        Mode.FLEX,
        steps=tuple(
            FlexStep(TimeOfDay.parse(start), parse_dose_rate(rate)) for start, rate in steps
        ),
        patient_bolus=patient,
    )


def stopped(drug: str, concentration: str) -> Prescription:
    return Prescription(drug, parse_concentration(concentration), Mode.STOPPED)


def minimum(drug: str, concentration: str) -> Prescription:
    return Prescription(drug, parse_concentration(concentration), Mode.MINIMUM_RATE)


def single(drug: str, concentration: str, dose: str, over: str) -> Prescription:
    return Prescription(
        drug,
        parse_concentration(concentration),
        Mode.SINGLE_BOLUS,
        bolus=Bolus(parse_mass(dose), parse_duration(over)),
    )


def periodic(
    drug: str,
    concentration: str,
    dose: str,
    over: str,
    every: str,
    first: str = "00:00",
    background: str | None = None,
) -> Prescription:
    return Prescription(
        drug,
        parse_concentration(concentration),
        Mode.PERIODIC_BOLUS,
        rate=parse_dose_rate(background) if background else None,
        periodic=PeriodicBolus(
            Bolus(parse_mass(dose), parse_duration(over)),
            parse_duration(every),
            TimeOfDay.parse(first),
        ),
    )


def patient(dose: str, over: str, lockout: str, cap: int) -> PatientBolus:
    return PatientBolus(parse_mass(dose), parse_duration(over), parse_duration(lockout), cap)
