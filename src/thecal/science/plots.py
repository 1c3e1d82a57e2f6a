"""Matplotlib figures of spread results (PNG, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from thecal.science.scenario import ScenarioResult
from thecal.therapy import anatomy

__all__ = ["level_ticks", "pyplot", "save", "spread_figure"]

pyplot = plt
"""matplotlib.pyplot, with the headless backend already selected."""


def level_ticks(ax: Axes, axis: str = "x", every: int = 2) -> None:
    """Label an axis in cm with vertebral levels as a secondary axis."""
    end = float(anatomy.canal_landmarks().dural_sac_end_cm)
    levels = [v for v in anatomy.vertebrae() if float(v.position_cm) < end]
    chosen = [v for i, v in enumerate(levels) if i % every == 0]
    positions = [float(v.position_cm) for v in chosen]
    names = [v.name for v in chosen]
    if axis == "x":
        twin = ax.secondary_xaxis("top")
        twin.set_xticks(positions, names, fontsize=7)
    else:
        twin = ax.secondary_yaxis("right")
        twin.set_yticks(positions, names, fontsize=7)


def spread_figure(scenario: ScenarioResult) -> Figure:
    """Concentration over time and position, and the per-segment peak and final."""
    result = scenario.result
    cov = scenario.coverage
    fig, (ax_map, ax_seg) = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)

    hours = result.times_s / 3600.0
    data = np.maximum(result.canal_history.T, 1e-12)
    top = float(data.max())
    floor = max(top * 1e-4, 1e-12)
    mesh = ax_map.pcolormesh(
        hours,
        result.grid.centres,
        np.maximum(data, floor),
        shading="auto",
        norm=LogNorm(vmin=floor, vmax=max(top, floor * 10)),
        cmap="viridis",
    )
    ax_map.invert_yaxis()
    ax_map.axhline(result.tip_cm, color="white", lw=0.8, ls="--")
    ax_map.set_xlabel("time (h)")
    ax_map.set_ylabel("position along the canal (cm from the foramen magnum)")
    ax_map.set_title(f"{result.drug.label}: CSF concentration, tip {scenario.tip.name}")
    level_ticks(ax_map, "y")
    fig.colorbar(mesh, ax=ax_map, label="µg/mL")

    names = [e.segment.name for e in cov.segments]
    x = np.arange(len(names))
    peaks = np.array([e.peak for e in cov.segments])
    finals = np.array([e.final for e in cov.segments])
    colors = ["tab:green" if e.covered else "tab:gray" for e in cov.segments]
    ax_seg.bar(x, peaks, color=colors, alpha=0.6, label="peak")
    ax_seg.plot(x, finals, "k.", label="final")
    if cov.effective_concentration is not None:
        ax_seg.axhline(
            cov.effective_concentration, color="tab:red", lw=1, label="effective level (model)"
        )
    ax_seg.set_yscale("log")
    ax_seg.set_xticks(x, names, rotation=90, fontsize=7)
    ax_seg.set_ylabel("CSF concentration at the segment (µg/mL)")
    ax_seg.set_title("cord segments (green: covered)")
    ax_seg.legend(fontsize=8)
    fig.supxlabel(
        "Model estimate, not a medical device; per-patient anatomy and posture are unknown.",
        fontsize=7,
        color="gray",
    )
    return fig


def save(fig: Figure, path: Path | str) -> Path:
    """Write `fig` as PNG to `path` and close it."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ValueError(f"plot file must end in .png, not {target.name!r}")
    if not target.parent.exists():
        raise ValueError(f"plot file: directory {str(target.parent)!r} does not exist")
    fig.savefig(target, dpi=130)
    plt.close(fig)
    return target
