"""Shared CLI conventions: one JSON object on stdout with --json, one clear line on
stderr and exit code 2 for bad input, never a traceback for a user mistake."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from thecal.therapy.quantities import _Scalar, decimal_text

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3


class _LazyConsole:
    """A rich `Console` made on first use, so that a command printing JSON (or an error
    line) never imports rich; every attribute is the real console's."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console: Any = _LazyConsole()
err_console: Any = _LazyConsole(stderr=True)


class UserError(Exception):
    """A mistake in what the user typed or supplied; shown as one line, exit 2."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one line on stderr and exit with `code` (2: bad input)."""
    sys.stderr.write(f"error: {message}\n")  # as typed: no markup, emoji codes or wrapping
    sys.stderr.flush()
    raise typer.Exit(code)


# Exceptions that mean "the user gave us something wrong". Layers register their own
# input-error types here (e.g. a prescription file that does not validate).
USER_ERRORS: list[type[BaseException]] = [UserError, ValueError, FileNotFoundError, PermissionError]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user-input exceptions raised inside the block into `fail(...)`."""
    try:
        yield
    except typer.Exit:
        raise
    except tuple(USER_ERRORS) as error:
        fail(_describe(error))


def _describe(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return f"no such file: {error.filename}"
    if isinstance(error, PermissionError):
        return f"cannot read {error.filename}: permission denied"
    return str(error) or type(error).__name__


def to_jsonable(value: Any) -> Any:
    """Plain JSON values for exact quantities, fractions, dates and enums.

    Fractions become decimal numbers truncated toward zero at 9 places (never up).
    """
    if isinstance(value, _Scalar):
        return float(decimal_text(value.amount, 9))
    if isinstance(value, Fraction):
        return float(decimal_text(value, 9))
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """Write exactly one JSON object to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(payload), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _one_line(error: typer.TyperException) -> NoReturn:
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    fail(f"{message} (see --help)")


class OneLineErrorsCommand(TyperCommand):
    """A typer command whose usage errors are one line on stderr, exit 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.Exit:
            raise
        except typer.TyperException as error:
            if not hasattr(error, "exit_code"):
                raise
            _one_line(error)


class OneLineErrorsGroup(TyperGroup):
    """A typer group whose usage errors (unknown sub-command too) are one line, exit 2.

    Its commands need ``cls=OneLineErrorsCommand`` themselves (typer builds each
    command from its own `cls`). A group called with no arguments still shows its help.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args:
            return super().parse_args(ctx, args)  # help, as for any typer group
        try:
            return super().parse_args(ctx, args)
        except typer.Exit:
            raise
        except typer.TyperException as error:
            if not hasattr(error, "exit_code"):
                raise
            _one_line(error)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except typer.Exit:
            raise
        except typer.TyperException as error:
            if not hasattr(error, "exit_code"):
                raise
            _one_line(error)
