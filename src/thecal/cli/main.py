"""Entry point of the `thecal` command; each area registers its own sub-command group."""

from __future__ import annotations

import typer

from thecal.cli import calc, therapy, tour
from thecal.cli import clinic as clinic_cli
from thecal.cli import demo as demo_cli
from thecal.cli import science as science_cli
from thecal.cli.authority import authority_app
from thecal.cli.output import OneLineErrorsCommand, OneLineErrorsGroup
from thecal.cli.patient import patient_app
from thecal.cli.programmer import programmer_app
from thecal.cli.pump_serve import pump_app
from thecal.cli.sim import sim

app = typer.Typer(
    name="thecal",
    help="thecal: intrathecal drug-delivery system (pump twin, programmer, clinic, science). "
    "Not a medical device.",
    cls=OneLineErrorsGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """thecal: intrathecal drug-delivery system. Not a medical device."""


# Therapy core: the drug library, checks and calculators.
app.command("drugs", cls=OneLineErrorsCommand)(therapy.drugs)
app.command("check", cls=OneLineErrorsCommand)(therapy.check)
app.add_typer(calc.app, name="calc")
app.command("tour", cls=OneLineErrorsCommand)(tour.tour)
# Pump twin.
app.command("sim", cls=OneLineErrorsCommand)(sim)
# Science.
app.add_typer(science_cli.app, name="science")
# Telemetry: the served pump, the clinician programmer, the patient controller.
app.add_typer(pump_app, name="pump")
app.add_typer(programmer_app, name="programmer")
app.add_typer(patient_app, name="patient")
app.add_typer(authority_app, name="authority")
# Clinic service.
app.add_typer(clinic_cli.app, name="clinic")
# The whole system: the demo clinic with live pump twins.
app.command("demo", cls=OneLineErrorsCommand)(demo_cli.demo)


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
