"""Regenerate the figures in docs/figures (used by docs/science.md).

    .venv/bin/python -m thecal.science.figures docs/figures

Every figure is computed from the shipped parameters and calibration; nothing
is drawn by hand. Takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

from thecal.science import plots
from thecal.science.calibration import (
    FIT_WINDOW_H,
    KROIN_RATIO,
    NORDBERG_C1H_UG_ML,
    NORDBERG_HALF_LIFE_MIN,
    protocol_pk,
)
from thecal.science.geometry import (
    area_at,
    build_grid,
    pulsatile_dispersion_at,
    stroke_volume_at,
    uniform_grid,
)
from thecal.science.parameters import drug_transport, model_parameters
from thecal.science.scenario import run_scenario
from thecal.science.spread import Delivery, continuous_delivery, simulate, steady_state
from thecal.therapy.anatomy import parse_vertebra
from thecal.therapy.units import parse_concentration, parse_dose_rate, parse_duration

plt = plots.pyplot


def _x(level: str) -> float:
    return float(parse_vertebra(level).position_cm)


def geometry(out: Path) -> Path:
    params = model_parameters()
    x = np.linspace(0, params.canal_length_cm, 600)
    fig, axes = plt.subplots(3, 1, figsize=(8, 7.5), sharex=True, constrained_layout=True)
    axes[0].plot(x, area_at(x, params))
    axes[0].set_ylabel("SAS area A (cm²)")
    axes[1].plot(x, stroke_volume_at(x, params))
    axes[1].set_ylabel("stroke volume SV (mL/cycle)")
    d = pulsatile_dispersion_at(x, params)
    axes[2].semilogy(x, d, label="D_osc + D_mix (calibrated)")
    axes[2].axhline(params.mixing_diffusivity_cm2_s, color="gray", ls=":", label="D_mix")
    axes[2].axhline(
        drug_transport("morphine").molecular_diffusivity_cm2_s,
        color="tab:red",
        ls="--",
        label="molecular (morphine)",
    )
    axes[2].set_ylabel("dispersion (cm²/s)")
    axes[2].set_xlabel("position along the canal (cm from the foramen magnum)")
    axes[2].legend(fontsize=8)
    plots.level_ticks(axes[0])
    fig.suptitle("Canal geometry and CSF motion in the model")
    return plots.save(fig, out / "geometry.png")


def kroin(out: Path) -> Path:
    params = model_parameters()
    grid = build_grid(params, 0.1)
    tracer = drug_transport("tracer")
    infusion = [Delivery(0, 72 * 3600, 1 / 3600, 0.5 / 86400)]
    run = simulate(grid, tracer, _x("L3"), infusion, 72 * 3600, samples=4)
    t12 = float(run.concentration_at(_x("T12")))
    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    for i, label in ((1, "24 h"), (2, "48 h"), (3, "72 h")):
        ax.semilogy(grid.centres, run.canal_history[i] / t12, label=f"model, {label}")
    ax.plot([_x("T12"), _x("T2")], [1.0, KROIN_RATIO], "ko", label="Kroin 1993: T2 = 43 % of T12")
    model_ratio = float(run.concentration_at(_x("T2"))) / t12
    ax.plot([_x("T2")], [model_ratio], "r^", label=f"model T2/T12 = {model_ratio:.2f}")
    ax.axvline(_x("L3"), color="gray", ls="--", lw=0.8)
    ax.set_xlabel("position along the canal (cm from the foramen magnum)")
    ax.set_ylabel("concentration / concentration at T12")
    ax.set_title("Calibration 1: lumbar tracer infusion (tip L3), profile relative to T12")
    ax.legend(fontsize=8)
    plots.level_ticks(ax)
    return plots.save(fig, out / "calibration_kroin.png")


def pharmacokinetics(out: Path) -> Path:
    params = model_parameters()
    morphine = drug_transport("morphine")
    pk = protocol_pk(params, morphine, 0.1)
    zic = protocol_pk(params, drug_transport("ziconotide"), 0.1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    a.semilogy(pk.times_h, pk.concentration, label="model, 0.25 mg at L3, sampled at L3")
    a.plot([1.0], [NORDBERG_C1H_UG_ML[0]], "ko", label="Nordberg 1984, 0.25 mg, 1 h")
    a.plot([1.0], [NORDBERG_C1H_UG_ML[1] / 2], "ks", mfc="none", label="0.5 mg, 1 h (÷2)")
    t = np.linspace(*FIT_WINDOW_H, 10)
    ref = float(np.interp(FIT_WINDOW_H[0], pk.times_h, pk.concentration))
    slope = math.log(2) / (NORDBERG_HALF_LIFE_MIN / 60)
    a.plot(t, ref * np.exp(-slope * (t - t[0])), "r--", label="t½ 185.5 min (target)")
    a.set_xlabel("time after injection (h)")
    a.set_ylabel("lumbar CSF morphine (µg/mL)")
    a.set_title("Calibration 2-3: morphine bolus (Nordberg 1984)")
    a.set_ylim(1e-2, 1e2)
    a.legend(fontsize=8)
    b.semilogy(zic.times_h, zic.concentration * 1000, label="model, 5 µg over 1 h at L3")
    b.set_xlabel("time after start (h)")
    b.set_ylabel("lumbar CSF ziconotide (ng/mL)")
    b.set_title(f"Ziconotide (label t½ 4.6 h; model {zic.half_life_h:.2f} h)")
    b.legend(fontsize=8)
    return plots.save(fig, out / "calibration_pk.png")


def bolus_vs_continuous(out: Path) -> Path:
    morphine = drug_transport("morphine")
    grid = build_grid(model_parameters(), 0.1)
    conc = parse_concentration("10 mg/mL")
    tip = _x("T10")
    probes = [tip, _x("T4"), _x("C4")]
    day = 24 * 3600.0
    continuous = [Delivery(0, day, 500 / day, 0.05 / day)]
    single = [Delivery(0, 600, 500 / 600, 0.05 / 600, bolus=True)]
    four = [Delivery(h * 3600, h * 3600 + 600, 125 / 600, 0.0125 / 600, bolus=True)
            for h in (0, 6, 12, 18)]  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True, constrained_layout=True)
    for deliveries, label in ((continuous, "continuous"), (single, "1 bolus"), (four, "4 boluses")):
        run = simulate(grid, morphine, tip, deliveries, day, probes_cm=probes, samples=289)
        for ax, i, name in zip(axes, range(3), ("T10 (tip)", "T4", "C4"), strict=True):
            ax.semilogy(run.times_s / 3600, run.probe_history[:, i], label=label)
            ax.set_title(f"at vertebral level {name}")
    axes[0].set_ylabel("CSF morphine (µg/mL)")
    for ax in axes:
        ax.set_xlabel("time (h)")
        ax.axhline(morphine.effective_concentration or 0, color="gray", ls=":", lw=0.8)
        ax.set_ylim(1e-2, 1e2)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"0.5 mg/day morphine at T10, {conc}: continuous vs bolus (same daily dose)")
    return plots.save(fig, out / "bolus_vs_continuous.png")


def convergence(out: Path) -> Path:
    drug = dataclasses.replace(
        drug_transport("morphine"), molecular_diffusivity_cm2_s=0.0, loss_rate_per_s=1e-4
    )
    d, k, area = 0.01, 1e-4, 1.5
    x = np.concatenate([np.linspace(60, 98, 39), np.linspace(102, 140, 39)])
    exact = 1 / (2 * area * math.sqrt(d * k)) * np.exp(-np.abs(x - 100) / math.sqrt(d / k))
    sizes = [1.6, 0.8, 0.4, 0.2, 0.1]
    errors = []
    for dx in sizes:
        steady = steady_state(uniform_grid(200, dx, area, d), drug, 100.0, 1.0)
        errors.append(float(np.max(np.abs(steady.concentration_at(x) - exact) / exact)))
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    ax.loglog(np.array(sizes) * 10, errors, "o-", label="max relative error vs exp(-|x|/λ)")
    ref = errors[2] * (np.array(sizes) / sizes[2]) ** 2
    ax.loglog(np.array(sizes) * 10, ref, "k--", label="second order")
    ax.set_xlabel("cell size (mm)")
    ax.set_ylabel("error")
    ax.set_title("Steady profile vs analytic (λ = 10 cm)")
    ax.legend(fontsize=8)
    return plots.save(fig, out / "convergence.png")


def example(out: Path) -> Path:
    scenario = run_scenario(
        drug_transport("morphine"),
        parse_vertebra("T10"),
        [
            continuous_delivery(
                parse_dose_rate("0.5 mg/day"),
                parse_concentration("25 mg/mL"),
                parse_duration("24 h"),
            )
        ],
        24.0,
    )
    return plots.save(plots.spread_figure(scenario), out / "example_spread.png")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m thecal.science.figures OUTPUT_DIRECTORY", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for make in (geometry, kroin, pharmacokinetics, bolus_vs_continuous, convergence, example):
        print(make(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
