"""Calibration of the spread model to published human data (reference notes section 6).

Fitted (model parameter <- calibration target):

* pulsation coefficient beta, background mixing D_mix and the morphine loss
  rate k, jointly, to three targets:
  1. Kroin 1993: after 72 h of lumbar In-111 DTPA infusion the concentration
     at T2 is 43 % of that at T12, an e-folding length of 20 cm / ln(1/0.43) =
     23.7 cm. The model's e-folding length over the same span is
     (x_T12 - x_T2) / ln(c_T12 / c_T2).
  2. Nordberg 1984: CSF half-life of IT morphine 196 +- 13 min (0.25 mg) and
     175 +- 9 min (0.5 mg); target their mean, 185.5 min, as the terminal
     half-life of the lumbar concentration.
  3. Nordberg 1984: CSF at 1 h 4.23 microgram/mL after 0.25 mg and 10.45 after
     0.5 mg, apparent volumes dose / C = 59.1 and 47.9 mL; target their
     geometric mean, 53.2 mL.
* each other drug's loss rate, alone, to its CSF half-life (ziconotide 4.6 h
  from the Prialt label; baclofen and hydromorphone as labelled in the drug
  data). The tracer shares morphine's rate (assumption).

Checked but not fitted (validation residuals): Nordberg's CSF clearance and
volume of distribution (70 kg), and the Prialt label's clearance, volume and
per-microgram Cmax/AUC ranges.

Protocol assumptions (no source gives them): the Kroin tip at L3 infusing
0.5 mL/day; IT injections at L3 over 1 min in 1 mL, sampled at L3; the
ziconotide label's 1-h infusion as 5 microgram in 0.2 mL at L3, sampled at L3;
terminal half-lives fitted log-linearly over 3-12 h after the start.

Run ``python -m thecal.science.calibration`` to print the table, ``--write``
to store the result in ``data/csf_model.toml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq, least_squares

from thecal.science.geometry import build_grid
from thecal.science.parameters import (
    DrugTransport,
    ModelParameters,
    model_parameters,
    stored_loss_rates_per_h,
    transport_drugs,
)
from thecal.science.spread import Delivery, simulate
from thecal.therapy import anatomy

__all__ = [
    "CalibrationResult",
    "Check",
    "LumbarPK",
    "calibrate",
    "evaluate",
    "format_checks",
    "kroin_e_folding_length",
    "lumbar_bolus_pk",
    "protocol_pk",
    "stored_result",
]

FloatArray = NDArray[np.float64]

KROIN_RATIO = 0.43
KROIN_SPAN_CM = 20.0
KROIN_LAMBDA_CM = KROIN_SPAN_CM / math.log(1.0 / KROIN_RATIO)
NORDBERG_HALF_LIVES_MIN = (196.0, 175.0)
NORDBERG_HALF_LIFE_MIN = sum(NORDBERG_HALF_LIVES_MIN) / 2.0
NORDBERG_DOSES_UG = (250.0, 500.0)
NORDBERG_C1H_UG_ML = (4.228, 10.447)
NORDBERG_VOLUMES_ML = tuple(
    d / c for d, c in zip(NORDBERG_DOSES_UG, NORDBERG_C1H_UG_ML, strict=True)
)
NORDBERG_VOLUME_ML = math.sqrt(NORDBERG_VOLUMES_ML[0] * NORDBERG_VOLUMES_ML[1])
NORDBERG_CL_ML_MIN = (0.20, 0.24)  # 2.81-3.41 microL/kg/min at 70 kg [derived]
NORDBERG_VD_ML = (62.0, 74.0)  # 0.88-1.06 mL/kg at 70 kg [derived]
PRIALT_HALF_LIFE_H = 4.6
PRIALT_CL_ML_MIN = 0.38
PRIALT_VD_ML = 155.0
PRIALT_CMAX_NG_ML_PER_UG = (16.4 / 1.0, 132.0 / 10.0)  # label range ends / dose range ends
PRIALT_AUC_NG_H_ML_PER_UG = (608.0 / 10.0, 83.6 / 1.0)

INJECTION_LEVEL = "L3"
KROIN_FLUID_ML_DAY = 0.5
BOLUS_SECONDS = 60.0
BOLUS_VOLUME_ML = 1.0
FIT_WINDOW_H = (3.0, 12.0)
FOLLOW_H = 24.0


@dataclass(frozen=True, slots=True)
class Check:
    """One model output against its published value.

    `target` is the value fitted to (or the middle of the published range);
    `low`/`high` bound the published range; `fitted` says whether the model
    was calibrated to it (False: an independent check).
    """

    name: str
    unit: str
    model: float
    target: float
    low: float
    high: float
    source: str
    fitted: bool

    @property
    def relative_residual(self) -> float:
        return (self.model - self.target) / self.target

    @property
    def within_range(self) -> bool:
        return self.low <= self.model <= self.high


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """Calibrated parameters and the checks they give."""

    params: ModelParameters
    loss_rates_per_h: Mapping[str, float]
    checks: tuple[Check, ...]
    resolution_cm: float

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)


def _position(level: str) -> float:
    return float(anatomy.parse_vertebra(level).position_cm)


def _with_rate(drug: DrugTransport, rate_per_h: float) -> DrugTransport:
    return dataclasses.replace(drug, loss_rate_per_s=rate_per_h / 3600.0)


def _drug(key: str) -> DrugTransport:
    for d in transport_drugs():
        if d.key == key:
            return d
    raise KeyError(key)


def kroin_e_folding_length(
    params: ModelParameters, tracer: DrugTransport, resolution_cm: float
) -> float:
    """Model e-folding length (cm) between T12 and T2 after 72 h of lumbar infusion."""
    grid = build_grid(params, resolution_cm)
    t2, t12 = _position("T2"), _position("T12")
    hours = 72.0
    infusion = Delivery(0.0, hours * 3600.0, 1.0 / 3600.0, KROIN_FLUID_ML_DAY / 86400.0)
    result = simulate(
        grid,
        tracer,
        _position(INJECTION_LEVEL),
        [infusion],
        hours * 3600.0,
        probes_cm=[t2, t12],
        samples=2,
        max_step_s=1800.0,
    )
    c2, c12 = result.probe_final
    return (t12 - t2) / math.log(c12 / c2)


@dataclass(frozen=True, slots=True)
class LumbarPK:
    """Non-compartmental PK of the model's lumbar concentration after one dose."""

    times_h: FloatArray
    concentration: FloatArray
    c_1h: float
    c_max: float
    half_life_h: float
    auc_ug_h_ml: float
    clearance_ml_min: float
    volume_ml: float


def lumbar_bolus_pk(
    params: ModelParameters,
    drug: DrugTransport,
    dose_ug: float,
    resolution_cm: float,
    *,
    seconds: float = BOLUS_SECONDS,
    volume_ml: float = BOLUS_VOLUME_ML,
    bolus: bool = True,
) -> LumbarPK:
    """Inject `dose_ug` at L3 over `seconds` and follow the L3 concentration for 24 h."""
    grid = build_grid(params, resolution_cm)
    level = _position(INJECTION_LEVEL)
    dose = Delivery(0.0, seconds, dose_ug / seconds, volume_ml / seconds, bolus=bolus)
    result = simulate(grid, drug, level, [dose], FOLLOW_H * 3600.0, probes_cm=[level], samples=289)
    t = result.times_s / 3600.0
    c = result.probe_history[:, 0]
    window = (t >= FIT_WINDOW_H[0]) & (t <= FIT_WINDOW_H[1])
    slope = float(np.polyfit(t[window], np.log(c[window]), 1)[0])
    rate = -slope
    auc = float(np.trapezoid(c, t)) + float(c[-1]) / rate
    clearance = dose_ug / auc / 60.0  # mL/h -> mL/min
    return LumbarPK(
        times_h=t,
        concentration=c,
        c_1h=float(np.interp(1.0, t, c)),
        c_max=float(result.probe_peak[0]),
        half_life_h=math.log(2.0) / rate,
        auc_ug_h_ml=auc,
        clearance_ml_min=clearance,
        volume_ml=clearance * 60.0 / rate,
    )


def protocol_pk(params: ModelParameters, drug: DrugTransport, resolution_cm: float) -> LumbarPK:
    """Lumbar PK under the protocol of the drug's half-life source.

    Ziconotide: the label's 1-h infusion (5 microgram in 0.2 mL); morphine: a
    0.25 mg injection (Nordberg); others: a 100 microgram injection.
    """
    if drug.key == "ziconotide":
        return lumbar_bolus_pk(
            params, drug, 5.0, resolution_cm, seconds=3600.0, volume_ml=0.2, bolus=False
        )
    dose = 250.0 if drug.key == "morphine" else 100.0
    return lumbar_bolus_pk(params, drug, dose, resolution_cm)


def _fit_half_life(
    params: ModelParameters, drug: DrugTransport, target_h: float, resolution_cm: float
) -> float:
    """The loss rate (1/h) that gives `drug` a lumbar half-life of `target_h`."""

    def miss(log_rate: float) -> float:
        pk = protocol_pk(params, _with_rate(drug, math.exp(log_rate)), resolution_cm)
        return math.log(pk.half_life_h / target_h)

    return math.exp(brentq(miss, math.log(1e-3), math.log(5.0), xtol=1e-6))


def calibrate(resolution_cm: float | None = None) -> CalibrationResult:
    """Fit beta, D_mix and every drug's loss rate; return them with all checks."""
    base = model_parameters()
    resolution = base.calibration_grid_cm if resolution_cm is None else resolution_cm
    morphine = _drug("morphine")
    tracer = _drug("in111-dtpa")

    def residuals(x: FloatArray) -> FloatArray:
        beta, d_mix, k = np.exp(x)
        params = dataclasses.replace(
            base, pulsation_coefficient=float(beta), mixing_diffusivity_cm2_s=float(d_mix)
        )
        lam = kroin_e_folding_length(params, _with_rate(tracer, float(k)), resolution)
        pk = protocol_pk(params, _with_rate(morphine, float(k)), resolution)
        return np.array(
            [
                math.log(lam / KROIN_LAMBDA_CM),
                math.log(pk.half_life_h * 60.0 / NORDBERG_HALF_LIFE_MIN),
                math.log(250.0 / pk.c_1h / NORDBERG_VOLUME_ML),
            ]
        )

    start = np.log(
        [
            max(base.pulsation_coefficient, 1e-3),
            max(base.mixing_diffusivity_cm2_s, 1e-4),
            max(morphine.loss_rate_per_s * 3600.0, 1e-2),
        ]
    )
    fit = least_squares(residuals, start, xtol=1e-10, ftol=1e-10, gtol=1e-10, diff_step=1e-4)
    beta, d_mix, k_morphine = (float(v) for v in np.exp(fit.x))
    params = dataclasses.replace(base, pulsation_coefficient=beta, mixing_diffusivity_cm2_s=d_mix)
    rates: dict[str, float] = {}
    for drug in transport_drugs():
        if drug.key in {"morphine", "in111-dtpa"}:
            rates[drug.key] = k_morphine
        else:
            rates[drug.key] = _fit_half_life(params, drug, drug.csf_half_life_h, resolution)
    return CalibrationResult(params, rates, evaluate(params, rates, resolution), resolution)


def evaluate(
    params: ModelParameters, rates_per_h: Mapping[str, float], resolution_cm: float
) -> tuple[Check, ...]:
    """Every calibration target and validation check for the given parameters."""
    morphine = _with_rate(_drug("morphine"), rates_per_h["morphine"])
    tracer = _with_rate(_drug("in111-dtpa"), rates_per_h["in111-dtpa"])
    lam = kroin_e_folding_length(params, tracer, resolution_cm)
    t2, t12 = _position("T2"), _position("T12")
    ratio = math.exp(-(t12 - t2) / lam)
    pk = protocol_pk(params, morphine, resolution_cm)
    checks = [
        Check(
            "Kroin e-folding length T12->T2",
            "cm",
            lam,
            KROIN_LAMBDA_CM,
            KROIN_LAMBDA_CM,
            KROIN_LAMBDA_CM,
            "Kroin 1993",
            True,
        ),
        Check(
            "Kroin T2/T12 ratio at model anatomy",
            "1",
            ratio,
            KROIN_RATIO,
            KROIN_RATIO,
            KROIN_RATIO,
            f"Kroin 1993 (model T2-T12 distance {t12 - t2:.1f} cm vs 20 cm reported)",
            False,
        ),
        Check(
            "Morphine lumbar CSF half-life",
            "min",
            pk.half_life_h * 60.0,
            NORDBERG_HALF_LIFE_MIN,
            min(NORDBERG_HALF_LIVES_MIN),
            max(NORDBERG_HALF_LIVES_MIN),
            "Nordberg 1984",
            True,
        ),
        Check(
            "Morphine apparent volume at 1 h (dose / C1h)",
            "mL",
            250.0 / pk.c_1h,
            NORDBERG_VOLUME_ML,
            min(NORDBERG_VOLUMES_ML),
            max(NORDBERG_VOLUMES_ML),
            "Nordberg 1984",
            True,
        ),
        Check(
            "Morphine CSF at 1 h after 0.25 mg",
            "ug/mL",
            pk.c_1h,
            NORDBERG_C1H_UG_ML[0],
            4.228 - 0.361,
            4.228 + 0.361,
            "Nordberg 1984 (mean +- SE)",
            False,
        ),
        Check(
            "Morphine CSF at 1 h after 0.5 mg",
            "ug/mL",
            2.0 * pk.c_1h,
            NORDBERG_C1H_UG_ML[1],
            10.447 - 1.538,
            10.447 + 1.538,
            "Nordberg 1984 (mean +- SE)",
            False,
        ),
        Check(
            "Morphine CSF clearance (70 kg)",
            "mL/min",
            pk.clearance_ml_min,
            sum(NORDBERG_CL_ML_MIN) / 2.0,
            NORDBERG_CL_ML_MIN[0],
            NORDBERG_CL_ML_MIN[1],
            "Nordberg 1984 [derived, 70 kg]",
            False,
        ),
        Check(
            "Morphine CSF volume of distribution (70 kg)",
            "mL",
            pk.volume_ml,
            sum(NORDBERG_VD_ML) / 2.0,
            NORDBERG_VD_ML[0],
            NORDBERG_VD_ML[1],
            "Nordberg 1984 [derived, 70 kg]",
            False,
        ),
    ]
    zic = _with_rate(_drug("ziconotide"), rates_per_h["ziconotide"])
    zpk = protocol_pk(params, zic, resolution_cm)
    checks += [
        Check(
            "Ziconotide lumbar CSF half-life",
            "h",
            zpk.half_life_h,
            PRIALT_HALF_LIFE_H,
            PRIALT_HALF_LIFE_H - 0.9,
            PRIALT_HALF_LIFE_H + 0.9,
            "Prialt label (mean +- SD)",
            True,
        ),
        Check(
            "Ziconotide CSF clearance",
            "mL/min",
            zpk.clearance_ml_min,
            PRIALT_CL_ML_MIN,
            0.0,
            PRIALT_CL_ML_MIN + 0.56,
            "Prialt label (0.38 +- 0.56)",
            False,
        ),
        Check(
            "Ziconotide CSF volume of distribution",
            "mL",
            zpk.volume_ml,
            PRIALT_VD_ML,
            0.0,
            PRIALT_VD_ML + 263.0,
            "Prialt label (155 +- 263)",
            False,
        ),
        Check(
            "Ziconotide Cmax per microgram (1-h infusion)",
            "ng/mL per ug",
            zpk.c_max * 1000.0 / 5.0,
            math.sqrt(PRIALT_CMAX_NG_ML_PER_UG[0] * PRIALT_CMAX_NG_ML_PER_UG[1]),
            min(PRIALT_CMAX_NG_ML_PER_UG),
            max(PRIALT_CMAX_NG_ML_PER_UG),
            "Prialt label (range ends over 1-10 ug) [derived]",
            False,
        ),
        Check(
            "Ziconotide AUC per microgram",
            "ng h/mL per ug",
            zpk.auc_ug_h_ml * 1000.0 / 5.0,
            math.sqrt(PRIALT_AUC_NG_H_ML_PER_UG[0] * PRIALT_AUC_NG_H_ML_PER_UG[1]),
            min(PRIALT_AUC_NG_H_ML_PER_UG),
            max(PRIALT_AUC_NG_H_ML_PER_UG),
            "Prialt label (range ends over 1-10 ug) [derived]",
            False,
        ),
    ]
    for drug in transport_drugs():
        if drug.key in {"morphine", "ziconotide", "in111-dtpa"}:
            continue
        dpk = protocol_pk(params, _with_rate(drug, rates_per_h[drug.key]), resolution_cm)
        checks.append(
            Check(
                f"{drug.label} lumbar CSF half-life",
                "h",
                dpk.half_life_h,
                drug.csf_half_life_h,
                drug.csf_half_life_h,
                drug.csf_half_life_h,
                drug.half_life_source,
                True,
            )
        )
    return tuple(checks)


def stored_result() -> CalibrationResult:
    """The calibration stored in the data file, re-evaluated at its grid."""
    params = model_parameters()
    rates = stored_loss_rates_per_h()
    return CalibrationResult(
        params,
        rates,
        evaluate(params, rates, params.calibration_grid_cm),
        params.calibration_grid_cm,
    )


def format_checks(checks: tuple[Check, ...]) -> str:
    """A plain-text table of checks (for the command line and docs)."""
    lines = [
        f"{'check':48} {'model':>10} {'target':>10} {'range':>19} {'resid':>8}  fitted",
    ]
    for c in checks:
        span = f"{c.low:.3g}-{c.high:.3g}" if c.low != c.high else "-"
        lines.append(
            f"{c.name:48} {c.model:10.4g} {c.target:10.4g} {span:>19} "
            f"{100 * c.relative_residual:+7.1f}%  {'yes' if c.fitted else 'no'}"
        )
    return "\n".join(lines)


def _write(result: CalibrationResult, path: Path) -> None:
    text = path.read_text("utf-8")
    block = [
        "[calibrated]",
        f"grid_cm = {result.resolution_cm}",
        f"pulsation_coefficient = {result.params.pulsation_coefficient:.6g}",
        f"mixing_diffusivity_cm2_s = {result.params.mixing_diffusivity_cm2_s:.6g}",
        "[calibrated.loss_rate_per_h]",
        *(f"{key} = {rate:.6g}" for key, rate in result.loss_rates_per_h.items()),
    ]
    # Replace from the [calibrated] table header (at the start of a line) to the end.
    new = re.sub(r"^\[calibrated\]$.*\Z", "\n".join(block) + "\n", text, flags=re.S | re.M)
    if new == text and "\n[calibrated]\n" not in text:
        raise ValueError(f"{path.name} has no [calibrated] table to replace")
    path.write_text(new, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution-cm", type=float, default=None)
    parser.add_argument(
        "--write", action="store_true", help="store the result in data/csf_model.toml"
    )
    args = parser.parse_args(argv)
    result = calibrate(args.resolution_cm)
    p = result.params
    print(f"grid {result.resolution_cm} cm")
    print(f"pulsation coefficient beta = {p.pulsation_coefficient:.5g}")
    print(f"background mixing D_mix    = {p.mixing_diffusivity_cm2_s:.5g} cm^2/s")
    for key, rate in result.loss_rates_per_h.items():
        print(f"loss rate {key:14} = {rate:.5g} /h  (ln2/k = {math.log(2) / rate:.3g} h)")
    print(format_checks(result.checks))
    if args.write:
        target = Path(str(resources.files("thecal.science").joinpath("data", "csf_model.toml")))
        _write(result, target)
        print(f"written to {target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
