"""Scenarios: a pump's life as data, replayed deterministically from a seed.

A scenario (usually a TOML file, read by the command line) names a device profile, the
first fill, the prescription, how the patient uses the bolus button, faults with their
times, refill visits with what was really aspirated, clinician commands, and how long
to run. `parse_scenario` validates the data (every problem reported at once);
`run_scenario` runs it and returns every event, samples for a plot, and a summary.

Pure: no file access (prescriptions named by path are resolved by a callback the
caller passes), no clock, randomness only from `random.Random(seed)`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from thecal.pump.commands import (
    AcknowledgeAlarm,
    AlarmTest,
    BridgeBolus,
    ClinicianBolus,
    Command,
    Interrogate,
    MinimumRate,
    PatientBolusRequest,
    PostMriCheck,
    PrimingBolus,
    Rejected,
    ResetFlowValve,
    Resume,
    Role,
    SetAlarmSettings,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
)
from thecal.pump.faults import (
    FAULT_KINDS,
    CatheterOcclusion,
    ClockDrift,
    EarlyBatteryDepletion,
    Fault,
    MemoryCorruption,
    MotorStall,
    MriExposure,
    PocketFill,
    PowerLoss,
    RateError,
)
from thecal.pump.firmware import SimulationMode
from thecal.pump.payloads import RefillReconciliation
from thecal.pump.profiles import device_profile
from thecal.pump.twin import PumpTwin, SimEvent
from thecal.therapy.prescription import Prescription, TimeOfDay
from thecal.therapy.quantities import Concentration, Duration, Mass, Volume, decimal_text, exact
from thecal.therapy.units import parse_concentration, parse_duration, parse_mass, parse_volume

__all__ = [
    "PatientUsage",
    "Sample",
    "Scenario",
    "ScenarioError",
    "ScenarioRefill",
    "ScenarioResult",
    "ScenarioSummary",
    "ScheduledCommand",
    "parse_scenario",
    "run_scenario",
]

PrescriptionResolver = Callable[[object, str], Prescription]
"""Turns a scenario's `prescription` value (a path string or an inline table) into a
`Prescription`; raises `ValueError` naming the problem."""


class ScenarioError(ValueError):
    """A scenario that does not validate; `problems` lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid scenario: " + "; ".join(problems))


@dataclass(frozen=True)
class PatientUsage:
    """About `requests_per_day` patient-bolus requests a day, at random moments while
    awake (from `awake_from` to `awake_to`, pump local time)."""

    requests_per_day: Fraction
    awake_from: TimeOfDay
    awake_to: TimeOfDay


@dataclass(frozen=True)
class ScenarioRefill:
    """A refill visit: aspirate (`aspirate` None = everything), inject `volume`,
    optionally change the drug, then optionally write a new prescription."""

    at: datetime
    volume: Volume
    aspirate: Volume | None = None
    drug: str | None = None
    concentration: Concentration | None = None
    declared_volume: Volume | None = None
    prescription: Prescription | None = None


@dataclass(frozen=True)
class ScheduledCommand:
    at: datetime
    command: Command
    role: Role = Role.CLINICIAN


@dataclass(frozen=True)
class Scenario:
    title: str
    model: str
    start: datetime
    duration: Duration
    seed: int
    mode: SimulationMode
    drug: str
    concentration: Concentration
    fill: Volume
    prescription: Prescription | None
    serial: str = "SIM-0001"
    catheter_volume: Volume = field(default_factory=Volume.zero)
    primed: bool = True
    battery_charge: Fraction = Fraction(1)
    patient: PatientUsage | None = None
    faults: tuple[Fault, ...] = ()
    refills: tuple[ScenarioRefill, ...] = ()
    commands: tuple[ScheduledCommand, ...] = ()
    sample_every: Duration = field(default_factory=lambda: Duration.from_hours(6))

    @property
    def end(self) -> datetime:
        return self.start + self.duration.to_timedelta_floor()


@dataclass(frozen=True)
class Sample:
    """The pump at one moment: the true and the estimated reservoir (mL) and the
    cumulative delivered volume (mL) and dose (mcg)."""

    time: datetime
    true_reservoir: Fraction
    estimated_reservoir: Fraction
    delivered_volume: Fraction
    delivered_dose: Fraction


@dataclass(frozen=True)
class ScenarioSummary:
    title: str
    model: str
    mode: SimulationMode
    start: datetime
    end: datetime
    drug: str
    delivered_volume: Volume
    delivered_dose: Mass
    pocket_dose: Mass
    true_reservoir: Volume
    estimated_reservoir: Volume
    alarms_raised: tuple[tuple[str, int], ...]
    patient_boluses_granted: int
    patient_boluses_denied: int
    refills: tuple[RefillReconciliation, ...]
    final_state: str
    battery_charge: Fraction | None
    pump_dead: bool


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    events: tuple[SimEvent, ...]
    samples: tuple[Sample, ...]
    summary: ScenarioSummary


# ---------------------------------------------------------------------------- parsing

_TOP = {
    "title", "seed", "start", "duration", "mode", "pump", "fill", "prescription",
    "patient", "faults", "refills", "commands", "sample_every",
}  # fmt: skip


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def take(
        self, table: Mapping[str, Any], key: str, where: str, parse: Any, default: Any = ...
    ) -> Any:
        if key not in table:
            if default is ...:
                self.problems.append(f"{where}{key}: missing")
            return None if default is ... else default
        try:
            return parse(table[key], f"{where}{key}")
        except (ValueError, TypeError) as error:
            self.problems.append(str(error))
            return None if default is ... else default

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            self.problems.append(
                f"{where or 'scenario'}: unknown key(s) {extra}; accepted: {sorted(allowed)}"
            )


def _datetime(raw: object, where: str) -> datetime:
    if isinstance(raw, datetime):
        if raw.tzinfo is not None:
            raise ValueError(f"{where}: give a local time without a zone, e.g. 2025-01-01T08:00:00")
        return raw
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueError(f"{where}: {raw!r} is not a date-time; accepted: e.g. 2025-01-01T08:00:00")


def _text(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where}: must be non-empty text")
    return raw.strip()


def _int(raw: object, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"{where}: must be a whole number")
    return raw


def _bool(raw: object, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"{where}: must be true or false")
    return raw


def _fraction(raw: object, where: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f'{where}: must be a number in quotes, e.g. "1.25"')
    try:
        return exact(raw)
    except (ValueError, TypeError):
        raise ValueError(f"{where}: {raw!r} is not a number") from None


def _mode(raw: object, where: str) -> SimulationMode:
    try:
        return SimulationMode(str(raw))
    except ValueError:
        raise ValueError(f"{where}: {raw!r}; accepted: strokes, analytic") from None


def _role(raw: object, where: str) -> Role:
    try:
        return Role(str(raw))
    except ValueError:
        raise ValueError(f"{where}: {raw!r}; accepted: clinician, patient") from None


def _aspirate(raw: object, where: str) -> Volume | None:
    if raw == "all":
        return None
    return parse_volume(raw, where)


_FAULT_KEYS: dict[str, set[str]] = {
    "rate_error": {"factor"},
    "motor_stall": set(),
    "catheter_occlusion": {"passing"},
    "pocket_fill": {"fraction"},
    "early_battery_depletion": {"drain_factor"},
    "memory_corruption": {"record"},
    "clock_drift": {"ppm"},
    "mri_exposure": {"duration", "recovery"},
    "power_loss": {"torn_at"},
}


def _fault(
    raw: Mapping[str, Any], where: str, read: _Reader, model: str, seed: int, index: int
) -> Fault | None:
    kind = raw.get("kind")
    if kind not in FAULT_KINDS:
        read.problems.append(f"{where}kind: {kind!r}; accepted: {', '.join(FAULT_KINDS)}")
        return None
    read.unknown(raw, {"kind", "start", "end", *_FAULT_KEYS[kind]}, where.rstrip("."))
    start = read.take(raw, "start", where, _datetime)
    end = read.take(raw, "end", where, _datetime, None)
    if start is None:
        return None
    try:
        if kind == "rate_error":
            return RateError(start, end, read.take(raw, "factor", where, _fraction))
        if kind == "motor_stall":
            return MotorStall(start, end)
        if kind == "catheter_occlusion":
            return CatheterOcclusion(
                start, end, read.take(raw, "passing", where, _fraction, Fraction(0))
            )
        if kind == "pocket_fill":
            return PocketFill(start, end, read.take(raw, "fraction", where, _fraction, Fraction(1)))
        if kind == "early_battery_depletion":
            return EarlyBatteryDepletion(
                start, end, read.take(raw, "drain_factor", where, _fraction)
            )
        if kind == "memory_corruption":
            return MemoryCorruption(
                start, None, read.take(raw, "record", where, _text, "prescription")
            )
        if kind == "clock_drift":
            return ClockDrift(start, end, read.take(raw, "ppm", where, _fraction))
        if kind == "power_loss":
            return PowerLoss(start, None, read.take(raw, "torn_at", where, _int, None))
        # MRI exposure: the scan's length, and the rotor's recovery (drawn from the
        # profile's sourced 2-24 h range with the seed when not given).
        length = read.take(raw, "duration", where, parse_duration, None)
        if end is None and length is None:
            read.problems.append(f"{where}: an MRI exposure needs `end` or `duration`")
            return None
        end = end if end is not None else start + length.to_timedelta_floor()
        recovery = read.take(raw, "recovery", where, parse_duration, None)
        if recovery is None:
            profile = device_profile(model)
            low, high = profile.mri_recovery_min, profile.mri_recovery_max
            recovery = Duration.zero()
            if low is not None and high is not None:
                rng = random.Random(f"{seed}:mri:{index}")
                span = int(high.value.seconds - low.value.seconds)
                recovery = Duration(low.value.seconds + rng.randint(0, span))
        return MriExposure(start, end, recovery)
    except (ValueError, TypeError) as error:
        read.problems.append(f"{where.rstrip('.')}: {error}")
        return None


_COMMANDS: dict[str, tuple[type, set[str]]] = {
    "interrogate": (Interrogate, set()),
    "status": (StatusSummary, set()),
    "stop": (Stop, set()),
    "resume": (Resume, set()),
    "minimum_rate": (MinimumRate, set()),
    "alarm_test": (AlarmTest, set()),
    "post_mri_check": (PostMriCheck, set()),
    "reset_flow_valve": (ResetFlowValve, set()),
    "acknowledge": (AcknowledgeAlarm, {"alarm"}),
    "set_clock": (SetClock, {"local_time"}),
    "set_alarm_settings": (SetAlarmSettings, {"low_reservoir_threshold", "critical_repeat"}),
    "clinician_bolus": (ClinicianBolus, {"dose", "duration"}),
    "priming_bolus": (PrimingBolus, {"volume", "duration"}),
    "bridge_bolus": (BridgeBolus, {"volume", "duration"}),
    "write_prescription": (WritePrescription, {"prescription"}),
    "patient_bolus": (PatientBolusRequest, set()),
}


def _command(
    raw: Mapping[str, Any], where: str, read: _Reader, resolve: PrescriptionResolver
) -> ScheduledCommand | None:
    name = raw.get("command")
    if name not in _COMMANDS:
        read.problems.append(f"{where}command: {name!r}; accepted: {', '.join(_COMMANDS)}")
        return None
    cls, keys = _COMMANDS[name]
    read.unknown(raw, {"at", "command", "role", *keys}, where.rstrip("."))
    at = read.take(raw, "at", where, _datetime)
    role = read.take(raw, "role", where, _role, Role.CLINICIAN)
    before = len(read.problems)
    command: Command | None = None
    if name == "acknowledge":
        command = AcknowledgeAlarm(read.take(raw, "alarm", where, _text) or "")
    elif name == "set_clock":
        command = SetClock(read.take(raw, "local_time", where, _datetime) or datetime.min)
    elif name == "set_alarm_settings":
        command = SetAlarmSettings(
            read.take(raw, "low_reservoir_threshold", where, parse_volume) or Volume.zero(),
            read.take(raw, "critical_repeat", where, parse_duration) or Duration.zero(),
        )
    elif name == "clinician_bolus":
        command = ClinicianBolus(
            read.take(raw, "dose", where, parse_mass) or Mass.zero(),
            read.take(raw, "duration", where, parse_duration) or Duration.zero(),
        )
    elif name in ("priming_bolus", "bridge_bolus"):
        command = cls(
            read.take(raw, "volume", where, parse_volume) or Volume.zero(),
            read.take(raw, "duration", where, parse_duration) or Duration.zero(),
        )
    elif name == "write_prescription":
        rx = read.take(raw, "prescription", where, resolve)
        if rx is not None:
            command = WritePrescription(rx, rx.content_hash)
    else:
        command = cls()
    if at is None or command is None or len(read.problems) > before:
        return None
    return ScheduledCommand(at, command, role)


def _refill(
    raw: Mapping[str, Any], where: str, read: _Reader, resolve: PrescriptionResolver
) -> ScenarioRefill | None:
    read.unknown(
        raw,
        {"at", "volume", "aspirate", "drug", "concentration", "declared_volume", "prescription"},
        where.rstrip("."),
    )
    at = read.take(raw, "at", where, _datetime)
    volume = read.take(raw, "volume", where, parse_volume)
    plan = ScenarioRefill(
        at=at or datetime.min,
        volume=volume or Volume.zero(),
        aspirate=read.take(raw, "aspirate", where, _aspirate, None),
        drug=read.take(raw, "drug", where, _text, None),
        concentration=read.take(raw, "concentration", where, parse_concentration, None),
        declared_volume=read.take(raw, "declared_volume", where, parse_volume, None),
        prescription=read.take(raw, "prescription", where, resolve, None),
    )
    return plan if at is not None and volume is not None else None


def _tables(raw: object, where: str, read: _Reader) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        read.problems.append(f"{where}: must be an array of tables ([[{where}]])")
        return []
    return raw


def parse_scenario(data: Mapping[str, Any], resolve: PrescriptionResolver) -> Scenario:
    """Validate scenario data (as read from TOML) into a `Scenario`.

    `ScenarioError` lists every problem found. `resolve` turns a `prescription` value
    (a path or an inline table) into a `Prescription`."""
    read = _Reader()
    read.unknown(data, _TOP, "")
    pump: Mapping[str, Any] = data["pump"] if isinstance(data.get("pump"), dict) else {}
    if "pump" not in data:
        read.problems.append("pump: missing ([pump] with model = ...)")
    read.unknown(pump, {"model", "serial", "catheter_volume", "primed", "battery_charge"}, "pump")
    charge = read.take(pump, "battery_charge", "pump.", _fraction, Fraction(1))
    if charge is not None and not 0 < charge <= 1:
        read.problems.append("pump.battery_charge: must be above 0 and at most 1 (a new pump)")
    model = read.take(pump, "model", "pump.", _text)
    if model is not None:
        try:
            device_profile(model)
        except ValueError as error:
            read.problems.append(f"pump.model: {error}")
            model = None
    fill: Mapping[str, Any] = data["fill"] if isinstance(data.get("fill"), dict) else {}
    if "fill" not in data:
        read.problems.append("fill: missing ([fill] with drug, concentration, volume)")
    read.unknown(fill, {"drug", "concentration", "volume"}, "fill")
    seed = read.take(data, "seed", "", _int, 0)
    start = read.take(data, "start", "", _datetime)
    duration = read.take(data, "duration", "", parse_duration)
    if duration is not None and duration.seconds <= 0:
        read.problems.append("duration: must be longer than zero")
    prescription = read.take(data, "prescription", "", resolve, None)
    patient = None
    if "patient" in data:
        table = data["patient"] if isinstance(data["patient"], dict) else {}
        read.unknown(table, {"requests_per_day", "awake"}, "patient")
        per_day = read.take(table, "requests_per_day", "patient.", _fraction)
        awake = table.get("awake", ["07:00", "22:00"])
        try:
            if not isinstance(awake, list) or len(awake) != 2:
                raise ValueError('patient.awake: must be two times, e.g. ["07:00", "22:00"]')
            first, last = (
                TimeOfDay.parse(awake[0], "patient.awake"),
                TimeOfDay.parse(awake[1], "patient.awake"),
            )
            if last <= first:
                raise ValueError("patient.awake: the second time must be after the first")
            if per_day is not None:
                if per_day < 0:
                    raise ValueError("patient.requests_per_day: must not be negative")
                patient = PatientUsage(per_day, first, last)
        except ValueError as error:
            read.problems.append(str(error))
    faults = [
        _fault(raw, f"faults[{i}].", read, model or "peristaltic-20", seed or 0, i)
        for i, raw in enumerate(_tables(data.get("faults"), "faults", read))
    ]
    refills = [
        _refill(raw, f"refills[{i}].", read, resolve)
        for i, raw in enumerate(_tables(data.get("refills"), "refills", read))
    ]
    commands = [
        _command(raw, f"commands[{i}].", read, resolve)
        for i, raw in enumerate(_tables(data.get("commands"), "commands", read))
    ]
    drug = read.take(fill, "drug", "fill.", _text)
    concentration = read.take(fill, "concentration", "fill.", parse_concentration)
    volume = read.take(fill, "volume", "fill.", parse_volume)
    mode = read.take(data, "mode", "", _mode, SimulationMode.STROKES)
    sample_every = read.take(data, "sample_every", "", parse_duration, Duration.from_hours(6))
    if sample_every is not None and sample_every.seconds <= 0:
        read.problems.append("sample_every: must be longer than zero")
    if start is not None:
        for label, items in (("faults", faults), ("refills", refills), ("commands", commands)):
            for index, item in enumerate(items):
                moment = item.start if isinstance(item, Fault) else getattr(item, "at", None)
                if moment is not None and moment < start:
                    read.problems.append(f"{label}[{index}]: happens before the scenario starts")
    if read.problems:
        raise ScenarioError(read.problems)
    assert model and start and duration and drug and concentration and volume is not None
    return Scenario(
        title=str(data.get("title", "scenario")),
        model=model,
        start=start,
        duration=duration,
        seed=seed or 0,
        mode=mode,
        drug=drug,
        concentration=concentration,
        fill=volume,
        prescription=prescription,
        serial=str(pump.get("serial", "SIM-0001")),
        catheter_volume=read.take(pump, "catheter_volume", "pump.", parse_volume, Volume.zero()),
        primed=bool(pump.get("primed", True)),
        battery_charge=charge,
        patient=patient,
        faults=tuple(f for f in faults if f is not None),
        refills=tuple(sorted((r for r in refills if r is not None), key=lambda r: r.at)),
        commands=tuple(sorted((c for c in commands if c is not None), key=lambda c: c.at)),
        sample_every=sample_every,
    )


# ---------------------------------------------------------------------------- running


def patient_requests(
    usage: PatientUsage, start: datetime, end: datetime, rng: random.Random
) -> list[datetime]:
    """Request moments: each day, the whole part of `requests_per_day` plus one more with
    probability equal to its fraction, at uniform random moments while awake."""
    moments: list[datetime] = []
    day = datetime(start.year, start.month, start.day)
    whole = usage.requests_per_day.numerator // usage.requests_per_day.denominator
    extra = usage.requests_per_day - whole
    span = (usage.awake_to.minute - usage.awake_from.minute) * 60
    while day < end:
        count = whole + (1 if rng.random() < extra else 0)
        for _ in range(count):
            offset = usage.awake_from.minute * 60 + rng.randrange(span)
            moment = day + timedelta(seconds=offset)
            if start <= moment < end:
                moments.append(moment)
        day += timedelta(days=1)
    return sorted(moments)


def run_scenario(
    scenario: Scenario, progress: Callable[[datetime], None] | None = None
) -> ScenarioResult:
    """Run the scenario from its start to its end; `progress` is told the simulated time
    as it advances (for a progress bar)."""
    events: list[SimEvent] = []
    twin = PumpTwin.implant(
        scenario.model,
        scenario.start,
        drug=scenario.drug,
        concentration=scenario.concentration,
        fill=scenario.fill,
        prescription=scenario.prescription,
        serial=scenario.serial,
        catheter_volume=scenario.catheter_volume,
        primed=scenario.primed,
        mode=scenario.mode,
        faults=scenario.faults,
        observer=events.append,
        battery_charge=scenario.battery_charge,
    )
    rng = random.Random(scenario.seed)
    end = scenario.end
    agenda: list[tuple[datetime, int, object]] = []
    if scenario.patient is not None:
        for moment in patient_requests(scenario.patient, scenario.start, end, rng):
            agenda.append((moment, 2, "patient"))
    for plan in scenario.refills:
        agenda.append((plan.at, 0, plan))
    for scheduled in scenario.commands:
        agenda.append((scheduled.at, 1, scheduled))
    step = scenario.sample_every.to_timedelta_floor()
    moment = scenario.start
    while moment <= end:
        agenda.append((moment, 3, "sample"))
        moment += step
    agenda.append((end, 3, "sample"))
    agenda.sort(key=lambda item: (item[0], item[1]))
    samples: list[Sample] = []
    refills: list[RefillReconciliation] = []
    granted = denied = 0
    for moment, _, action in agenda:
        if moment > end:
            continue
        twin.advance(moment)
        if progress is not None:
            progress(moment)
        if action == "sample":
            if not samples or samples[-1].time != moment:
                samples.append(_sample(twin))
        elif action == "patient":
            response = twin.send(PatientBolusRequest(), Role.PATIENT)
            if isinstance(response, Rejected):
                denied += 1
            else:
                granted += 1
        elif isinstance(action, ScenarioRefill):
            samples.append(_sample(twin))  # just before and just after: the plot shows a step
            visit = twin.refill_visit(
                action.volume,
                aspirate=action.aspirate,
                drug=action.drug,
                concentration=action.concentration,
                declared_volume=action.declared_volume,
            )
            payload = getattr(visit.response, "payload", None)
            if isinstance(payload, RefillReconciliation):
                refills.append(payload)
                events.append(_reconciliation_event(twin, payload))
            if action.prescription is not None:
                rx = action.prescription
                twin.send(WritePrescription(rx, rx.content_hash))
            samples.append(_sample(twin))
        elif isinstance(action, ScheduledCommand):
            twin.send(action.command, action.role)
    truth = twin.truth()
    alarm_counts: dict[str, int] = {}
    for event in events:
        if event.kind == "alarm_raised":
            name = dict(event.details).get("alarm", "?")
            alarm_counts[name] = alarm_counts.get(name, 0) + 1
    view = twin.view()
    summary = ScenarioSummary(
        title=scenario.title,
        model=scenario.model,
        mode=scenario.mode,
        start=scenario.start,
        end=end,
        drug=scenario.drug,
        delivered_volume=truth.delivered_volume,
        delivered_dose=truth.delivered_dose,
        pocket_dose=truth.pocket_dose,
        true_reservoir=truth.reservoir_volume,
        estimated_reservoir=view.reservoir.estimated,
        alarms_raised=tuple(sorted(alarm_counts.items())),
        patient_boluses_granted=granted,
        patient_boluses_denied=denied,
        refills=tuple(refills),
        final_state=view.therapy.state.value,
        battery_charge=truth.battery_charge,
        pump_dead=twin.dead,
    )
    events.sort(key=lambda e: e.time)
    return ScenarioResult(scenario, tuple(events), tuple(samples), summary)


def _sample(twin: PumpTwin) -> Sample:
    truth = twin.truth()
    return Sample(
        twin.now,
        truth.reservoir_volume.amount,
        twin.firmware.ram.therapy.estimate,
        truth.delivered_volume.amount,
        truth.delivered_dose.amount,
    )


def _reconciliation_event(twin: PumpTwin, rec: RefillReconciliation) -> SimEvent:
    found = rec.reconciliation
    error = (
        "n/a"
        if found.delivery_error is None
        else f"{decimal_text(found.delivery_error * 100, 1)} %"
    )
    findings = found.discrepancy.value + (", new_solution" if rec.new_solution else "")
    message = (
        f"refill reconciliation: expected {rec.expected}, aspirated {rec.aspirated} "
        f"(difference {rec.difference}, delivery error {error}): {findings}"
        + (" - FLAGGED" if rec.flagged else "")
    )
    return SimEvent(
        twin.now,
        twin.local_now,
        "clinic",
        "refill_reconciliation",
        message,
        (
            ("expected", str(rec.expected)),
            ("aspirated", str(rec.aspirated)),
            ("difference", str(rec.difference)),
            ("discrepancy", rec.discrepancy.value),
            ("flagged", str(rec.flagged).lower()),
            ("findings", findings),
        ),
    )
