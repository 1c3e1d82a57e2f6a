"""Figures of a fleet run (PNG through the headless backend of `thecal.science.plots`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from thecal.science.fleet_model import DAYS_PER_MONTH
from thecal.science.plots import pyplot

__all__ = ["fleet_figure"]


def _bars(ax: Any, labels: list[str], estimates: list[dict[str, Any]], scale: float) -> None:
    values = np.array([e["estimate"] * scale for e in estimates])
    low = np.array([e["ci_low"] * scale for e in estimates])
    high = np.array([e["ci_high"] * scale for e in estimates])
    ax.bar(labels, values, color="#7aa6c2")
    ax.errorbar(
        labels, values, yerr=[values - low, high - values], fmt="none", ecolor="black", capsize=4
    )


def fleet_figure(summary: dict[str, Any], delivered_ratio: np.ndarray) -> Figure:
    """Four panels: fleet workload per month; dry reservoirs per 100 refills by drug;
    alarm and no-drug days per patient-year by drug (95 % intervals); the spread of
    delivered / programmed volume per patient (pump accuracy)."""
    fig, axes = pyplot.subplots(2, 2, figsize=(11, 7.5))
    (work, dry), (days, accuracy) = axes
    refills = np.array(summary["refills_per_month"]["fleet_series"])
    repl = np.array(summary["battery_replacements_per_month"]["fleet_series"])
    months = np.arange(1, refills.shape[0] + 1)
    work.plot(months, refills, color="#2b6f9e", label="refills")
    work.set_xlabel("month")
    work.set_ylabel("refills per month (fleet)", color="#2b6f9e")
    twin = work.twinx()
    twin.bar(months, repl, color="#d98c3f", alpha=0.6, label="battery replacements")
    twin.set_ylabel("replacements per month (fleet)", color="#d98c3f")
    work.set_zorder(twin.get_zorder() + 1)  # the refill line above the replacement bars
    work.patch.set_visible(False)
    work.set_title(f"Workload: {summary['patients']} patients, {summary['years']:g} years")

    by_drug = summary["by_drug"]
    labels = [d["drug"] for d in by_drug]
    _bars(dry, labels, [d["dry_reservoir_per_refill"] for d in by_drug], 100)
    dry.set_ylabel("dry reservoirs per 100 refills")
    dry.set_title("Reservoir dry before its refill (95 % CI)")

    width = 0.38
    x = np.arange(len(labels))
    for offset, key, color, name in (
        (-width / 2, "low_reservoir_alarm_days_per_patient_year", "#c9a227", "low-reservoir alarm"),
        (width / 2, "days_without_drug_per_patient_year", "#b23a48", "no drug delivered"),
    ):
        est = np.array([d[key]["estimate"] for d in by_drug])
        low = np.array([d[key]["ci_low"] for d in by_drug])
        high = np.array([d[key]["ci_high"] for d in by_drug])
        days.bar(x + offset, est, width, color=color, label=name)
        days.errorbar(
            x + offset, est, yerr=[est - low, high - est], fmt="none", ecolor="black", capsize=3
        )
    days.set_xticks(x, labels)
    days.set_ylabel("days per patient-year")
    days.set_title("Alarm and no-drug days (95 % CI)")
    days.legend(fontsize=8)

    accuracy.hist((delivered_ratio - 1) * 100, bins=60, color="#6c8f5a")
    accuracy.set_xlabel("delivered vs programmed volume per patient (%)")
    accuracy.set_ylabel("patients")
    accuracy.set_title("Pump accuracy over the fleet (dry time included)")
    fig.suptitle(
        "thecal fleet simulation (model estimate, not a medical device); "
        f"month = {DAYS_PER_MONTH:.2f} days",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def write_docs_figure(directory: str) -> str:
    """Regenerate docs/figures/fleet_summary.png (20 000 patients, 5 years, seed 1)."""
    from pathlib import Path

    from thecal.science.fleet_run import run_fleet, summarise
    from thecal.science.plots import save

    result = run_fleet(20_000, 5.0, 1)
    summary = summarise(result)
    target = Path(directory) / "fleet_summary.png"
    save(fleet_figure(summary, result.delivered_volume / result.programmed_volume), target)
    return str(target)


if __name__ == "__main__":  # python -m thecal.science.fleet_plots docs/figures
    import sys

    print(write_docs_figure(sys.argv[1] if len(sys.argv) > 1 else "docs/figures"))
