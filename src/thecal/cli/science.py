"""`thecal science ...`: where the drug goes along the spine (CSF spread model).

Thin wiring: parse text once into exact therapy quantities, hand them to
`thecal.science`, print one JSON object (--json) or a readable report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from thecal.cli.output import console, emit_json, err_console, fail, user_errors
from thecal.science.parameters import DrugTransport, drug_transport, model_parameters
from thecal.therapy.anatomy import parse_vertebra
from thecal.therapy.quantities import Duration
from thecal.therapy.units import (
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_mass,
)

if TYPE_CHECKING:  # the solver pulls in numpy and scipy: import it only when used
    from thecal.science.scenario import ScenarioResult
    from thecal.science.spread import Delivery

app = typer.Typer(
    name="science",
    help="Science: CSF drug spread along the spinal canal (a model; not a medical device).",
    no_args_is_help=True,
)

DISCLAIMER = (
    "Model estimate for research and teaching, not a medical device: per-patient anatomy, "
    "posture, baricity and CSF dynamics are unknown to it."
)


def _hours(text: str | None) -> float:
    """--hours: a plain number of hours, or a duration with its unit ('3 days')."""
    if text is None:
        raise ValueError("--hours: missing; give the simulated time, e.g. '--hours 24'")
    try:
        value = float(text)
    except ValueError:
        value = float(parse_duration(text, "--hours").hours)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"--hours: {text!r} must be a positive number of hours, e.g. '24'")
    if value > 24 * 365:
        raise ValueError(f"--hours: {text!r} is more than a year; accepted: up to 8760 h")
    return value


def _resolution_cm(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--resolution-mm: {text!r} is not a number; e.g. '1'") from None
    if not 0.25 <= value <= 20.0:
        raise ValueError(f"--resolution-mm: {text!r} must be between 0.25 and 20 mm")
    return value / 10.0


def _deliveries(
    drug: DrugTransport,
    concentration: str | None,
    dose: str | None,
    bolus: str | None,
    bolus_duration: str | None,
    prescription: Path | None,
    hours: float,
) -> tuple[DrugTransport, tuple[Delivery, ...], dict[str, Any], list[str]]:
    from thecal.science.spread import bolus_delivery, continuous_delivery

    given = [name for name, v in (("--dose", dose), ("--bolus", bolus)) if v is not None]
    if prescription is not None:
        given.append("--prescription")
    if len(given) != 1:
        problem = "none was given" if not given else f"got {' and '.join(given)}"
        raise ValueError(f"give exactly one of --dose, --bolus or --prescription ({problem})")
    if bolus_duration is not None and bolus is None:
        raise ValueError("--bolus-duration: only applies with --bolus")
    if prescription is not None:
        return _prescribed(drug, concentration, prescription, hours)
    if concentration is None:
        raise ValueError("--concentration: missing; e.g. '--concentration \"25 mg/mL\"'")
    conc = parse_concentration(concentration, "--concentration")
    if conc.amount <= 0:
        raise ValueError("--concentration: must be more than zero")
    horizon = Duration.from_seconds(round(hours * 3600))
    if dose is not None:
        rate = parse_dose_rate(dose, "--dose")
        if rate.amount <= 0:
            raise ValueError("--dose: must be more than zero, e.g. '0.5 mg/day'")
        described = {"mode": "continuous", "dose_mcg_per_day": rate.mcg_per_day}
        return drug, (continuous_delivery(rate, conc, horizon),), described, []
    assert bolus is not None
    mass = parse_mass(bolus, "--bolus")
    if mass.amount <= 0:
        raise ValueError("--bolus: must be more than zero, e.g. '0.5 mg'")
    if bolus_duration is None:
        length = Duration.from_seconds(round(model_parameters().default_bolus_duration_s))
    else:
        length = parse_duration(bolus_duration, "--bolus-duration")
    if length.amount <= 0:
        raise ValueError("--bolus-duration: must be longer than zero")
    if float(length.seconds) > hours * 3600:
        raise ValueError(f"--bolus-duration: {length} is longer than the simulated --hours")
    described = {
        "mode": "bolus",
        "bolus_mcg": mass.mcg,
        "bolus_duration_s": length.seconds,
        "bolus_volume_ml": (mass / conc).ml,
    }
    return drug, (bolus_delivery(mass, conc, length),), described, []


def _prescribed(
    drug: DrugTransport, concentration: str | None, path: Path, hours: float
) -> tuple[DrugTransport, tuple[Delivery, ...], dict[str, Any], list[str]]:
    from thecal.science.dosing import deliveries_from_prescription
    from thecal.therapy.prescription_toml import read_prescription

    rx = read_prescription(path)
    if drug_transport(rx.drug).key != drug.key:
        raise ValueError(f"--drug {drug.key} does not match the prescription's drug {rx.drug!r}")
    if concentration is not None:
        conc = parse_concentration(concentration, "--concentration")
        if conc != rx.concentration:
            raise ValueError(
                f"--concentration {conc} does not match the prescription's {rx.concentration}"
            )
    planned = deliveries_from_prescription(rx, hours)
    delivered = sum(d.drug_ug for d in planned.deliveries)
    described = {
        "mode": f"prescription ({rx.mode.value})",
        "prescription": str(path),
        "content_hash": rx.content_hash,
        "concentration_mcg_per_ml": rx.concentration.mcg_per_ml,
        "delivered_mcg": delivered,
    }
    return drug, planned.deliveries, described, list(planned.notes)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("spread", total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)


def _sig(value: float) -> float:
    """Six significant digits: enough for a model estimate, readable in JSON."""
    return float(f"{value:.6g}")


def _payload(
    scenario: ScenarioResult,
    hours: float,
    delivery: dict[str, Any],
    notes: list[str],
    resolution_cm: float,
) -> dict[str, Any]:
    result = scenario.result
    cov = scenario.coverage
    mass = result.mass
    params = model_parameters()
    return {
        "drug": result.drug.key,
        "drug_label": result.drug.label,
        "tip": scenario.tip.name,
        "tip_position_cm": _sig(result.tip_cm),
        "hours": hours,
        "delivery": delivery,
        "effective_concentration": cov.effective_concentration,
        "effective_basis": result.drug.effective_basis,
        "segments": [
            {
                "name": e.segment.name,
                "position_cm": _sig(e.position_cm),
                "vertebra": e.segment.vertebra.name,
                "dermatome": e.segment.key_point,
                "peak_concentration": _sig(e.peak),
                "peak_time_h": _sig(e.peak_time_s / 3600.0),
                "final_concentration": _sig(e.final),
                "covered": e.covered,
            }
            for e in cov.segments
        ],
        "covered_segments": [s.name for s in cov.covered_segments],
        "covered_regions": [r.id for r in cov.covered_regions],
        "partly_covered_regions": [r.id for r in cov.partly_covered_regions],
        "cranial_concentration": _sig(result.final_cranial),
        "cranial_peak_concentration": _sig(result.cranial_peak),
        "profile": [
            {
                "position_cm": _sig(p.position_cm),
                "vertebra": p.vertebra.name,
                "concentration": _sig(p.concentration),
            }
            for p in scenario.profile
        ],
        "mass_balance_mcg": {
            "infused": _sig(mass.infused_ug),
            "in_canal": _sig(mass.in_canal_ug),
            "in_cranium": _sig(mass.in_cranium_ug),
            "lost_in_canal": _sig(mass.lost_in_canal_ug),
            "lost_in_cranium": _sig(mass.lost_in_cranium_ug),
            "cleared_by_csf_outflow": _sig(mass.cleared_by_csf_outflow_ug),
            "relative_residual": float(f"{mass.relative_residual:.3g}"),
        },
        "model": {
            "resolution_cm": _sig(resolution_cm),
            "cells": result.grid.cells,
            "time_steps": result.steps,
            "loss_rate_per_h": _sig(result.drug.loss_rate_per_s * 3600.0),
            "pulsation_coefficient": params.pulsation_coefficient,
            "mixing_diffusivity_cm2_s": params.mixing_diffusivity_cm2_s,
        },
        "notes": notes,
        "units": {
            "concentration": "µg/mL",
            "position": "cm from the foramen magnum",
            "time": "h",
        },
        "disclaimer": DISCLAIMER,
    }


def _report(payload: dict[str, Any], plot: Path | None) -> None:
    eff = payload["effective_concentration"]
    console.print(
        f"[bold]{payload['drug_label']}[/bold], tip at {payload['tip']} "
        f"({payload['tip_position_cm']:.1f} cm), {payload['delivery']['mode']}, "
        f"{payload['hours']:g} h"
    )
    table = Table(title="Cord segments (CSF concentration, µg/mL)", show_lines=False)
    for column in ("segment", "at", "peak", "peak at h", "final", "covered", "dermatome"):
        if column == "dermatome":
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=34)
        else:
            table.add_column(column, justify="right" if column in {"peak", "final"} else "left")
    for seg in payload["segments"]:
        table.add_row(
            seg["name"],
            seg["vertebra"],
            f"{seg['peak_concentration']:.3g}",
            f"{seg['peak_time_h']:.1f}",
            f"{seg['final_concentration']:.3g}",
            "[green]yes[/green]" if seg["covered"] else "",
            seg["dermatome"],
        )
    console.print(table)
    if eff is None:
        console.print("No effective level for this substance (a tracer): coverage not assessed.")
    else:
        covered = payload["covered_segments"]
        span = f"{covered[0]}-{covered[-1]}" if covered else "none"
        console.print(f"Effective level (model parameter): {eff:g} µg/mL; covered: {span}")
        if payload["covered_regions"]:
            console.print("Body regions fully covered: " + ", ".join(payload["covered_regions"]))
    console.print(f"Cranial compartment at the end: {payload['cranial_concentration']:.3g} µg/mL")
    mass = payload["mass_balance_mcg"]
    console.print(
        f"Mass balance (µg): infused {mass['infused']:.4g} = canal {mass['in_canal']:.4g} "
        f"+ cranium {mass['in_cranium']:.4g} + lost "
        f"{mass['lost_in_canal'] + mass['lost_in_cranium'] + mass['cleared_by_csf_outflow']:.4g}"
        f" (relative residual {mass['relative_residual']:.1e})"
    )
    for note in payload["notes"]:
        console.print(f"Note: {note}")
    if plot is not None:
        console.print(f"Plot written to {plot}")
    console.print(f"[dim]{DISCLAIMER}[/dim]")


@app.command()
def spread(
    drug: str | None = typer.Option(
        None, "--drug", help="morphine, hydromorphone, baclofen, ziconotide or in111-dtpa"
    ),
    concentration: str | None = typer.Option(
        None, "--concentration", help="drug concentration in the pump, e.g. '25 mg/mL'"
    ),
    tip: str | None = typer.Option(None, "--tip", help="catheter-tip vertebral level, e.g. T10"),
    dose: str | None = typer.Option(None, "--dose", help="continuous dose rate, e.g. '0.5 mg/day'"),
    bolus: str | None = typer.Option(None, "--bolus", help="one bolus at the start, e.g. '0.5 mg'"),
    bolus_duration: str | None = typer.Option(
        None, "--bolus-duration", help="how long the bolus runs (default 10 min)"
    ),
    prescription: Path | None = typer.Option(
        None, "--prescription", help="a prescription TOML file (repeated daily)"
    ),
    hours: str | None = typer.Option(None, "--hours", help="simulated time in hours, e.g. 24"),
    resolution_mm: str = typer.Option("1", "--resolution-mm", help="grid spacing in mm"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
    plot: Path | None = typer.Option(None, "--plot", help="write a PNG figure to this file"),
) -> None:
    """Drug concentration along the spinal canal: per cord segment, coverage, profile."""
    with user_errors():
        if drug is None:
            raise ValueError("--drug: missing; e.g. '--drug morphine'")
        if tip is None:
            raise ValueError("--tip: missing; give the catheter-tip vertebral level, e.g. T10")
        transport = drug_transport(drug)
        level = parse_vertebra(tip)
        span = _hours(hours)
        resolution = _resolution_cm(resolution_mm)
        if plot is not None and plot.suffix.lower() != ".png":
            raise ValueError(f"--plot: {str(plot)!r} must name a .png file")
        if plot is not None and not plot.resolve().parent.is_dir():
            raise ValueError(f"--plot: directory of {str(plot)!r} does not exist")
        transport, deliveries, described, notes = _deliveries(
            transport, concentration, dose, bolus, bolus_duration, prescription, span
        )
        from thecal.science.scenario import run_scenario

        show = not json_out and err_console.is_terminal
        with _progress(show) as report:
            scenario = run_scenario(
                transport, level, deliveries, span, resolution_cm=resolution, progress=report
            )
        payload = _payload(scenario, span, described, notes, resolution)
        if plot is not None:
            from thecal.science.plots import save, spread_figure

            save(spread_figure(scenario), plot)
            payload["plot"] = str(plot)
    if json_out:
        emit_json(payload)
    else:
        _report(payload, plot)


__all__ = ["app", "fail"]
