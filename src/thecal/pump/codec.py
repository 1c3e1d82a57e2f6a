"""A lossless, type-tagged plain-value encoding of the twin's values.

`to_plain` turns registered frozen dataclasses, enums, exact quantities, `Fraction`,
`datetime`, tuples, dicts and bytes into JSON-able values (dicts, lists, str, int, bool,
None); `from_plain` turns them back into equal values. The pump uses it for its
non-volatile memory (checksummed records) and for `PumpTwin.snapshot`; the telemetry
link may use it to carry commands and responses (`thecal.pump.wire_types` lists what
may appear there).

Tags: ``{"$t": "Name", field: ...}`` a dataclass, ``{"$e": "Name", "v": value}`` an
enum member, ``{"$q": "n/d"}`` a Fraction, ``{"$dt": iso}`` a datetime, ``{"$tuple":
[...]}`` a tuple, ``{"$map": [[key, value], ...]}`` a dict, ``{"$b": base64}`` bytes.
Lists stay lists. Floats are refused: nothing in the twin is a binary float.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from fractions import Fraction
from typing import Any, TypeVar

__all__ = ["decode_bytes", "encode_bytes", "from_plain", "register", "registered", "to_plain"]

_TYPES: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(*types: type) -> None:
    """Make dataclasses and enums known to the codec by their class name (unique)."""
    for cls in types:
        if not (dataclasses.is_dataclass(cls) or issubclass(cls, Enum)):
            raise TypeError(f"{cls.__name__} is neither a dataclass nor an enum")
        known = _TYPES.get(cls.__name__)
        if known is not None and known is not cls:
            raise TypeError(f"two codec types are called {cls.__name__}")
        _TYPES[cls.__name__] = cls


def registered(cls: T) -> T:
    """Class decorator form of `register`."""
    register(cls)
    return cls


def to_plain(value: Any) -> Any:
    """A JSON-able form of `value` that `from_plain` turns back into an equal value."""
    if isinstance(value, Enum):  # before str: a StrEnum is also a str
        _known(type(value))
        return {"$e": type(value).__name__, "v": value.value}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return {"$q": f"{value.numerator}/{value.denominator}"}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}  # an aware time keeps its offset
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [to_plain(item) for item in value]}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {"$map": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        _known(cls)
        data: dict[str, Any] = {"$t": cls.__name__}
        for field in dataclasses.fields(value):
            if field.init:
                data[field.name] = to_plain(getattr(value, field.name))
        return data
    if isinstance(value, float):
        raise TypeError("binary floats are not encoded: the twin's values are exact")
    raise TypeError(f"cannot encode a {type(value).__name__}")


def _known(cls: type) -> None:
    if _TYPES.get(cls.__name__) is not cls:
        raise TypeError(f"{cls.__name__} is not registered with the pump codec")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$q": lambda raw: Fraction(raw),
    "$dt": lambda raw: datetime.fromisoformat(raw),
    "$b": lambda raw: base64.b64decode(raw.encode("ascii")),
}


def from_plain(data: Any) -> Any:
    """The value that `to_plain` encoded as `data`; `ValueError` for anything else."""
    if data is None or isinstance(data, bool | str | int):
        return data
    if isinstance(data, list):
        return [from_plain(item) for item in data]
    if not isinstance(data, dict):
        raise ValueError(f"cannot decode {type(data).__name__}")
    if "$t" in data:
        cls = _lookup(data["$t"])
        kwargs = {k: from_plain(v) for k, v in data.items() if k != "$t"}
        return cls(**kwargs)
    if "$e" in data:
        enum_cls = _lookup(data["$e"])
        return enum_cls(data["v"])
    if "$tuple" in data:
        return tuple(from_plain(item) for item in data["$tuple"])
    if "$map" in data:
        return {from_plain(k): from_plain(v) for k, v in data["$map"]}
    for tag, decode in _DECODERS.items():
        if tag in data:
            return decode(data[tag])
    raise ValueError(f"untagged object with keys {sorted(data)}")


def _lookup(name: object) -> type:
    if not isinstance(name, str) or name not in _TYPES:
        raise ValueError(f"unknown type {name!r} in encoded data")
    return _TYPES[name]


def encode_bytes(value: Any) -> bytes:
    """Canonical bytes of `value` (sorted keys, no spaces): what the NVM stores."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_bytes(raw: bytes) -> Any:
    """The value `encode_bytes` produced `raw` from."""
    return from_plain(json.loads(raw.decode("utf-8")))


def _register_therapy_types() -> None:
    from thecal.therapy import display, prescription, quantities, refill, safety

    register(
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


_register_therapy_types()
