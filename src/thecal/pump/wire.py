"""Every type that may appear in a pump command or response, for the telemetry link.

`wire_types()` lists the dataclasses and enums; `to_plain`/`from_plain` (re-exported
from `thecal.pump.codec`) encode any of them losslessly as JSON-able values.
"""

from __future__ import annotations

from thecal.pump import alarms, commands, eventlog, payloads
from thecal.pump.codec import from_plain, register, to_plain
from thecal.therapy import display, prescription, quantities, refill, safety

__all__ = ["from_plain", "to_plain", "wire_types"]

_COMMAND_TYPES: tuple[type, ...] = (
    commands.Role,
    commands.Interrogate,
    commands.StatusSummary,
    commands.WritePrescription,
    commands.RegisterRefill,
    commands.ClinicianBolus,
    commands.PrimingBolus,
    commands.BridgeBolus,
    commands.Stop,
    commands.Resume,
    commands.MinimumRate,
    commands.SetClock,
    commands.SetAlarmSettings,
    commands.AcknowledgeAlarm,
    commands.AlarmTest,
    commands.PostMriCheck,
    commands.ResetFlowValve,
    commands.PatientBolusRequest,
    commands.Request,
    commands.Rejection,
    commands.Accepted,
    commands.Rejected,
)
register(*_COMMAND_TYPES)

_THERAPY_TYPES: tuple[type, ...] = (
    quantities.Mass,
    quantities.Volume,
    quantities.Duration,
    quantities.Concentration,
    quantities.DoseRate,
    quantities.VolumeRate,
    prescription.Mode,
    prescription.TimeOfDay,
    prescription.FlexStep,
    prescription.Bolus,
    prescription.PeriodicBolus,
    prescription.PatientBolus,
    prescription.Prescription,
    safety.Verdict,
    safety.Rule,
    safety.Outcome,
    display.DoseUnit,
    *refill.RECONCILIATION_TYPES,
)

_PUMP_TYPES: tuple[type, ...] = (
    alarms.AlarmKind,
    alarms.Priority,
    alarms.Tone,
    alarms.DeliveryResponse,
    eventlog.LogKind,
    eventlog.LogEvent,
    payloads.TherapyState,
    payloads.Hold,
    payloads.BolusKind,
    payloads.BatteryState,
    payloads.AlarmSettings,
    payloads.AlarmStatus,
    payloads.TherapyStatus,
    payloads.ReservoirStatus,
    payloads.BatteryStatus,
    payloads.BolusStatus,
    payloads.PatientBolusAvailability,
    payloads.InterrogationReport,
    payloads.PatientStatus,
    payloads.BolusGrant,
    payloads.BolusDenial,
    payloads.HardLimitRefusal,
    payloads.PrescriptionStored,
    payloads.RefillReconciliation,
    payloads.DeliveryChange,
    payloads.ClockChange,
    payloads.AlarmAcknowledged,
    payloads.AlarmTestResult,
    payloads.MotorCheck,
    payloads.FlowValveReset,
)


def wire_types() -> tuple[type, ...]:
    """Every dataclass and enum that may appear in a `Request` or a `Response`
    (commands, payloads, the therapy values inside them), each once."""
    seen: dict[type, None] = {}
    for cls in (*_COMMAND_TYPES, *_THERAPY_TYPES, *_PUMP_TYPES):
        seen.setdefault(cls, None)
    return tuple(seen)
