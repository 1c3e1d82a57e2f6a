"""The pump digital twin: a hardware model behind a narrow interface, and the firmware
that decides what to deliver. Safety-critical core: standard library only, on top of
`thecal.therapy`; no wall clock, no I/O, no randomness that is not passed in.

Public API (the telemetry link and the clinic use these):

* `PumpTwin.implant(...)`, `PumpTwin.restore(snapshot)`, `twin.advance(to)`,
  `twin.handle(request) -> Response`, `twin.snapshot() -> dict`, `twin.refill_visit(...)`,
  `twin.inject_fault(fault)`, `twin.truth()`, `twin.view()`;
* the command contract in `thecal.pump.commands` and the payloads in
  `thecal.pump.payloads`; `wire_types()` lists every type that may appear in them and
  `to_plain` / `from_plain` encode them losslessly;
* `project_battery(model_id, implanted_at, average_volume_rate) -> BatteryProjection`;
* `device_profile(model_id)`, the alarm catalogue, the fault kinds, the scenario runner.
"""

from thecal.pump.alarms import ALARM_CATALOGUE, AlarmKind, DeliveryResponse, Priority, Tone
from thecal.pump.battery import BatteryProjection, project_battery
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
from thecal.pump.hardware import HardwareTruth, InjectionOutcome
from thecal.pump.profiles import DeviceProfile, device_profile, device_profiles
from thecal.pump.twin import SNAPSHOT_FORMAT, Observer, PumpTwin, RefillVisit, SimEvent
from thecal.pump.wire import from_plain, to_plain, wire_types

__all__ = [
    "ALARM_CATALOGUE",
    "FAULT_KINDS",
    "SNAPSHOT_FORMAT",
    "AlarmKind",
    "BatteryProjection",
    "CatheterOcclusion",
    "ClockDrift",
    "DeliveryResponse",
    "DeviceProfile",
    "EarlyBatteryDepletion",
    "Fault",
    "HardwareTruth",
    "InjectionOutcome",
    "MemoryCorruption",
    "MotorStall",
    "MriExposure",
    "Observer",
    "PocketFill",
    "PowerLoss",
    "Priority",
    "PumpTwin",
    "RateError",
    "RefillVisit",
    "SimEvent",
    "SimulationMode",
    "Tone",
    "device_profile",
    "device_profiles",
    "from_plain",
    "project_battery",
    "to_plain",
    "wire_types",
]
