"""Turning a form post into a service input, and a rejection into per-field messages, so a
page can show the form again with what was typed and what to fix beside each field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from thecal.clinic.errors import ServiceError

__all__ = [
    "WHOLE_FORM",
    "FormDep",
    "FormProblems",
    "Location",
    "dotted_path",
    "field_messages",
    "first_field",
    "labelled",
    "parse_form",
    "problems_of",
    "service_message",
    "validation_message",
]


async def _posted_form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_posted_form)]
"""The posted form (read once; checkbox lists need `getlist`)."""

Location = tuple[int | str, ...]
"""Where pydantic found a problem: field names and list indexes, outermost first."""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class FormProblems:
    """What is wrong with a submitted form: messages by field name, and the rest."""

    fields: Mapping[str, str] = field(default_factory=dict)
    general: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def of(self, name: str) -> str | None:
        """The message for field `name`, if it has one."""
        return self.fields.get(name)


def service_message(error: ServiceError) -> str:
    """A service rejection in words, followed by what is accepted when the service says."""
    return error.message + (f"; accepted: {error.accepted}" if error.accepted else "")


def validation_message(item: Mapping[str, Any]) -> str:
    """One pydantic problem in words a person can act on (pydantic's own wording where it
    already is, without its "Value error, " prefix)."""
    kind, ctx = item.get("type", ""), item.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return "is required"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number, e.g. 4"
    if kind == "enum" and ctx.get("expected"):
        return f"choose one of: {ctx['expected']}"
    return str(item.get("msg", "is not valid")).removeprefix("Value error, ")


WHOLE_FORM = "form"
"""The key of a problem that is not about one field (shown above the form)."""


def first_field(location: Location) -> str:
    """The top-level form field of a problem (`WHOLE_FORM` when it names none)."""
    return str(location[0]) if location else WHOLE_FORM


def dotted_path(location: Location) -> str:
    """A problem's full path as the input model names it: ``steps[2].start``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def labelled(labels: Mapping[str, str]) -> Callable[[Location, str], str]:
    """For `field_messages`: name a field by its label in `labels`, else by its name in
    words (``birth_date`` → ``birth date``)."""
    return lambda _location, name: labels.get(name, name.replace("_", " "))


def field_messages(
    error: ValidationError,
    key: Callable[[Location], str] = first_field,
    *,
    label: Callable[[Location, str], str] | None = None,
    accepted: Mapping[str, str] | None = None,
    wording: Callable[[Mapping[str, Any]], str] = validation_message,
) -> dict[str, str]:
    """The first problem for each form field, keyed by `key(location)`: the message
    (`wording`), then what the field accepts when `accepted` says, prefixed by
    ``label(location, key)`` when given."""
    found: dict[str, str] = {}
    for item in error.errors():
        location: Location = tuple(item.get("loc", ()))
        name = key(location)
        message = wording(item).removeprefix(f"{name}: ")
        if accepted and name in accepted:
            message = f"{message}; accepted: {accepted[name]}"
        if label is not None:
            message = f"{label(location, name)}: {message}"
        found.setdefault(name, message)
    return found


def problems_of(error: ValidationError | ServiceError) -> FormProblems:
    """Per-field messages from a pydantic validation error or a service rejection."""
    if isinstance(error, ServiceError):
        if error.field:
            return FormProblems(fields={error.field: service_message(error)})
        return FormProblems(general=(service_message(error),))
    messages = field_messages(error, lambda location: ".".join(map(str, location)))
    general = messages.pop("", None)
    return FormProblems(fields=messages, general=(general,) if general else ())


def parse_form(model: type[M], values: Mapping[str, Any]) -> M | FormProblems:
    """`model` built from the submitted values (empty text counts as not given), or the
    problems to show beside the fields."""
    cleaned = {name: value for name, value in values.items() if value not in ("", None)}
    try:
        return model.model_validate(cleaned)
    except ValidationError as error:
        return problems_of(error)
