"""Turning a form post into a service input, and a rejection into per-field messages, so a
page can show the form again with what was typed and what to fix beside each field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from thecal.clinic.errors import ServiceError

__all__ = ["FormProblems", "parse_form", "problems_of"]

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


def _message(item: Mapping[str, Any]) -> str:
    message = str(item.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def problems_of(error: ValidationError | ServiceError) -> FormProblems:
    """Per-field messages from a pydantic validation error or a service rejection."""
    if isinstance(error, ServiceError):
        text = error.message + (f" (accepted: {error.accepted})" if error.accepted else "")
        if error.field:
            return FormProblems(fields={error.field: text})
        return FormProblems(general=(text,))
    fields: dict[str, str] = {}
    general: list[str] = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        if where:
            fields.setdefault(where, _message(item))
        else:
            general.append(_message(item))
    return FormProblems(fields=fields, general=tuple(general))


def parse_form(model: type[M], values: Mapping[str, Any]) -> M | FormProblems:
    """`model` built from the submitted values (empty text counts as not given), or the
    problems to show beside the fields."""
    cleaned = {name: value for name, value in values.items() if value not in ("", None)}
    try:
        return model.model_validate(cleaned)
    except ValidationError as error:
        return problems_of(error)
