"""Faults injected into the hardware model.

A fault is a small frozen value: when it is active (true time, `start` to `end`, or for
ever when `end` is None) and the one hook it overrides. The hardware asks its faults
through these hooks; the firmware never sees a fault, only its effects through the
hardware interface, just as real firmware would. Neutral defaults live on `Fault`.

=========================  ==========================  =================================
fault                      hook                        what the hardware then does
=========================  ==========================  =================================
`RateError`                `stroke_volume_factor`      each stroke moves factor x volume
`MotorStall`               `motor_blocked`             strokes do not complete
`CatheterOcclusion`        `catheter_passing`          only that fraction leaves the pump
`PocketFill`               `pocket_fraction`           injected drug goes to the pocket
`EarlyBatteryDepletion`    `battery_drain_factor`      the battery drains faster
`MemoryCorruption`         `on_start`                  a bit flips in a stored record
`ClockDrift`               `oscillator_rate`           the pump's oscillator runs off
`MriExposure`              `magnetic_field` (+ rotor)  field present; rotor binds after
`PowerLoss`                `on_start`                  power drops (optionally mid-write)
=========================  ==========================  =================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING

from thecal.pump.codec import register
from thecal.therapy.quantities import Duration

if TYPE_CHECKING:
    from thecal.pump.hardware import PumpHardware

__all__ = [
    "FAULT_KINDS",
    "CatheterOcclusion",
    "ClockDrift",
    "EarlyBatteryDepletion",
    "Fault",
    "MemoryCorruption",
    "MotorStall",
    "MriExposure",
    "PocketFill",
    "PowerLoss",
    "RateError",
]


@dataclass(frozen=True)
class Fault:
    """Base: active from `start` until `end` (true time; None = for ever). Hooks are
    neutral here; each fault overrides the one it is about."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"{type(self).__name__}: end {self.end} is before start {self.start}")

    def active(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def boundaries(self) -> tuple[datetime, ...]:
        """True times at which this fault's effect changes."""
        return (self.start,) if self.end is None else (self.start, self.end)

    def describe(self) -> str:
        return type(self).__name__

    # Hooks ------------------------------------------------------------------
    def stroke_volume_factor(self, at: datetime) -> Fraction:
        return Fraction(1)

    def motor_blocked(self, at: datetime) -> bool:
        return False

    def rotor_bound(self, at: datetime) -> bool:
        return False

    def catheter_passing(self, at: datetime) -> Fraction:
        return Fraction(1)

    def pocket_fraction(self, at: datetime) -> Fraction:
        return Fraction(0)

    def battery_drain_factor(self, at: datetime) -> Fraction:
        return Fraction(1)

    def oscillator_rate(self, at: datetime) -> Fraction:
        return Fraction(1)

    def magnetic_field(self, at: datetime) -> bool:
        return False

    def on_start(self, hardware: PumpHardware) -> str | None:
        """A one-shot action when the fault starts; returns what happened, if anything."""
        return None


@dataclass(frozen=True)
class RateError(Fault):
    """Over-infusion (factor > 1) or under-infusion (factor < 1): every stroke moves
    `factor` times its nominal volume. Over-infusion means more than 14.5 % [S3]."""

    factor: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.factor < 0:
            raise ValueError("RateError: factor must not be negative")

    def stroke_volume_factor(self, at: datetime) -> Fraction:
        return self.factor if self.active(at) else Fraction(1)

    def describe(self) -> str:
        percent = (self.factor - 1) * 100
        return f"rate error {'+' if percent >= 0 else ''}{float(percent):.1f} %"


@dataclass(frozen=True)
class MotorStall(Fault):
    """The motor does not turn: transient with an `end`, permanent without one
    (e.g. a foreign particle in the motor [S20])."""

    def motor_blocked(self, at: datetime) -> bool:
        return self.active(at)

    def describe(self) -> str:
        return "motor stall" + (" (permanent)" if self.end is None else " (transient)")


@dataclass(frozen=True)
class CatheterOcclusion(Fault):
    """The catheter is blocked: only `passing` (0 to 1) of each stroke leaves the pump."""

    passing: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.passing <= 1:
            raise ValueError("CatheterOcclusion: passing must be from 0 to 1")

    def catheter_passing(self, at: datetime) -> Fraction:
        return self.passing if self.active(at) else Fraction(1)

    def describe(self) -> str:
        return f"catheter occlusion ({float((1 - self.passing) * 100):.0f} % blocked)"


@dataclass(frozen=True)
class PocketFill(Fault):
    """At refills within the window, `fraction` of the injected drug goes into the
    subcutaneous pocket instead of the reservoir [S21]."""

    fraction: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.fraction <= 1:
            raise ValueError("PocketFill: fraction must be from 0 to 1")

    def pocket_fraction(self, at: datetime) -> Fraction:
        return self.fraction if self.active(at) else Fraction(0)

    def describe(self) -> str:
        return f"pocket fill ({float(self.fraction * 100):.0f} % of the injection)"


@dataclass(frozen=True)
class EarlyBatteryDepletion(Fault):
    """The battery drains `drain_factor` times faster than designed (e.g. resistive film
    in the battery [S13]): premature ERI, low battery reset, end of service."""

    drain_factor: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.drain_factor < 1:
            raise ValueError("EarlyBatteryDepletion: drain_factor must be at least 1")

    def battery_drain_factor(self, at: datetime) -> Fraction:
        return self.drain_factor if self.active(at) else Fraction(1)

    def describe(self) -> str:
        return f"early battery depletion (x{float(self.drain_factor):g} drain)"


@dataclass(frozen=True)
class MemoryCorruption(Fault):
    """At `start`, one byte of the newest copy of a non-volatile `record` flips."""

    record: str = "prescription"

    def boundaries(self) -> tuple[datetime, ...]:
        return (self.start,)

    def on_start(self, hardware: PumpHardware) -> str | None:
        if hardware.memory.corrupt(self.record):
            return f"a bit flipped in non-volatile record {self.record!r}"
        return f"non-volatile record {self.record!r} does not exist; nothing corrupted"

    def describe(self) -> str:
        return f"memory corruption ({self.record})"


@dataclass(frozen=True)
class ClockDrift(Fault):
    """The oscillator runs `ppm` parts per million fast (negative: slow)."""

    ppm: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ppm <= -1_000_000:
            raise ValueError("ClockDrift: ppm must be above -1,000,000")

    def oscillator_rate(self, at: datetime) -> Fraction:
        return 1 + self.ppm / 1_000_000 if self.active(at) else Fraction(1)

    def describe(self) -> str:
        return f"clock drift {float(self.ppm):+g} ppm"


@dataclass(frozen=True)
class MriExposure(Fault):
    """A strong magnetic field from `start` to `end`. A peristaltic rotor stops during
    the field and gear binding keeps it stalled for `recovery` afterwards (2-24 h [S39]);
    valves may open [S31]; a gas-driven pump does not notice [S38]."""

    recovery: Duration = Duration(Fraction(0))  # noqa: RUF009 - an immutable value

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.end is None:
            raise ValueError("MriExposure: needs an end (the scan ends)")
        if self.recovery.seconds < 0:
            raise ValueError("MriExposure: recovery must not be negative")

    def _released(self) -> datetime:
        assert self.end is not None
        return self.end + self.recovery.to_timedelta_floor()

    def boundaries(self) -> tuple[datetime, ...]:
        assert self.end is not None
        return (self.start, self.end, self._released())

    def magnetic_field(self, at: datetime) -> bool:
        return self.active(at)

    def rotor_bound(self, at: datetime) -> bool:
        return self.start <= at < self._released()

    def describe(self) -> str:
        minutes = (self.end - self.start) // timedelta(minutes=1) if self.end else 0
        return f"MRI exposure {minutes} min (rotor recovery {self.recovery})"


@dataclass(frozen=True)
class PowerLoss(Fault):
    """Power drops at `start` and the electronics restart from non-volatile memory.
    With `torn_at` (a byte offset), power fails in the middle of the next memory write
    instead, after that many bytes of the record image have been written."""

    torn_at: int | None = None

    def boundaries(self) -> tuple[datetime, ...]:
        return (self.start,)

    def on_start(self, hardware: PumpHardware) -> str | None:
        if self.torn_at is None:
            hardware.request_restart()
            return "power lost; the electronics restart"
        hardware.memory.tear_next_write = self.torn_at
        return f"power will fail during the next memory write (after {self.torn_at} bytes)"

    def describe(self) -> str:
        return "power loss" + (" during a memory write" if self.torn_at is not None else "")


FAULT_KINDS: dict[str, type[Fault]] = {
    "rate_error": RateError,
    "motor_stall": MotorStall,
    "catheter_occlusion": CatheterOcclusion,
    "pocket_fill": PocketFill,
    "early_battery_depletion": EarlyBatteryDepletion,
    "memory_corruption": MemoryCorruption,
    "clock_drift": ClockDrift,
    "mri_exposure": MriExposure,
    "power_loss": PowerLoss,
}
"""Scenario names of the fault kinds."""

register(*FAULT_KINDS.values())
