"""Entry point of the `thecal` command; each area registers its own sub-command group."""

from __future__ import annotations

import typer

from thecal.cli import calc, therapy, tour
from thecal.cli.therapy_support import OneLineErrorsCommand

app = typer.Typer(
    name="thecal",
    help="thecal: intrathecal drug-delivery system (pump twin, programmer, clinic, science). "
    "Not a medical device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("drugs", cls=OneLineErrorsCommand)(therapy.drugs)
app.command("check", cls=OneLineErrorsCommand)(therapy.check)
app.add_typer(calc.app, name="calc")
app.command("tour", cls=OneLineErrorsCommand)(tour.tour)


@app.callback()
def _root() -> None:
    """Keeps `thecal` a command group even while only one command is registered."""


from thecal.cli.sim import sim  # noqa: E402

app.command("sim")(sim)


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
