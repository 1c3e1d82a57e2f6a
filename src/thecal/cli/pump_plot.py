"""The figure for `thecal sim --plot`: true against estimated reservoir, and the
cumulative delivered dose, over the scenario's time (matplotlib, file output)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from thecal.pump.scenario import ScenarioResult


def plot_result(result: ScenarioResult, path: Path) -> None:
    """Write a two-panel PNG to `path`."""
    times = [sample.time for sample in result.samples]
    true = [float(sample.true_reservoir) for sample in result.samples]
    estimate = [float(sample.estimated_reservoir) for sample in result.samples]
    dose_mg = [float(sample.delivered_dose) / 1000 for sample in result.samples]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    summary = result.summary
    top.set_title(f"{summary.title} ({summary.model}, {summary.mode.value})")
    top.plot(times, true, label="true reservoir (hardware)", color="tab:blue")
    top.plot(times, estimate, label="estimated reservoir (firmware)", color="tab:orange", ls="--")
    for event in result.events:
        if event.kind == "refill_reconciliation":
            flagged = dict(event.details).get("flagged") == "true"
            top.axvline(event.time, color="tab:red" if flagged else "tab:gray", lw=0.8, alpha=0.7)
        elif event.kind == "alarm_raised":
            top.plot([event.time], [0], marker="v", color="tab:red", ms=5)
        elif event.kind == "fault_started":
            top.axvline(event.time, color="tab:purple", lw=0.8, ls=":")
    top.set_ylabel("reservoir (mL)")
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)
    bottom.plot(times, dose_mg, color="tab:green", label="delivered dose (cumulative)")
    bottom.set_ylabel(f"{summary.drug} delivered (mg)")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
