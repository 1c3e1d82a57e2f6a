"""The payload codec: commands, responses and link messages as compact, typed bytes.

A tagged binary encoding driven by a `TypeRegistry`. Only types registered up front
can be decoded (frozen dataclasses and enums, by name); nothing is ever imported,
evaluated or unpickled from the wire. Every decoded dataclass field is checked against
its declared type before the value is built, and the dataclass's own validation
(`__post_init__`) then runs as for any other construction, so a decoded `Prescription`
is exactly as trustworthy as one typed in.

Exact values stay exact: `Fraction` travels as numerator and denominator, quantities
(`Mass`, `Volume`, ...) as their exact base-unit amount, datetimes as ISO text.

Limits that keep a hostile payload cheap to reject: integers of at most
`MAX_INT_BYTES` bytes, nesting at most `MAX_DEPTH` deep, text and collections bounded
by the payload length. Every value has exactly one encoding: a payload that decodes
but does not re-encode to the same bytes is refused. `decode` never raises for bad
bytes: it returns a `PayloadError` saying what was wrong.
"""

from __future__ import annotations

import dataclasses
import struct
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from fractions import Fraction
from typing import Any, Union

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_BYTES",
    "Decoded",
    "PayloadError",
    "TypeRegistry",
]

MAX_DEPTH = 24
MAX_INT_BYTES = 64  # 512-bit integers: far beyond any dose arithmetic, cheap to bound
MAX_TEXT = 16 * 1024

_NONE = 0x00
_FALSE = 0x01
_TRUE = 0x02
_INT = 0x03
_STR = 0x04
_BYTES = 0x05
_FRACTION = 0x06
_TUPLE = 0x07
_LIST = 0x08
_DICT = 0x09
_FROZENSET = 0x0A
_DATETIME = 0x10
_DATE = 0x11
_TIME = 0x12
_TIMEDELTA = 0x13
_ENUM = 0x20
_OBJECT = 0x21

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


@dataclass(frozen=True)
class Decoded:
    """A successfully decoded value."""

    value: Any


@dataclass(frozen=True)
class PayloadError:
    """Why a payload could not be decoded (an expected outcome for hostile input)."""

    detail: str


class _Reject(Exception):
    """Internal: unwinds the recursive decoder to `decode`, which returns a PayloadError."""


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Checker:
    """A compiled check of one declared type, so decoding need not re-inspect hints."""

    def __init__(self, accepts: Callable[[Any], bool], describe: str) -> None:
        self.accepts = accepts
        self.describe = describe


class TypeRegistry:
    """The closed set of dataclasses and enums that may cross the link.

    `register` checks, once, that every field of every dataclass has a type this codec
    can check; an unsupported declaration is a programming error (`TypeError`).
    """

    def __init__(self, types_: Iterable[type] = ()) -> None:
        self._by_name: dict[str, type] = {}
        self._fields: dict[type, tuple[tuple[str, _Checker], ...]] = {}
        self._pending: list[type] = []
        self.register(*types_)

    # -- registration ---------------------------------------------------------

    def register(self, *types_: type) -> None:
        for cls in types_:
            if isinstance(cls, type) and issubclass(cls, Enum):
                self._by_name[_type_name(cls)] = cls
                continue
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise TypeError(f"only dataclasses and enums can be registered, not {cls!r}")
            if cls in self._fields:
                continue
            self._by_name[_type_name(cls)] = cls
            self._fields[cls] = ()  # placeholder so recursive references resolve
            self._pending.append(cls)
        # Compile field checks after the whole batch is known (fields may name each other).
        while self._pending:
            cls = self._pending.pop()
            hints = typing.get_type_hints(cls)
            compiled = []
            for f in dataclasses.fields(cls):
                if not f.init:
                    continue
                compiled.append((f.name, self._checker(hints[f.name], f"{cls.__name__}.{f.name}")))
            self._fields[cls] = tuple(compiled)

    def known(self, cls: type) -> bool:
        return _type_name(cls) in self._by_name

    def _checker(self, hint: Any, where: str) -> _Checker:
        if hint is Any or hint is object:
            return _Checker(lambda v: True, "anything")
        if hint is type(None) or hint is None:
            return _Checker(lambda v: v is None, "None")
        origin = typing.get_origin(hint)
        if origin in (Union, types.UnionType):
            parts = [self._checker(arg, where) for arg in typing.get_args(hint)]
            return _Checker(
                lambda v: any(p.accepts(v) for p in parts),
                " | ".join(p.describe for p in parts),
            )
        if origin is typing.Literal:
            allowed = typing.get_args(hint)
            return _Checker(lambda v: v in allowed, f"one of {allowed}")
        if origin is tuple:
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                item = self._checker(args[0], where)
                return _Checker(
                    lambda v: type(v) is tuple and all(item.accepts(x) for x in v),
                    f"tuple of {item.describe}",
                )
            items = [self._checker(a, where) for a in args]
            return _Checker(
                lambda v: (
                    type(v) is tuple
                    and len(v) == len(items)
                    and all(c.accepts(x) for c, x in zip(items, v, strict=True))
                ),
                "fixed tuple",
            )
        if origin in (list, frozenset, set):
            (arg,) = typing.get_args(hint)
            item = self._checker(arg, where)
            want: type = list if origin is list else frozenset
            return _Checker(
                lambda v: type(v) is want and all(item.accepts(x) for x in v),  # type: ignore[attr-defined]
                f"{want.__name__} of {item.describe}",
            )
        if origin in (dict, Mapping):
            key_hint, value_hint = typing.get_args(hint)
            key, value = self._checker(key_hint, where), self._checker(value_hint, where)
            return _Checker(
                lambda v: (
                    type(v) is dict
                    and all(key.accepts(k) and value.accepts(x) for k, x in v.items())
                ),
                "mapping",
            )
        if hint is bool:
            return _Checker(lambda v: type(v) is bool, "bool")
        if hint is int:
            return _Checker(lambda v: type(v) is int, "int")
        if hint in (str, bytes, Fraction, date, time, timedelta):
            exact_type: type = hint
            return _Checker(lambda v: type(v) is exact_type, exact_type.__name__)
        if hint is datetime:
            return _Checker(lambda v: type(v) is datetime, "datetime")
        if isinstance(hint, type) and issubclass(hint, Enum):
            self.register(hint)
            enum_type = hint
            return _Checker(lambda v: isinstance(v, enum_type), hint.__name__)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if hint not in self._fields:
                self.register(hint)
            dc_type = hint
            return _Checker(lambda v: isinstance(v, dc_type), hint.__name__)
        raise TypeError(f"{where}: the codec cannot check declared type {hint!r}")

    # -- encoding ---------------------------------------------------------------

    def encode(self, value: Any) -> bytes:
        """Bytes for `value`; `TypeError` if it holds an unregistered type (a bug)."""
        out = bytearray()
        self._encode(value, out, 0)
        return bytes(out)

    def _encode(self, value: Any, out: bytearray, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise TypeError("value nests too deeply to encode")
        if value is None:
            out.append(_NONE)
        elif value is True or value is False:
            out.append(_TRUE if value else _FALSE)
        elif isinstance(value, Enum):
            if _type_name(type(value)) not in self._by_name:
                raise TypeError(f"enum {type(value).__qualname__} is not registered")
            out.append(_ENUM)
            self._text(_type_name(type(value)), out)
            self._encode(value.value, out, depth + 1)
        elif type(value) is int:
            out.append(_INT)
            length = (value.bit_length() + 8) // 8
            if length > MAX_INT_BYTES:
                raise TypeError("integer too large for the link")
            out.append(length)
            out.extend(value.to_bytes(length, "big", signed=True))
        elif type(value) is str:
            out.append(_STR)
            self._text(value, out)
        elif type(value) is bytes:
            out.append(_BYTES)
            out.extend(_U32.pack(len(value)))
            out.extend(value)
        elif type(value) is Fraction:
            out.append(_FRACTION)
            self._encode(value.numerator, out, depth + 1)
            self._encode(value.denominator, out, depth + 1)
        elif type(value) in (tuple, list, frozenset):
            tags: dict[type, int] = {tuple: _TUPLE, list: _LIST, frozenset: _FROZENSET}
            out.append(tags[type(value)])
            items = sorted(value, key=repr) if type(value) is frozenset else value
            out.extend(_U32.pack(len(items)))
            for item in items:
                self._encode(item, out, depth + 1)
        elif type(value) is dict:
            out.append(_DICT)
            out.extend(_U32.pack(len(value)))
            for key, item in value.items():
                self._encode(key, out, depth + 1)
                self._encode(item, out, depth + 1)
        elif type(value) is datetime:
            out.append(_DATETIME)
            self._text(value.isoformat(), out)
        elif type(value) is date:
            out.append(_DATE)
            self._text(value.isoformat(), out)
        elif type(value) is time:
            out.append(_TIME)
            self._text(value.isoformat(), out)
        elif type(value) is timedelta:
            out.append(_TIMEDELTA)
            for part in (value.days, value.seconds, value.microseconds):
                self._encode(part, out, depth + 1)
        elif dataclasses.is_dataclass(value) and type(value) in self._fields:
            cls = type(value)
            out.append(_OBJECT)
            self._text(_type_name(cls), out)
            fields = self._fields[cls]
            out.extend(_U16.pack(len(fields)))
            for name, _check in fields:
                self._text(name, out)
                self._encode(getattr(value, name), out, depth + 1)
        else:
            raise TypeError(f"{type(value).__qualname__} is not a registered wire type")

    @staticmethod
    def _text(text: str, out: bytearray) -> None:
        raw = text.encode("utf-8")
        out.extend(_U32.pack(len(raw)))
        out.extend(raw)

    # -- decoding ---------------------------------------------------------------

    def decode(self, data: bytes, expected: Any = object) -> Decoded | PayloadError:
        """Decode one value occupying all of `data`, of declared type `expected`.

        Never raises for bad input; returns `PayloadError` instead.
        """
        reader = _Reader(data)
        try:
            value = self._decode(reader, 0)
            if reader.position != len(data):
                raise _Reject(f"{len(data) - reader.position} trailing bytes")
            check = self._checker(expected, "payload")
            if not check.accepts(value):
                raise _Reject(f"payload is {type(value).__name__}, expected {check.describe}")
            # One value, one encoding: anything a constructor normalised (a timedelta's
            # parts, a drug name's case, an ISO separator) was not sent in canonical form.
            try:
                canonical = self.encode(value)
            except TypeError as error:
                raise _Reject(f"decoded value cannot be re-encoded: {error}") from None
            if canonical != data:
                raise _Reject("payload is not in canonical form")
        except _Reject as error:
            return PayloadError(str(error))
        return Decoded(value)

    def _decode(self, reader: _Reader, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Reject(f"nesting deeper than {MAX_DEPTH}")
        tag = reader.byte()
        if tag == _NONE:
            return None
        if tag == _FALSE:
            return False
        if tag == _TRUE:
            return True
        if tag == _INT:
            length = reader.byte()
            if not 1 <= length <= MAX_INT_BYTES:
                raise _Reject(f"integer length {length} outside 1..{MAX_INT_BYTES}")
            raw = reader.take(length)
            value = int.from_bytes(raw, "big", signed=True)
            if (value.bit_length() + 8) // 8 != length:
                raise _Reject("integer not in its shortest form")
            return value
        if tag == _STR:
            return reader.text()
        if tag == _BYTES:
            return reader.take(reader.u32())
        if tag == _FRACTION:
            numerator = self._decode(reader, depth + 1)
            denominator = self._decode(reader, depth + 1)
            if type(numerator) is not int or type(denominator) is not int:
                raise _Reject("fraction parts must be integers")
            if denominator <= 0 or Fraction(numerator, denominator).denominator != denominator:
                raise _Reject("fraction not in lowest terms with a positive denominator")
            return Fraction(numerator, denominator)
        if tag in (_TUPLE, _LIST, _FROZENSET):
            count = reader.count()
            items = [self._decode(reader, depth + 1) for _ in range(count)]
            if tag == _TUPLE:
                return tuple(items)
            if tag == _LIST:
                return items
            try:
                return frozenset(items)
            except TypeError:
                raise _Reject("unhashable item in a set") from None
        if tag == _DICT:
            count = reader.count(per_item=2)
            result: dict[Any, Any] = {}
            for _ in range(count):
                key = self._decode(reader, depth + 1)
                try:
                    if key in result:
                        raise _Reject("duplicate mapping key")
                    result[key] = self._decode(reader, depth + 1)
                except TypeError:
                    raise _Reject("unhashable mapping key") from None
            return result
        if tag in (_DATETIME, _DATE, _TIME):
            text = reader.text(limit=64)
            try:
                parsed: datetime | date | time
                if tag == _DATETIME:
                    parsed = datetime.fromisoformat(text)
                elif tag == _DATE:
                    parsed = date.fromisoformat(text)
                else:
                    parsed = time.fromisoformat(text)
            except ValueError:
                raise _Reject(f"{text!r} is not an ISO date/time") from None
            return parsed
        if tag == _TIMEDELTA:
            days, seconds, micros = (self._decode(reader, depth + 1) for _ in range(3))
            if not all(type(x) is int for x in (days, seconds, micros)):
                raise _Reject("timedelta parts must be integers")
            try:
                return timedelta(days=days, seconds=seconds, microseconds=micros)
            except OverflowError:
                raise _Reject("timedelta out of range") from None
        if tag == _ENUM:
            cls = self._lookup(reader.text(limit=256))
            if not issubclass(cls, Enum):
                raise _Reject(f"{cls.__qualname__} is not an enum")
            raw = self._decode(reader, depth + 1)
            try:
                return cls(raw)
            except (ValueError, TypeError):
                raise _Reject(f"{raw!r} is not a {cls.__qualname__}") from None
        if tag == _OBJECT:
            return self._decode_object(reader, depth)
        raise _Reject(f"unknown tag 0x{tag:02x}")

    def _lookup(self, name: str) -> type:
        cls = self._by_name.get(name)
        if cls is None:
            raise _Reject(f"type {name!r} is not a wire type")
        return cls

    def _decode_object(self, reader: _Reader, depth: int) -> Any:
        cls = self._lookup(reader.text(limit=256))
        if cls not in self._fields:
            raise _Reject(f"{cls.__qualname__} is not a dataclass wire type")
        fields = self._fields[cls]
        count = _U16.unpack(reader.take(2))[0]
        if count != len(fields):
            raise _Reject(f"{cls.__qualname__} has {len(fields)} fields, not {count}")
        values: dict[str, Any] = {}
        for name, check in fields:
            got = reader.text(limit=256)
            if got != name:
                raise _Reject(f"{cls.__qualname__}: expected field {name!r}, got {got!r}")
            value = self._decode(reader, depth + 1)
            if not check.accepts(value):
                raise _Reject(
                    f"{cls.__qualname__}.{name}: {type(value).__name__} is not {check.describe}"
                )
            values[name] = value
        try:
            return cls(**values)
        except Exception as error:  # the type's own validation refused the values
            raise _Reject(f"{cls.__qualname__}: {error}") from None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.position = 0

    def take(self, count: int) -> bytes:
        end = self.position + count
        if count < 0 or end > len(self.data):
            raise _Reject("payload truncated")
        chunk = bytes(self.data[self.position : end])
        self.position = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def count(self, per_item: int = 1) -> int:
        count = self.u32()
        # every item takes at least one byte: a count beyond what is left is a lie
        if count * per_item > len(self.data) - self.position:
            raise _Reject(f"collection of {count} items cannot fit in what is left")
        return count

    def text(self, limit: int = MAX_TEXT) -> str:
        length = self.u32()
        if length > limit:
            raise _Reject(f"text of {length} bytes exceeds {limit}")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject("text is not UTF-8") from None
