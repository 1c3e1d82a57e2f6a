"""Entry point of the `thecal` command; each area registers its own sub-command group."""

from __future__ import annotations

import typer

from thecal.cli import clinic as clinic_cli

app = typer.Typer(
    name="thecal",
    help="thecal: intrathecal drug-delivery system (pump twin, programmer, clinic, science). "
    "Not a medical device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(clinic_cli.app, name="clinic")


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
