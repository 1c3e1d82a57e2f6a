"""Entry point of the `thecal` command; each area registers its own sub-command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="thecal",
    help="thecal: intrathecal drug-delivery system (pump twin, programmer, clinic, science). "
    "Not a medical device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


from thecal.cli.patient import patient_app  # noqa: E402
from thecal.cli.programmer import programmer_app  # noqa: E402
from thecal.cli.pump_serve import pump_app  # noqa: E402

app.add_typer(pump_app, name="pump")
app.add_typer(programmer_app, name="programmer")
app.add_typer(patient_app, name="patient")


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
