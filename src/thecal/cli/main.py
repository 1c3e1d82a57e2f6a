"""Entry point of the `thecal` command; each area registers its own sub-command group.

An area's module is imported only when one of its commands runs: `thecal calc rate`
never loads the clinic's database, the science's numpy or the link's cryptography, and
`thecal --help` lists every area from the one-line help kept here (a test holds each to
the area's own help text).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer.main
from typer.core import TyperCommand

from thecal.cli.output import OneLineErrorsCommand, OneLineErrorsGroup

__all__ = ["AREAS", "LazyArea", "app", "run"]


@dataclass(frozen=True)
class LazyArea:
    """A top-level command whose module is imported when it runs.

    `attribute` names a `typer.Typer` (a group of commands) or a function (one command);
    `help` is the line `thecal --help` shows for it without importing the module.
    """

    module: str
    attribute: str
    help: str

    def load(self, name: str) -> Any:
        """The real command (a click command of typer's), from its module."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(target, typer.Typer):
            command: Any = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)
            single.command(name, cls=OneLineErrorsCommand)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command


# In the order `thecal --help` lists them: single commands first, then groups.
AREAS: dict[str, LazyArea] = {
    # Therapy core: the drug library, checks and calculators.
    "drugs": LazyArea(
        "thecal.cli.therapy",
        "drugs",
        "The drug library: limits, approval status and the source of every number.",
    ),
    "check": LazyArea(
        "thecal.cli.therapy",
        "check",
        "Check a proposed prescription: exit 0 when nothing is refused, 3 when something is.",
    ),
    "tour": LazyArea(
        "thecal.cli.tour",
        "tour",
        "A guided walk through the checks and calculators on the example prescriptions.",
    ),
    # Pump twin.
    "sim": LazyArea(
        "thecal.cli.sim", "sim", "Run a pump-twin scenario: a timeline of events and a summary."
    ),
    # The whole system: the demo clinic with live pump twins.
    "demo": LazyArea(
        "thecal.cli.demo",
        "demo",
        "Start the demo clinic with live pump twins in accelerated time, and serve it.",
    ),
    "calc": LazyArea(
        "thecal.cli.calc",
        "app",
        "Dosing calculators: rate, refill, priming, bridge, convert, baclofen-start, titrate.",
    ),
    # Science.
    "science": LazyArea(
        "thecal.cli.science",
        "app",
        "Science: CSF drug spread along the spinal canal, and a fleet of pumps over years "
        "(models; not a medical device).",
    ),
    # Telemetry: the served pump, the clinician programmer, the patient controller.
    "pump": LazyArea("thecal.cli.pump_serve", "pump_app", "The pump twin as a served device."),
    "programmer": LazyArea(
        "thecal.cli.programmer",
        "programmer_app",
        "Clinician programmer: pair, interrogate, program, refill, implant, control.",
    ),
    "patient": LazyArea(
        "thecal.cli.patient",
        "patient_app",
        "Patient controller: request a bolus, see the status, acknowledge an alarm.",
    ),
    "authority": LazyArea(
        "thecal.cli.authority",
        "authority_app",
        "Credential authority: create it, issue clinician and emergency credentials.",
    ),
    # Clinic service.
    "clinic": LazyArea(
        "thecal.cli.clinic",
        "app",
        "The clinic service: database, API server, reminders worker, FHIR export, audit.",
    ),
}


class LazyAreasGroup(OneLineErrorsGroup):
    """The root group: each area's command is built when it is called, from `areas`.

    While the root's own help is written, an area is a stand-in that carries only its
    help line, so listing the commands imports nothing.
    """

    areas: ClassVar[Mapping[str, LazyArea]] = AREAS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, Any] = {}
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *self.areas]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        area = self.areas.get(cmd_name)
        if area is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(cmd_name, help=area.help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = area.load(cmd_name)
        return self._loaded[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="thecal",
    help="thecal: intrathecal drug-delivery system (pump twin, programmer, clinic, science). "
    "Not a medical device.",
    cls=LazyAreasGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """thecal: intrathecal drug-delivery system. Not a medical device."""


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
