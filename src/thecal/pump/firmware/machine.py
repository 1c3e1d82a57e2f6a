"""`Firmware`: the firmware's public face, one method per thing the twin asks of it.
The work is done by the package's modules (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable

from thecal.pump.commands import Request, Response
from thecal.pump.eventlog import LogEvent
from thecal.pump.firmware import dispatch, engine, refill, startup, views
from thecal.pump.firmware.core import FirmwareCore, SimulationMode
from thecal.pump.firmware.delivery_state import holds
from thecal.pump.hardware import HardwareInterface
from thecal.pump.payloads import (
    AlarmStatus,
    BatteryStatus,
    Hold,
    InterrogationReport,
    PatientStatus,
    ReservoirStatus,
    TherapyStatus,
)
from thecal.pump.profiles import DeviceProfile
from thecal.pump.records import BootCause
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Volume, VolumeRate

__all__ = ["Firmware"]


class Firmware(FirmwareCore):
    """The pump firmware. Build it with `implant` (first start) or `boot` (restart from
    non-volatile memory); advance it with `run_until`; talk to it with `handle`."""

    @classmethod
    def implant(
        cls,
        profile: DeviceProfile,
        hardware: HardwareInterface,
        library: DrugLibrary,
        mode: SimulationMode,
        ticks: int,
        drug: str,
        concentration: Concentration,
        fill: Volume,
        prescription: Prescription | None,
        serial: str,
        on_log: Callable[[LogEvent, int], None] | None = None,
    ) -> Firmware:
        """First start after implant: commit the initial records and start therapy.

        `ValueError` if the prescription does not match the fill or fails a hard limit
        (a programming mistake at implant is misuse, not an expected rejection)."""
        return startup.implant(
            cls,
            profile,
            hardware,
            library,
            mode,
            ticks,
            drug,
            concentration,
            fill,
            prescription,
            serial,
            on_log,
        )

    @classmethod
    def boot(
        cls,
        profile: DeviceProfile,
        hardware: HardwareInterface,
        library: DrugLibrary,
        mode: SimulationMode,
        ticks: int,
        cause: BootCause,
        serial: str,
        on_log: Callable[[LogEvent, int], None] | None = None,
    ) -> Firmware:
        """Restart from non-volatile memory after a power loss or reset (see
        `startup.boot`: what was not committed is gone; an unreadable record means the
        safe state)."""
        return startup.boot(cls, profile, hardware, library, mode, ticks, cause, serial, on_log)

    def run_until(self, end: int) -> None:
        """Advance to oscillator tick `end`, delivering and handling every event on the way."""
        engine.run_until(self, end)

    def hardware_changed(self) -> None:
        """Called when the hardware's conditions changed (a fault boundary): poll the
        sensors and probe the motor at the next stroke."""
        engine.hardware_changed(self)

    def handle(self, request: Request) -> Response:
        """Execute one command. A repeated request id gets the stored response and
        nothing is done again; a command the role may not send is refused and logged."""
        return dispatch.handle(self, request)

    def register_refill(
        self, aspirated: Volume, new_volume: Volume, drug: str, concentration: Concentration
    ) -> Response:
        """Record a refill and reconcile expected against aspirated volume. Also the path
        the twin uses for a pump without telemetry (the clinic's own record)."""
        return refill.register_refill(self, aspirated, new_volume, drug, concentration)

    def holds(self) -> tuple[Hold, ...]:
        return holds(self)

    def programmed_rate(self) -> VolumeRate:
        """The programmed volume rate right now (0 while a hold stops delivery)."""
        return views.programmed_rate(self)

    def alarm_statuses(self) -> tuple[AlarmStatus, ...]:
        return views.alarm_statuses(self)

    def therapy_status(self) -> TherapyStatus:
        return views.therapy_status(self)

    def battery_status(self) -> BatteryStatus:
        return views.battery_status(self)

    def reservoir_status(self) -> ReservoirStatus:
        return views.reservoir_status(self)

    def report(self, log_since: int | None = None) -> InterrogationReport:
        """The full interrogation report."""
        return views.report(self, log_since)

    def patient_status(self) -> PatientStatus:
        return views.patient_status(self)
