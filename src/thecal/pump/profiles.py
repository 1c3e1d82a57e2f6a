"""Device profiles: the hardware internals the twin adds to each pump model.

The therapy core's `PumpModel` (found with `find_pump_model(id)`) says what a kind of
pump can hold and deliver. A `DeviceProfile` wraps it with what the twin needs to
simulate the device: stroke (pulse) volume, battery longevity, alarm repeats, memory
sizes, how it reacts to an MRI field, the flow-activated valve. Data: one file per
family in `thecal/pump/data/`, every number sourced or labelled "profile parameter".

The battery model is derived from two sourced longevities: the life to end of service
at zero flow and at a reference flow. Charge (a fraction of capacity) falls by an idle
amount per unit time plus an amount per millilitre pumped; ERI is declared at
`eri_level`, end of service follows `eos_after_eri` later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from typing import Any

from thecal.therapy.pump_models import PumpKind, PumpModel, find_pump_model
from thecal.therapy.quantities import SECONDS_PER_DAY, Duration, Volume, VolumeRate, exact
from thecal.therapy.sourced import Sourced, SourcedReader, parse_bool, parse_int
from thecal.therapy.units import parse_duration, parse_volume, parse_volume_rate

__all__ = [
    "BatteryProfile",
    "DeviceProfile",
    "MriResponse",
    "device_profile",
    "device_profiles",
]

_FILES = ("peristaltic.toml", "valve_accumulator.toml", "constant_flow.toml")


class MriResponse(StrEnum):
    """What a strong magnetic field does to the pump mechanism."""

    ROTOR_STALL = "rotor_stall"  # the field stops the peristaltic rotor (S39)
    VALVES_OPEN = "valves_open"  # the field can open the valves (S31); a FAV limits it (S30)
    NONE = "none"  # a gas-driven constant-flow pump is unaffected (S38)


@dataclass(frozen=True)
class BatteryProfile:
    """Battery longevity figures; consumption is derived from them."""

    longevity_max: Sourced[Duration]
    longevity_reference: Sourced[Duration]
    reference_flow: Sourced[VolumeRate]
    eri_level: Sourced[Fraction]
    eos_after_eri: Sourced[Duration]
    reset_level: Sourced[Fraction]

    @property
    def idle_per_day(self) -> Fraction:
        """Fraction of capacity used per day with no flow."""
        to_eri = self.longevity_max.value - self.eos_after_eri.value
        return (1 - self.eri_level.value) / to_eri.days

    @property
    def per_ml(self) -> Fraction:
        """Fraction of capacity used per millilitre pumped (nominal strokes)."""
        to_eri = self.longevity_reference.value - self.eos_after_eri.value
        at_reference = (1 - self.eri_level.value) / to_eri.days
        return (at_reference - self.idle_per_day) / self.reference_flow.value.ml_per_day

    def consumption_per_day(self, flow: VolumeRate) -> Fraction:
        """Fraction of capacity used per day at an average pumped volume rate."""
        return self.idle_per_day + self.per_ml * flow.ml_per_day

    @property
    def idle_per_us(self) -> Fraction:
        return self.idle_per_day / (SECONDS_PER_DAY * 1_000_000)


@dataclass(frozen=True)
class DeviceProfile:
    """Everything the twin knows about one pump model: capability plus hardware internals."""

    model: PumpModel
    stroke_volume: Sourced[Volume]
    electronics: bool
    battery: BatteryProfile | None
    empty_level: Sourced[Volume]
    self_check_interval: Sourced[Duration]
    checkpoint_interval: Sourced[Duration]
    critical_repeat: Sourced[Duration]
    non_critical_repeat: Sourced[Duration]
    log_capacity: Sourced[int]
    request_memory: Sourced[int]
    mri_response: Sourced[MriResponse]
    mri_recovery_min: Sourced[Duration] | None
    mri_recovery_max: Sourced[Duration] | None
    mri_alarm_latch: Sourced[bool]
    flow_activated_valve: Sourced[bool]
    fav_limit: Sourced[Volume] | None
    sources: Mapping[str, str]

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def kind(self) -> PumpKind:
        return self.model.kind

    @property
    def capacity(self) -> Volume:
        return self.model.reservoir.value

    @property
    def refill_discrepancy_limit(self) -> Sourced[Volume]:
        """The model's refill discrepancy limit (therapy pump model data, with its source)."""
        return self.model.refill_discrepancy_limit

    def cite(self, sourced: Sourced[Any]) -> str:
        """Full citation text of a sourced value, or "profile parameter"."""
        if sourced.site_default or sourced.source is None:
            return "profile parameter (no published number found)"
        return self.sources.get(sourced.source, sourced.source)


def _fraction(raw: object, where: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f'{where}: must be a decimal number in quotes, e.g. "0.08"')
    value = exact(raw if isinstance(raw, int) else raw.strip())
    if not 0 <= value <= 1:
        raise ValueError(f"{where}: must be a fraction from 0 to 1")
    return value


def _mri(raw: object, where: str) -> MriResponse:
    try:
        return MriResponse(str(raw))
    except ValueError:
        accepted = ", ".join(item.value for item in MriResponse)
        raise ValueError(f"{where}: {raw!r} is not one of {accepted}") from None


def _load_file(name: str) -> list[DeviceProfile]:
    text = resources.files("thecal.pump").joinpath(f"data/{name}").read_text("utf-8")
    data = tomllib.loads(text)
    sources: dict[str, str] = data.get("sources", {})
    reader = SourcedReader(
        sources, unsourced_key="profile_parameter", unsourced_kind="profile parameter"
    )
    family: dict[str, Any] = data["family"]
    kind = PumpKind(data["kind"])

    def s(key: str, parse: Any, table: dict[str, Any] = family, required: bool = True) -> Any:
        return reader.sourced(f"{name}:{key}", table.get(key), parse, required)

    battery_raw = family.get("battery")
    battery = None
    if battery_raw is not None:
        battery = BatteryProfile(
            longevity_max=s("longevity_max", parse_duration, battery_raw),
            longevity_reference=s("longevity_reference", parse_duration, battery_raw),
            reference_flow=s("reference_flow", parse_volume_rate, battery_raw),
            eri_level=s("eri_level", _fraction, battery_raw),
            eos_after_eri=s("eos_after_eri", parse_duration, battery_raw),
            reset_level=s("reset_level", _fraction, battery_raw),
        )
    common = {
        "stroke_volume": s("stroke_volume", parse_volume),
        "electronics": parse_bool(family["electronics"], f"{name}:electronics"),
        "battery": battery,
        "empty_level": s("empty_level", parse_volume),
        "self_check_interval": s("self_check_interval", parse_duration),
        "checkpoint_interval": s("checkpoint_interval", parse_duration),
        "critical_repeat": s("critical_repeat", parse_duration),
        "non_critical_repeat": s("non_critical_repeat", parse_duration),
        "log_capacity": s("log_capacity", parse_int),
        "request_memory": s("request_memory", parse_int),
        "mri_response": s("mri_response", _mri),
        "mri_recovery_min": s("mri_recovery_min", parse_duration, required=False),
        "mri_recovery_max": s("mri_recovery_max", parse_duration, required=False),
        "mri_alarm_latch": s("mri_alarm_latch", parse_bool),
        "flow_activated_valve": s("flow_activated_valve", parse_bool),
        "fav_limit": s("fav_limit", parse_volume, required=False),
        "sources": sources,
    }
    profiles: list[DeviceProfile] = []
    for raw in data.get("models", []):
        model = find_pump_model(str(raw["id"]))
        if model.kind is not kind:
            reader.problems.append(f"{name}: model {model.id} is {model.kind}, not {kind}")
        profiles.append(DeviceProfile(model=model, **common))
    if reader.problems:
        # The shipped data files are part of the program: a problem here is a bug.
        raise RuntimeError(f"pump profile {name} is invalid: " + "; ".join(reader.problems))
    return profiles


_PROFILES: tuple[DeviceProfile, ...] | None = None


def device_profiles() -> tuple[DeviceProfile, ...]:
    """Every device profile the twin knows, one per pump model id."""
    global _PROFILES
    if _PROFILES is None:
        _PROFILES = tuple(p for name in _FILES for p in _load_file(name))
    return _PROFILES


def device_profile(model_id: str) -> DeviceProfile:
    """The device profile for a pump model id; `ValueError` naming the accepted ids."""
    wanted = model_id.strip().lower()
    for profile in device_profiles():
        if profile.id == wanted:
            return profile
    accepted = ", ".join(p.id for p in device_profiles())
    raise ValueError(f"unknown pump model {model_id!r}; accepted: {accepted}")
