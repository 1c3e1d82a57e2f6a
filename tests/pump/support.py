"""Shared builders for the pump-twin tests: prescriptions, twins and command helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

from thecal.pump import PumpTwin, SimulationMode
from thecal.pump.commands import Accepted, Command, Rejected, Request, Response, Role
from thecal.pump.faults import Fault
from thecal.therapy.prescription import FlexStep, Mode, PatientBolus, Prescription, TimeOfDay
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume

T0 = datetime(2025, 1, 6, 8, 0)
BACLOFEN = Concentration.from_mcg_per_ml(2000)
MORPHINE = Concentration.from_mg_per_ml(10)


def baclofen(rate_mcg_day: int = 400) -> Prescription:
    return Prescription(
        "baclofen", BACLOFEN, Mode.SIMPLE_CONTINUOUS, rate=DoseRate.from_mcg_per_day(rate_mcg_day)
    )


def baclofen_flex(rates: tuple[int, ...] = (450, 500, 350, 300, 400)) -> Prescription:
    starts = ("00:00", "06:00", "09:00", "14:00", "20:00")
    steps = tuple(
        FlexStep(TimeOfDay.parse(start), DoseRate.from_mcg_per_day(rate))
        for start, rate in zip(starts, rates, strict=False)
    )
    return Prescription("baclofen", BACLOFEN, Mode.FLEX, steps=steps)


def morphine_pca(lockout_h: int = 3, max_per_24h: int = 4, rate_mg_day: str = "4") -> Prescription:
    return Prescription(
        "morphine",
        MORPHINE,
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mg_per_day(rate_mg_day),
        patient_bolus=PatientBolus(
            Mass.from_mg("0.2"),
            Duration.from_minutes(10),
            Duration.from_hours(lockout_h),
            max_per_24h,
        ),
    )


def implant(
    prescription: Prescription | None = None,
    *,
    model: str = "peristaltic-20",
    fill_ml: int | str = 20,
    mode: SimulationMode = SimulationMode.STROKES,
    faults: tuple[Fault, ...] = (),
    events: list | None = None,
    at: datetime = T0,
    battery_charge: Fraction = Fraction(1),
) -> PumpTwin:
    rx = prescription if prescription is not None else baclofen()
    return PumpTwin.implant(
        model,
        at,
        drug=rx.drug,
        concentration=rx.concentration,
        fill=Volume.from_ml(fill_ml),
        prescription=rx,
        mode=mode,
        faults=faults,
        observer=events.append if events is not None else None,
        battery_charge=battery_charge,
    )


def after(twin: PumpTwin, **delta: float) -> datetime:
    return twin.now + timedelta(**delta)


def accepted(response: Response) -> Accepted:
    assert isinstance(response, Accepted), response
    return response


def rejected(response: Response) -> Rejected:
    assert isinstance(response, Rejected), response
    return response


def clinician(twin: PumpTwin, command: Command) -> Response:
    return twin.send(command, Role.CLINICIAN)


def patient(twin: PumpTwin, command: Command) -> Response:
    return twin.send(command, Role.PATIENT)


def request(command: Command, rid: str, role: Role = Role.CLINICIAN) -> Request:
    return Request(rid, role, command)
