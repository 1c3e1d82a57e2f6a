"""What both clinic wizards (implant, refill) share: a dry run of the real service calls,
and turning a service or form error into a per-field message.

A wizard's review step runs the very service functions the save runs, in a write
transaction that is then rolled back: the review shows what the service would decide
(refusals, safety verdicts, reconciliation) without a second copy of any rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

from thecal.clinic.access import Actor
from thecal.clinic.errors import ServiceError
from thecal.clinic.service import Clinic
from thecal.clinic.service.core import Call
from thecal.web.forms import Location, dotted_path, field_messages, first_field, service_message

__all__ = ["FieldErrors", "dry_run", "errors_of_service", "errors_of_validation"]

T = TypeVar("T")

FieldErrors = dict[str, str]
"""Form field name → message naming what is accepted."""


class _RolledBack(Exception):
    """Raised inside the write block so the transaction is rolled back."""

    def __init__(self, value: object) -> None:
        super().__init__("dry run")
        self.value = value


def dry_run(clinic: Clinic, actor: Actor, work: Callable[[Call], T]) -> T:
    """Run `work` in a write transaction and roll it back; its result is returned.
    Service errors propagate as they would from the real save."""
    try:
        with clinic.write(actor) as call:
            raise _RolledBack(work(call))
    except _RolledBack as done:
        return done.value  # type: ignore[return-value]


def errors_of_service(error: ServiceError, fields: dict[str, str]) -> FieldErrors:
    """The service error as a message on the form field it names (`fields` maps service
    field names to form field names); unknown fields go under ``""`` (the whole form)."""
    return {fields.get(error.field or "", ""): service_message(error)}


def errors_of_validation(error: ValidationError, fields: dict[str, str]) -> FieldErrors:
    """Pydantic's problems, one message per form field, each named by its model path."""

    def form_field(location: Location) -> str:
        return fields.get(dotted_path(location), fields.get(first_field(location), ""))

    return field_messages(error, form_field, label=lambda location, _: dotted_path(location))
