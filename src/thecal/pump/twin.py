"""The pump twin: hardware model + firmware + the clock that moves them.

`PumpTwin.advance(to)` moves the injected (true) clock to `to`, stepping from one fault
boundary to the next; between them the firmware jumps from event to event on its own
oscillator. `handle(request)` carries one telemetry command to the firmware at the
current time. The refill port (`aspirate`, `inject`, `refill_visit`) is the clinician's
syringe: physical, outside telemetry.

`snapshot()` gives the whole twin (hardware, faults, non-volatile memory, firmware RAM,
clock) as a JSON-able dict; `PumpTwin.restore(data)` rebuilds it exactly, so a served
twin can stop and start without losing a stroke.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from thecal.pump.codec import from_plain, register, to_plain
from thecal.pump.commands import (
    Command,
    RegisterRefill,
    Rejected,
    Rejection,
    Request,
    Response,
    Role,
)
from thecal.pump.eventlog import LogEvent
from thecal.pump.faults import Fault
from thecal.pump.firmware import Firmware, FirmwareRestart, SimulationMode
from thecal.pump.hardware import HardwareState, HardwareTruth, InjectionOutcome, PumpHardware
from thecal.pump.nvm import NonVolatileMemory, PowerInterrupted
from thecal.pump.payloads import InterrogationReport
from thecal.pump.profiles import DeviceProfile, device_profile
from thecal.pump.records import BootCause, FirmwareRam
from thecal.pump.timebase import from_us, to_us
from thecal.therapy.library import DrugLibrary, default_library
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Volume

__all__ = ["SNAPSHOT_FORMAT", "Observer", "PumpTwin", "RefillVisit", "SimEvent"]

SNAPSHOT_FORMAT = "thecal.pump.twin/2"  # 2: the firmware RAM holds its therapy record


@dataclass(frozen=True)
class SimEvent:
    """Something that happened in the twin, on the true clock: a firmware log entry
    (with the pump's local time) or a physical happening the firmware cannot see."""

    time: datetime
    local_time: datetime | None
    source: str  # "firmware" or "hardware"
    kind: str
    message: str
    details: tuple[tuple[str, str], ...] = ()


Observer = Callable[[SimEvent], None]


@dataclass(frozen=True)
class RefillVisit:
    """What happened at a refill visit: the syringe's work and the pump's answer."""

    aspirated: Volume
    injection: InjectionOutcome
    response: Response


class PumpTwin:
    """One implanted pump. Build with `implant` or `restore`."""

    def __init__(
        self,
        profile: DeviceProfile,
        hardware: PumpHardware,
        firmware: Firmware,
        now: int,
        library: DrugLibrary,
        observer: Observer | None = None,
        dead: bool = False,
        counter: int = 0,
    ) -> None:
        self.profile = profile
        self.hardware = hardware
        self.firmware = firmware
        self._now = now
        self.library = library
        self.observer = observer
        self.dead = dead
        self._counter = counter
        firmware.on_log = self._on_log

    # ------------------------------------------------------------------ creation
    @classmethod
    def implant(
        cls,
        model_id: str,
        at: datetime,
        *,
        drug: str,
        concentration: Concentration,
        fill: Volume,
        prescription: Prescription | None = None,
        serial: str = "SIM-0001",
        catheter_volume: Volume | None = None,
        primed: bool = True,
        mode: SimulationMode = SimulationMode.STROKES,
        library: DrugLibrary | None = None,
        faults: Sequence[Fault] = (),
        observer: Observer | None = None,
        battery_charge: Fraction = Fraction(1),
    ) -> PumpTwin:
        """Implant a pump of `model_id` at true time `at` (its clock is set to `at`),
        filled with `fill` of `drug` at `concentration`, running `prescription` (None:
        stopped). The fluid path (pump tubing plus `catheter_volume`) holds the drug if
        `primed`, else drug-free fluid that a priming bolus must push out. The battery
        starts at `battery_charge` (a fraction of capacity: 1 for a new pump). A pump
        without electronics (constant flow) always runs in analytic mode."""
        profile = device_profile(model_id)
        if not profile.electronics:
            mode = SimulationMode.ANALYTIC  # a restrictor's flow is continuous, never quantised
        library = library if library is not None else default_library()
        pathway = profile.model.tubing_volume.value + (catheter_volume or Volume.zero())
        hardware = PumpHardware.implanted(
            profile, at, drug, concentration, fill, pathway, primed, battery_charge=battery_charge
        )
        now = to_us(at)
        firmware = Firmware.implant(
            profile,
            hardware,
            library,
            mode,
            hardware.ticks_at(now),
            drug,
            concentration,
            fill,
            prescription,
            serial,
        )
        twin = cls(profile, hardware, firmware, now, library, observer)
        for fault in faults:
            twin.inject_fault(fault)
        twin._flush_notes()
        return twin

    # ------------------------------------------------------------------ clocks
    @property
    def now(self) -> datetime:
        """The twin's true (reference) time."""
        return from_us(self._now)

    @property
    def local_now(self) -> datetime:
        """The pump's own wall clock."""
        return self.firmware.local()

    @property
    def mode(self) -> SimulationMode:
        return self.firmware.mode

    def advance(self, to: datetime) -> None:
        """Move the true clock to `to`, event to event. `ValueError` if `to` is earlier."""
        target = to_us(to)
        if target < self._now:
            raise ValueError(f"cannot go back in time from {self.now} to {to}")
        while True:
            boundary = self.hardware.next_boundary(self._now)
            step = target if boundary is None else min(target, boundary)
            self._run_firmware(self.hardware.ticks_at(step))
            self._now = step
            if boundary is not None and step == boundary:
                self.hardware.cross_boundary(step)
                self._after_hardware_change()
            self._flush_notes()
            if step >= target:
                return

    def _run_firmware(self, ticks: int) -> None:
        while not self.dead:
            try:
                self.firmware.run_until(ticks)
                return
            except FirmwareRestart as restart:
                self._restart(restart.cause)
            except PowerInterrupted:
                self._restart(BootCause.POWER_LOSS)

    def _after_hardware_change(self) -> None:
        if self.dead:
            return
        if self.hardware.state.restart_requested:
            self.hardware.state.restart_requested = False
            self._restart(BootCause.POWER_LOSS)
        try:
            self.firmware.hardware_changed()
        except PowerInterrupted:
            self._restart(BootCause.POWER_LOSS)

    def _restart(self, cause: BootCause) -> None:
        ticks = self.firmware.ticks
        if self.hardware.state.dead:
            self.dead = True
            self._emit(self._now, None, "hardware", "pump_dead", "the pump has stopped working")
            return
        for _ in range(4):
            try:
                self.firmware = Firmware.boot(
                    self.profile,
                    self.hardware,
                    self.library,
                    self.firmware.mode,
                    ticks,
                    cause,
                    self.firmware.serial,
                    self._on_log,
                )
                return
            except PowerInterrupted:
                cause = BootCause.POWER_LOSS
        raise RuntimeError("the firmware could not restart")  # a bug: tears are one-shot

    # ------------------------------------------------------------------ telemetry
    def handle(self, request: Request) -> Response:
        """Carry one command to the pump now. A pump whose battery is exhausted does not
        answer (an `INVALID_STATE` rejection says so; a link would see a timeout)."""
        if self.dead:
            return Rejected(Rejection.INVALID_STATE, "no answer: the pump's battery is exhausted")
        try:
            response = self.firmware.handle(request)
        except PowerInterrupted:
            self._restart(BootCause.POWER_LOSS)
            response = Rejected(
                Rejection.INVALID_STATE,
                "the pump restarted (power loss) while executing the command; interrogate it",
            )
        except FirmwareRestart as restart:
            self._restart(restart.cause)
            response = Rejected(
                Rejection.INVALID_STATE, "the pump reset (low battery) while executing the command"
            )
        self._flush_notes()
        return response

    def send(self, command: Command, role: Role = Role.CLINICIAN) -> Response:
        """`handle` with a fresh request id (for scripts and scenarios)."""
        self._counter += 1
        return self.handle(Request(f"twin-{self._counter}", role, command))

    # ------------------------------------------------------------------ the physical world
    def inject_fault(self, fault: Fault) -> None:
        """Add a fault; it must not start before the twin's current time."""
        self.hardware.add_fault(fault, self._now)
        if fault.start == self.now:
            self._after_hardware_change()
        self._flush_notes()

    def power_loss(self) -> None:
        """Power drops now: the firmware restarts from non-volatile memory."""
        if not self.dead:
            self._restart(BootCause.POWER_LOSS)
            self._flush_notes()

    def aspirate(self, volume: Volume | None = None) -> Volume:
        """Withdraw `volume` (None: all there is) through the refill septum."""
        return self.hardware.aspirate(volume, self._now)

    def inject(self, volume: Volume, drug: str, concentration: Concentration) -> InjectionOutcome:
        """Inject through the refill septum (a pocket-fill fault may divert it)."""
        outcome = self.hardware.inject(volume, drug, concentration, self._now)
        self._flush_notes()
        return outcome

    def refill_visit(
        self,
        volume: Volume,
        *,
        aspirate: Volume | None = None,
        drug: str | None = None,
        concentration: Concentration | None = None,
        declared_volume: Volume | None = None,
    ) -> RefillVisit:
        """A refill visit: aspirate (`aspirate`, None = everything), inject `volume` of
        the drug (the current one unless changed), then register the refill with what
        was aspirated and what the clinician believes the reservoir now holds
        (`declared_volume`, by default the injected volume)."""
        ram = self.firmware.ram
        drug = drug if drug is not None else ram.therapy.drug
        concentration = concentration if concentration is not None else ram.therapy.concentration
        aspirated = self.aspirate(aspirate)
        injection = self.inject(volume, drug, concentration)
        declared = declared_volume if declared_volume is not None else volume
        if self.profile.electronics:
            response = self.send(RegisterRefill(aspirated, declared, drug, concentration))
        else:
            response = self.firmware.register_refill(aspirated, declared, drug, concentration)
            self._flush_notes()
        return RefillVisit(aspirated, injection, response)

    def truth(self) -> HardwareTruth:
        """What is physically so (the firmware never sees this)."""
        return self.hardware.truth()

    def view(self) -> InterrogationReport:
        """The firmware's full state as an interrogation would show it, without sending a
        command (nothing is logged, no hold is released). For observers and tests."""
        return self.firmware.report()

    # ------------------------------------------------------------------ observer
    def _on_log(self, event: LogEvent, ticks: int) -> None:
        if self.observer is None:
            return
        self.observer(
            SimEvent(
                from_us(self.hardware.true_at(ticks)),
                event.at,
                "firmware",
                event.kind.value,
                event.message,
                event.details,
            )
        )

    def _emit(
        self, true_us: int, local: datetime | None, source: str, kind: str, message: str
    ) -> None:
        if self.observer is not None:
            self.observer(SimEvent(from_us(true_us), local, source, kind, message))

    def _flush_notes(self) -> None:
        notes = self.hardware.notes
        if notes:
            self.hardware.notes = []
            for true_us, kind, message in notes:
                self._emit(true_us, None, "hardware", kind, message)

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """The whole twin as a JSON-able dict (see `restore`)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "model": self.profile.id,
            "library": self.library.name,
            "now": self._now,
            "dead": self.dead,
            "counter": self._counter,
            "mode": self.firmware.mode.value,
            "serial": self.firmware.serial,
            "hardware": to_plain(self.hardware.state),
            "faults": to_plain(tuple(self.hardware.faults)),
            "memory": to_plain(self.hardware.memory),
            "firmware": to_plain(self.firmware.ram),
        }

    @classmethod
    def restore(
        cls,
        data: dict[str, Any],
        library: DrugLibrary | None = None,
        observer: Observer | None = None,
    ) -> PumpTwin:
        """Rebuild a twin from `snapshot()` output. A twin built with its own drug library
        must be given the same library again. `ValueError` for data that is not a twin
        snapshot."""
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a pump twin snapshot (expected format {SNAPSHOT_FORMAT!r})")
        library = library if library is not None else default_library()
        if data["library"] != library.name:
            raise ValueError(
                f"the snapshot was made with drug library {data['library']!r}; pass that library"
            )
        profile = device_profile(str(data["model"]))
        state = from_plain(data["hardware"])
        faults = from_plain(data["faults"])
        memory = from_plain(data["memory"])
        ram = from_plain(data["firmware"])
        if not (
            isinstance(state, HardwareState)
            and isinstance(memory, NonVolatileMemory)
            and isinstance(ram, FirmwareRam)
            and isinstance(faults, tuple)
        ):
            raise ValueError("the snapshot's parts do not decode to a twin")
        hardware = PumpHardware(profile, state, faults, memory)
        firmware = Firmware(
            profile,
            hardware,
            library,
            SimulationMode(data["mode"]),
            ram,
            str(data["serial"]),
        )
        return cls(
            profile,
            hardware,
            firmware,
            int(data["now"]),
            library,
            observer,
            bool(data["dead"]),
            int(data["counter"]),
        )


register(SimEvent)
