"""The hardware model: what is physically in and around the implanted pump.

The true reservoir (volume and drug mass, well mixed), the motor or valve that moves
one stroke (pulse) at a time, the fluid path from the pump outlet through the tubing and
catheter to the tip (first in, first out), the battery, the oscillator, the
non-volatile memory chip, the magnetic-field sensor and the flow-activated valve.
Injected `Fault`s change what happens, through their hooks.

The firmware sees the hardware only through `HardwareInterface`: it commands strokes
and is told how many completed; it reads the battery, the field sensor and the valve;
it reads and writes memory. It never sees the true reservoir.

Conditions change only at fault boundaries, which the twin steps to; between them the
hardware's effects are constant, so a batch of strokes is exact without a loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Protocol

from thecal.pump.codec import register
from thecal.pump.faults import Fault
from thecal.pump.nvm import NonVolatileMemory
from thecal.pump.profiles import DeviceProfile, MriResponse
from thecal.pump.timebase import Oscillator, from_us, to_us
from thecal.therapy.quantities import Concentration, Mass, Volume

__all__ = [
    "DriveResult",
    "DriveStatus",
    "HardwareInterface",
    "HardwareState",
    "HardwareTruth",
    "InjectionOutcome",
    "PumpHardware",
]


class DriveStatus(StrEnum):
    OK = "ok"
    STALLED = "stalled"  # the motor did not turn
    BROWNOUT = "brownout"  # the battery fell below the reset level: the electronics reset
    VALVE_CLOSED = "valve_closed"  # the flow-activated valve is closed
    DEAD = "dead"  # the battery is exhausted: nothing works


@dataclass(frozen=True)
class DriveResult:
    completed: Fraction  # strokes actually completed
    status: DriveStatus


class HardwareInterface(Protocol):
    """The narrow interface the firmware uses. `at` is the pump's oscillator (ticks)."""

    @property
    def memory(self) -> NonVolatileMemory: ...

    def drive(self, strokes: Fraction, at: int) -> DriveResult:
        """Run the motor (or valve) for `strokes` strokes; fractional in analytic mode."""
        ...

    def motor_turns(self, at: int) -> bool:
        """A test of the motor: does it turn now?"""
        ...

    def battery_level(self, at: int) -> Fraction | None:
        """Measured charge as a fraction of capacity; None without a battery."""
        ...

    def magnet_detected(self, at: int) -> bool:
        """The field sensor: a strong magnetic field is present."""
        ...

    def flow_valve_closed(self) -> bool: ...

    def reset_flow_valve(self, at: int) -> bool:
        """Re-open the flow-activated valve; False if it cannot be reset now."""
        ...


@dataclass
class HardwareState:
    """The hardware's mutable physical state (exact values; volumes in mL, masses in mcg)."""

    reservoir_volume: Fraction
    reservoir_mass: Fraction
    reservoir_drug: str
    pathway: list[tuple[Fraction, Fraction]]  # (volume, concentration) from outlet to tip
    oscillator: Oscillator
    charge: Fraction | None  # fraction of battery capacity; None: no battery
    charge_at: int  # true µs of the last battery update
    pumped_volume: Fraction = Fraction(0)
    delivered_volume: Fraction = Fraction(0)
    delivered_mass: Fraction = Fraction(0)
    pocket_volume: Fraction = Fraction(0)
    pocket_mass: Fraction = Fraction(0)
    strokes: Fraction = Fraction(0)
    reset_crossed: bool = False
    dead: bool = False
    valve_closed: bool = False
    ran_dry: bool = False
    restart_requested: bool = False
    brownout_pending: bool = False  # the charge fell below the reset level since the last drive


@dataclass(frozen=True)
class HardwareTruth:
    """What is physically so, for the simulation's observer (never shown to firmware)."""

    reservoir_volume: Volume
    reservoir_drug: str
    reservoir_concentration: Concentration | None
    pumped_volume: Volume  # left the reservoir
    delivered_volume: Volume  # left the catheter tip
    delivered_dose: Mass  # drug that reached the CSF
    pocket_dose: Mass  # drug injected into the pocket instead of the reservoir
    battery_charge: Fraction | None
    strokes: Fraction
    valve_closed: bool
    dead: bool
    ran_dry: bool


@dataclass(frozen=True)
class InjectionOutcome:
    """Where an injection at the refill port went."""

    into_reservoir: Volume
    into_pocket: Volume
    not_injected: Volume  # the reservoir was full: it stays in the syringe


@dataclass(frozen=True)
class _Effects:
    factor: Fraction
    blocked: bool
    passing: Fraction
    drain: Fraction
    field: bool
    rate: Fraction
    pocket: Fraction
    rotor_bound: bool


class PumpHardware:
    """The physical pump. `notes` collects (true µs, kind, message) happenings that the
    twin passes on to its observer."""

    def __init__(
        self,
        profile: DeviceProfile,
        state: HardwareState,
        faults: Sequence[Fault] = (),
        memory: NonVolatileMemory | None = None,
    ) -> None:
        self.profile = profile
        self.state = state
        self.faults: list[Fault] = list(faults)
        self._memory = memory if memory is not None else NonVolatileMemory()
        self.notes: list[tuple[int, str, str]] = []
        self._stroke_ml = profile.stroke_volume.value.ml
        battery = profile.battery
        self._per_stroke = battery.per_ml * self._stroke_ml if battery else Fraction(0)
        self._idle_per_us = battery.idle_per_us if battery else Fraction(0)
        self._reset_level = battery.reset_level.value if battery else Fraction(0)
        self._effects = self._effects_at(state.charge_at)

    # -- construction -------------------------------------------------------------
    @classmethod
    def implanted(
        cls,
        profile: DeviceProfile,
        at: datetime,
        drug: str,
        concentration: Concentration,
        fill: Volume,
        pathway_volume: Volume,
        primed: bool,
        faults: Sequence[Fault] = (),
        battery_charge: Fraction = Fraction(1),
    ) -> PumpHardware:
        """A new pump, filled with `fill` of `drug`, its fluid path full of that drug if
        `primed`, else of drug-free fluid; its battery at `battery_charge` of capacity."""
        if fill.amount < 0 or fill > profile.capacity:
            raise ValueError(f"fill {fill} must be from 0 to the reservoir's {profile.capacity}")
        if not 0 < battery_charge <= 1:
            raise ValueError("battery charge must be above 0 and at most 1 (full)")
        now = to_us(at)
        path_conc = concentration.amount if primed else Fraction(0)
        pathway = [(pathway_volume.amount, path_conc)] if pathway_volume.amount > 0 else []
        state = HardwareState(
            reservoir_volume=fill.amount,
            reservoir_mass=fill.amount * concentration.amount,
            reservoir_drug=drug.strip().lower(),
            pathway=pathway,
            oscillator=Oscillator(now, now),
            charge=battery_charge if profile.battery is not None else None,
            charge_at=now,
        )
        return cls(profile, state, faults)

    # -- the interface the firmware uses -----------------------------------------
    @property
    def memory(self) -> NonVolatileMemory:
        return self._memory

    def drive(self, strokes: Fraction, at: int) -> DriveResult:
        s = self.state
        now = s.oscillator.true_at(at)
        self._settle(now)
        if s.dead:
            return DriveResult(Fraction(0), DriveStatus.DEAD)
        if s.brownout_pending:
            s.brownout_pending = False
            return DriveResult(Fraction(0), DriveStatus.BROWNOUT)
        if strokes <= 0:
            return DriveResult(Fraction(0), DriveStatus.OK)
        if s.valve_closed:
            return DriveResult(Fraction(0), DriveStatus.VALVE_CLOSED)
        if self._blocked():
            return DriveResult(Fraction(0), DriveStatus.STALLED)
        completed = strokes
        status = DriveStatus.OK
        if s.charge is not None and self._per_stroke > 0:
            per_stroke = self._per_stroke * self._effects.drain
            floor = Fraction(0) if s.reset_crossed else self._reset_level
            room = (s.charge - floor) / per_stroke
            if completed >= room:
                completed = max(Fraction(0), _whole_if(room, strokes))
                if s.reset_crossed:
                    s.dead = True
                    status = DriveStatus.DEAD
                else:
                    s.reset_crossed = True
                    status = DriveStatus.BROWNOUT
            s.charge -= completed * per_stroke
            if s.dead:
                s.charge = Fraction(0)
                self.notes.append((now, "battery_exhausted", "the battery is exhausted"))
        volume = completed * self._stroke_ml * self._effects.factor * self._effects.passing
        self._move(volume, now)
        s.strokes += completed
        return DriveResult(completed, status)

    def motor_turns(self, at: int) -> bool:
        now = self.state.oscillator.true_at(at)
        self._settle(now)
        return not self.state.dead and not self._blocked()

    def battery_level(self, at: int) -> Fraction | None:
        self._settle(self.state.oscillator.true_at(at))
        self.state.brownout_pending = False  # the firmware sees the level itself
        return self.state.charge

    def magnet_detected(self, at: int) -> bool:
        return self._effects.field

    def flow_valve_closed(self) -> bool:
        return self.state.valve_closed

    def reset_flow_valve(self, at: int) -> bool:
        if self._effects.field:
            return False
        self.state.valve_closed = False
        return True

    # -- time and faults (the twin drives these) ---------------------------------
    def ticks_at(self, true_us: int) -> int:
        return self.state.oscillator.ticks_at(true_us)

    def true_at(self, ticks: int) -> int:
        return self.state.oscillator.true_at(ticks)

    def next_boundary(self, after: int) -> int | None:
        """The first true µs after `after` at which a fault's effect changes."""
        best: int | None = None
        for fault in self.faults:
            for moment in fault.boundaries():
                us = to_us(moment)
                if us > after and (best is None or us < best):
                    best = us
        return best

    def add_fault(self, fault: Fault, now: int) -> None:
        """Inject a fault (its start may be now or later; not in the past)."""
        if to_us(fault.start) < now:
            raise ValueError(f"fault {fault.describe()} starts before the twin's current time")
        self.faults.append(fault)
        if to_us(fault.start) == now:
            self.cross_boundary(now)

    def cross_boundary(self, now: int) -> None:
        """Apply whatever changes at true µs `now`: battery drain up to it under the old
        conditions, then the new conditions, one-shot fault actions and field physics."""
        self._settle(now)
        before = self._effects
        after = self._effects_at(now)
        self._effects = after
        if after.rate != before.rate:
            self.state.oscillator = self.state.oscillator.rerated(now, after.rate)
        at = from_us(now)
        for fault in self.faults:
            if fault.start == at:
                self.notes.append((now, "fault_started", fault.describe()))
                action = fault.on_start(self)
                if action:
                    self.notes.append((now, "fault_action", action))
            elif fault.end == at:
                self.notes.append((now, "fault_ended", fault.describe()))
        if after.field and not before.field:
            self._field_arrives(now)

    def request_restart(self) -> None:
        self.state.restart_requested = True

    # -- the refill port (the clinician's syringe) --------------------------------
    def aspirate(self, volume: Volume | None, now: int) -> Volume:
        """Withdraw `volume` (None: everything) from the reservoir; returns what came out."""
        s = self.state
        wanted = s.reservoir_volume if volume is None else min(volume.amount, s.reservoir_volume)
        if wanted < 0:
            raise ValueError("cannot aspirate a negative volume")
        if s.reservoir_volume > 0:
            s.reservoir_mass -= wanted * s.reservoir_mass / s.reservoir_volume
        s.reservoir_volume -= wanted
        if s.reservoir_volume == 0:
            s.reservoir_mass = Fraction(0)
        return Volume(wanted)

    def inject(
        self, volume: Volume, drug: str, concentration: Concentration, now: int
    ) -> InjectionOutcome:
        """Inject through the refill septum; a pocket-fill fault diverts part of it."""
        if volume.amount < 0:
            raise ValueError("cannot inject a negative volume")
        s = self.state
        effects = self._effects_at(now)
        pocket = volume.amount * effects.pocket
        rest = volume.amount - pocket
        room = self.profile.capacity.amount - s.reservoir_volume
        into = min(rest, room)
        s.pocket_volume += pocket
        s.pocket_mass += pocket * concentration.amount
        if into > 0:
            s.reservoir_volume += into
            s.reservoir_mass += into * concentration.amount
            s.reservoir_drug = drug.strip().lower()
            s.ran_dry = False
        if pocket > 0:
            self.notes.append((now, "pocket_fill", f"{Volume(pocket)} went into the pocket"))
        return InjectionOutcome(Volume(into), Volume(pocket), Volume(rest - into))

    def truth(self) -> HardwareTruth:
        s = self.state
        conc = (
            Concentration(s.reservoir_mass / s.reservoir_volume) if s.reservoir_volume > 0 else None
        )
        return HardwareTruth(
            reservoir_volume=Volume(s.reservoir_volume),
            reservoir_drug=s.reservoir_drug,
            reservoir_concentration=conc,
            pumped_volume=Volume(s.pumped_volume),
            delivered_volume=Volume(s.delivered_volume),
            delivered_dose=Mass(s.delivered_mass),
            pocket_dose=Mass(s.pocket_mass),
            battery_charge=s.charge,
            strokes=s.strokes,
            valve_closed=s.valve_closed,
            dead=s.dead,
            ran_dry=s.ran_dry,
        )

    # -- physics --------------------------------------------------------------------
    def _blocked(self) -> bool:
        effects = self._effects
        rotor = effects.rotor_bound and self.profile.mri_response.value is MriResponse.ROTOR_STALL
        return effects.blocked or rotor

    def _effects_at(self, now: int) -> _Effects:
        at = from_us(now)
        factor = passing = drain = rate = Fraction(1)
        pocket = Fraction(0)
        blocked = field_on = rotor = False
        for fault in self.faults:
            factor *= fault.stroke_volume_factor(at)
            passing *= fault.catheter_passing(at)
            drain *= fault.battery_drain_factor(at)
            rate *= fault.oscillator_rate(at)
            pocket = max(pocket, fault.pocket_fraction(at))
            blocked = blocked or fault.motor_blocked(at)
            field_on = field_on or fault.magnetic_field(at)
            rotor = rotor or fault.rotor_bound(at)
        return _Effects(factor, blocked, passing, drain, field_on, rate, pocket, rotor)

    def _settle(self, now: int) -> None:
        """Idle battery drain up to true µs `now` (conditions constant since the last)."""
        s = self.state
        if now <= s.charge_at:
            return
        if s.charge is not None and not s.dead:
            s.charge -= self._idle_per_us * (now - s.charge_at) * self._effects.drain
            if s.charge <= self._reset_level and not s.reset_crossed:
                s.reset_crossed = True
                s.brownout_pending = True
            if s.charge <= 0:
                s.charge = Fraction(0)
                s.dead = True
                self.notes.append((now, "battery_exhausted", "the battery is exhausted"))
        s.charge_at = now

    def _field_arrives(self, now: int) -> None:
        response = self.profile.mri_response.value
        if response is MriResponse.ROTOR_STALL:
            self.notes.append((now, "rotor_stopped", "the magnetic field stopped the rotor"))
        elif response is MriResponse.VALVES_OPEN:
            s = self.state
            if self.profile.flow_activated_valve.value and self.profile.fav_limit is not None:
                passed = min(self.profile.fav_limit.value.amount, s.reservoir_volume)
                self._move(passed, now)
                s.valve_closed = True
                self.notes.append(
                    (now, "flow_valve_closed", f"valves opened; {Volume(passed)} passed before "
                     "the flow-activated valve closed")
                )  # fmt: skip
            else:
                dumped = s.reservoir_volume
                self._move(dumped, now)
                self.notes.append(
                    (now, "reservoir_discharged", f"valves opened: {Volume(dumped)} discharged")
                )

    def _move(self, volume: Fraction, now: int) -> None:
        """Move `volume` mL out of the reservoir into the fluid path (limited by what is
        there); the same volume leaves the catheter tip."""
        s = self.state
        if volume <= 0:
            return
        if volume >= s.reservoir_volume:
            if not s.ran_dry and volume > s.reservoir_volume:
                s.ran_dry = True
                self.notes.append((now, "reservoir_ran_dry", "the true reservoir is empty"))
            volume = s.reservoir_volume
            if volume <= 0:
                return
        concentration = s.reservoir_mass / s.reservoir_volume
        mass = volume * concentration
        s.reservoir_volume -= volume
        s.reservoir_mass -= mass
        if s.reservoir_volume == 0:
            s.reservoir_mass = Fraction(0)
        s.pumped_volume += volume
        path = s.pathway
        if not path:
            s.delivered_volume += volume
            s.delivered_mass += mass
            return
        if path[-1][1] == concentration:
            path[-1] = (path[-1][0] + volume, concentration)
        else:
            path.append((volume, concentration))
        remaining = volume
        out = Fraction(0)
        while remaining > 0:
            head_volume, head_conc = path[0]
            if head_volume <= remaining:
                out += head_volume * head_conc
                remaining -= head_volume
                path.pop(0)
            else:
                out += remaining * head_conc
                path[0] = (head_volume - remaining, head_conc)
                remaining = Fraction(0)
        s.delivered_volume += volume
        s.delivered_mass += out


def _whole_if(room: Fraction, strokes: Fraction) -> Fraction:
    """Strokes that fit in `room`: whole strokes when whole strokes were asked for."""
    if strokes.denominator == 1:
        return Fraction(room.numerator // room.denominator)
    return room


register(HardwareState, DriveStatus, Oscillator)
