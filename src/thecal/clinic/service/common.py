"""Helpers every service module uses: loading rows, version checks, exact text, forms,
and reading a stored prescription back (`stored_prescription`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from thecal.clinic.errors import Conflict, Invalid, NotFound
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import Base, PrescriptionRecord
from thecal.therapy.prescription import Prescription, PrescriptionError
from thecal.therapy.prescription_toml import parse_prescription
from thecal.therapy.quantities import decimal_text
from thecal.therapy.units import (
    AnyQuantity,
    QuantityParseError,
    format_quantity,
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_mass,
    parse_volume,
)

__all__ = [
    "ConcentrationText",
    "DoseText",
    "DurationText",
    "Form",
    "MassText",
    "View",
    "VolumeText",
    "check_version",
    "invalid_from",
    "load",
    "quantity_text",
    "stored_prescription",
]

M = TypeVar("M", bound=Base)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Form(BaseModel):
    """Input of a service operation: unknown fields are refused, text is stripped, and
    text may not hold NUL characters (no database stores them faithfully)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL (\\x00) characters")
        return data


class View(BaseModel):
    """Output of a service operation: plain values, ready to render or serialise."""

    model_config = ConfigDict(frozen=True)


def _checked(parse: Any) -> Any:
    def check(value: str) -> str:
        try:
            return format_quantity(parse(value, "value"))
        except QuantityParseError as error:
            raise ValueError(
                f"{error.text!r} {error.problem}; accepted: {error.accepted}"
            ) from None

    return AfterValidator(check)


# Quantity fields arrive as human text, are checked with the therapy parsers and kept in
# their exact canonical text ("0.5 mg" -> "500 mcg" is not done: the canonical form
# chooses the most readable exact unit).
VolumeText = Annotated[str, _checked(parse_volume)]
MassText = Annotated[str, _checked(parse_mass)]
DoseText = Annotated[str, _checked(parse_dose_rate)]
ConcentrationText = Annotated[str, _checked(parse_concentration)]
DurationText = Annotated[str, _checked(parse_duration)]


def quantity_text(value: AnyQuantity | None) -> str | None:
    """Exact readable text when the value has one, else a decimal marked "≈", truncated
    (never rounded up) to five significant digits: ``≈ 452.08 mcg/day``, ``≈ 0.041666 mL``.
    The exact value stays in the record; this is what a person reads."""
    if value is None:
        return None
    try:
        return format_quantity(value)
    except ValueError:
        whole_digits = len(str(abs(value.amount.numerator) // value.amount.denominator))
        places = min(6, max(0, 5 - whole_digits)) if abs(value.amount) >= 1 else 6
        return f"≈ {decimal_text(value.amount, places)} {value.BASE_UNIT}"


def load(call: Call, model: type[M], row_id: int, what: str) -> M:
    """The row with this id, or `NotFound` naming what was looked for."""
    row = call.session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} with id {row_id}", field="id")
    return row


def check_version(row: Any, version: int) -> None:
    """Optimistic locking: the caller must have read the current version."""
    if row.version != version:
        raise Conflict(
            f"this record is at version {row.version}, but the change was made to version "
            f"{version}: someone else changed it first; reload and apply your change again",
            code="stale_version",
            field="version",
            accepted=str(row.version),
        )


def invalid_from(error: ValueError, field: str | None = None) -> Invalid:
    """An `Invalid` from a parsing error, keeping its field and accepted text when known."""
    if isinstance(error, QuantityParseError):
        return Invalid(str(error), field=field or error.field, accepted=error.accepted)
    message = str(error)
    accepted = None
    if "; accepted: " in message:
        accepted = message.split("; accepted: ", 1)[1]
    return Invalid(message, field=field, accepted=accepted)


def not_in_future(call: Call, moment: datetime, field: str) -> None:
    """Refuse a record dated after now (a typo in a date must not schedule from the future)."""
    if moment > call.now:
        raise Invalid(
            f"{field}: {moment.isoformat()} is in the future",
            field=field,
            accepted=f"a time no later than {call.now.isoformat()}",
        )


def stored_prescription(record: PrescriptionRecord) -> Prescription:
    """The prescription a stored record holds, read from its stored text: the one place
    the clinic reads a prescription back. `Conflict` (code ``record_altered``) when the
    text no longer reads, or no longer hashes to the record's content hash: it was changed
    outside thecal, and nothing may be computed or sent from it."""
    try:
        prescription = parse_prescription(record.toml, origin=f"prescription {record.id}")
    except PrescriptionError as error:
        problem = "; ".join(error.problems)
    else:
        if prescription.content_hash == record.content_hash:
            return prescription
        problem = f"its content hashes to {prescription.content_hash}"
    raise Conflict(
        f"prescription {record.id}: the stored prescription does not match its content hash "
        f"{record.content_hash} ({problem}): record altered outside thecal; nothing is "
        "computed or sent from it",
        code="record_altered",
        field="prescription",
    )
