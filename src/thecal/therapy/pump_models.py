"""Pump and catheter models as the programmer and the calculators know them.

A `PumpModel` says what a kind of pump can hold and deliver (reservoir, rate range,
minimum rate, tubing volume, accuracy, refill discrepancy limit); the safety evaluator
checks prescriptions against it and the calculators use its volumes. The pump twin adds
its hardware internals on top of these. Data: `data/pump_models.toml`, every number sourced or
labelled "profile parameter".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from importlib import resources

from thecal.therapy.limits import Limit
from thecal.therapy.quantities import Volume, VolumeRate, exact
from thecal.therapy.sourced import Sourced, SourcedReader, parse_bool, parse_int
from thecal.therapy.units import parse_volume, parse_volume_rate

__all__ = [
    "CatheterModel",
    "PumpKind",
    "PumpModel",
    "catheter_models",
    "find_catheter_model",
    "find_pump_model",
    "pump_models",
]


class PumpKind(StrEnum):
    PERISTALTIC = "peristaltic"
    VALVE_ACCUMULATOR = "valve_accumulator"
    CONSTANT_FLOW = "constant_flow"


@dataclass(frozen=True)
class PumpModel:
    """What one kind of implanted pump can hold and deliver."""

    id: str
    label: str
    kind: PumpKind
    programmable: bool
    reservoir: Sourced[Volume]
    tubing_volume: Sourced[Volume]
    accuracy_percent: Sourced[Fraction]
    min_volume_rate: Sourced[VolumeRate]
    max_volume_rate: Sourced[VolumeRate]
    minimum_rate: Sourced[VolumeRate]
    max_bolus_volume_rate: Sourced[VolumeRate]
    max_flex_steps: Sourced[int]
    default_low_reservoir_alarm: Sourced[Volume]
    refill_discrepancy_limit: Sourced[Volume]
    """A refill aspirate further than this from the expected volume is potentially
    consequential (pocket-fill risk), whatever the accuracy band allows."""

    @property
    def rate_floor(self) -> Limit[VolumeRate]:
        """The lowest volume rate (mL/day) the pump can run, basal or bolus: a hard minimum."""
        return Limit.minimum(hard=self.min_volume_rate)

    @property
    def basal_rate_ceiling(self) -> Limit[VolumeRate]:
        """The highest basal volume rate (mL/day): a hard maximum."""
        return Limit.maximum(hard=self.max_volume_rate)

    @property
    def bolus_rate_ceiling(self) -> Limit[VolumeRate]:
        """The highest bolus volume rate (mL/day): a hard maximum."""
        return Limit.maximum(hard=self.max_bolus_volume_rate)

    @property
    def flex_steps_limit(self) -> Limit[int]:
        """The most time-of-day steps a flex schedule may have: a hard maximum."""
        return Limit.maximum(hard=self.max_flex_steps)


@dataclass(frozen=True)
class CatheterModel:
    """An intrathecal catheter: full length (cm) and internal volume per cm."""

    id: str
    label: str
    length_cm: Sourced[Fraction]
    volume_per_cm: Sourced[Volume]


def _parse_fraction(raw: object, where: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f'{where}: must be a decimal number in quotes, e.g. "14.5"')
    value = exact(raw if isinstance(raw, int) else raw.strip())
    if value < 0:
        raise ValueError(f"{where}: must not be negative")
    return value


def _load() -> tuple[tuple[PumpModel, ...], tuple[CatheterModel, ...]]:
    text = resources.files("thecal.therapy").joinpath("data/pump_models.toml").read_text("utf-8")
    data = tomllib.loads(text)
    reader = SourcedReader(
        data.get("sources", {}),
        unsourced_key="profile_parameter",
        unsourced_kind="profile parameter",
    )
    pumps: list[PumpModel] = []
    for index, raw in enumerate(data.get("pumps", [])):
        where = f"pumps[{index}] {raw.get('id', '?')!r}"

        def s(key: str, parse: object, raw: dict[str, object] = raw, where: str = where) -> object:
            return reader.sourced(f"{where}.{key}", raw.get(key), parse)  # type: ignore[arg-type]

        fields = {
            "reservoir": s("reservoir", parse_volume),
            "tubing_volume": s("tubing_volume", parse_volume),
            "accuracy_percent": s("accuracy_percent", _parse_fraction),
            "min_volume_rate": s("min_volume_rate", parse_volume_rate),
            "max_volume_rate": s("max_volume_rate", parse_volume_rate),
            "minimum_rate": s("minimum_rate", parse_volume_rate),
            "max_bolus_volume_rate": s("max_bolus_volume_rate", parse_volume_rate),
            "max_flex_steps": s("max_flex_steps", parse_int),
            "default_low_reservoir_alarm": s("default_low_reservoir_alarm", parse_volume),
            "refill_discrepancy_limit": s("refill_discrepancy_limit", parse_volume),
        }
        pumps.append(
            PumpModel(
                id=str(raw["id"]),
                label=str(raw["label"]),
                kind=PumpKind(raw["kind"]),
                programmable=parse_bool(raw["programmable"], f"{where}.programmable"),
                **fields,  # type: ignore[arg-type]
            )
        )
    catheters: list[CatheterModel] = []
    for index, raw in enumerate(data.get("catheters", [])):
        where = f"catheters[{index}]"
        length = reader.sourced(f"{where}.length", raw.get("length"), _parse_fraction)
        per_cm = reader.sourced(f"{where}.volume_per_cm", raw.get("volume_per_cm"), parse_volume)
        if length is not None and per_cm is not None:
            catheters.append(CatheterModel(str(raw["id"]), str(raw["label"]), length, per_cm))
    if reader.problems:
        # The shipped data file is part of the program: a problem here is a bug.
        raise RuntimeError("pump_models.toml is invalid: " + "; ".join(reader.problems))
    return tuple(pumps), tuple(catheters)


_MODELS: tuple[tuple[PumpModel, ...], tuple[CatheterModel, ...]] | None = None


def _models() -> tuple[tuple[PumpModel, ...], tuple[CatheterModel, ...]]:
    global _MODELS
    if _MODELS is None:
        _MODELS = _load()
    return _MODELS


def pump_models() -> tuple[PumpModel, ...]:
    """Every pump model thecal knows."""
    return _models()[0]


def catheter_models() -> tuple[CatheterModel, ...]:
    """Every catheter model thecal knows."""
    return _models()[1]


def find_pump_model(model_id: str) -> PumpModel:
    """The pump model with this id; `ValueError` naming the accepted ids otherwise."""
    for model in pump_models():
        if model.id == model_id.strip().lower():
            return model
    accepted = ", ".join(model.id for model in pump_models())
    raise ValueError(f"unknown pump model {model_id!r}; accepted: {accepted}")


def find_catheter_model(model_id: str) -> CatheterModel:
    """The catheter model with this id; `ValueError` naming the accepted ids otherwise."""
    for model in catheter_models():
        if model.id == model_id.strip().lower():
            return model
    accepted = ", ".join(model.id for model in catheter_models())
    raise ValueError(f"unknown catheter model {model_id!r}; accepted: {accepted}")
