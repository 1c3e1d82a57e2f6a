"""Estimates with 95 % confidence intervals for the fleet's outcomes.

Outcomes come clustered by patient (a pump that over-infuses runs dry again and
again), so every interval here treats the *patient* as the independent unit:

* `proportion` (e.g. dry reservoirs per refill interval): the ratio of totals over
  patients with an exact Clopper-Pearson interval computed on the *effective* counts
  (Korn & Graubard 1998): counts divided by the design effect, the ratio of the
  between-patient (cluster-robust) variance to the binomial variance, when above 1;
* `rate` (events per patient-year or per patient-month): the ratio of totals with an
  exact Poisson (Garwood) interval on the effective count, the same design effect
  against the Poisson variance;
* `mean_per_patient` (days per patient-year): the mean of per-patient values over
  equal follow-up, with a Student t interval (patients independent); it is degenerate
  when no patient is affected, so the affected share comes with its own exact
  interval (`proportion` of patients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = ["Estimate", "clopper_pearson", "garwood", "mean_per_patient", "proportion", "rate"]

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval and how the interval was made."""

    estimate: float
    ci_low: float
    ci_high: float
    method: str
    numerator: float
    denominator: float
    design_effect: float = 1.0

    def as_dict(self) -> dict[str, float | str]:
        return {
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "method": self.method,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "design_effect": self.design_effect,
        }


def clopper_pearson(successes: float, trials: float, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval; counts may be fractional (effective counts)."""
    if trials <= 0:
        return (0.0, 1.0)
    alpha = 1 - level
    low = (
        0.0
        if successes <= 0
        else float(stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    )
    high = (
        1.0
        if successes >= trials
        else float(stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    )
    return low, high


def garwood(events: float, level: float = LEVEL) -> tuple[float, float]:
    """Exact Poisson interval for a count (may be fractional: an effective count)."""
    alpha = 1 - level
    low = 0.0 if events <= 0 else float(stats.chi2.ppf(alpha / 2, 2 * events) / 2)
    high = float(stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2)
    return low, high


def _cluster_variance(y: NDArray[np.float64], x: NDArray[np.float64], ratio: float) -> float:
    """Between-patient variance of the total of y - ratio * x (the ratio's linearisation)."""
    n = y.shape[0]
    if n < 2:
        return 0.0
    residual = y - ratio * x
    return float(n / (n - 1) * np.sum(residual * residual))


def proportion(events: NDArray[np.integer], trials: NDArray[np.integer]) -> Estimate:
    """Share of trials with the event, totals over patients (per-patient counts given)."""
    y = np.asarray(events, dtype=float)
    x = np.asarray(trials, dtype=float)
    total_y, total_x = float(y.sum()), float(x.sum())
    if total_x <= 0:
        return Estimate(math.nan, 0.0, 1.0, "no trials", total_y, total_x)
    p = total_y / total_x
    binomial = total_x * p * (1 - p)
    deff = 1.0
    if binomial > 0:
        deff = max(1.0, _cluster_variance(y, x, p) / binomial)
    low, high = clopper_pearson(total_y / deff, total_x / deff)
    return Estimate(
        p, low, high, "Clopper-Pearson on effective counts (Korn-Graubard)", total_y, total_x, deff
    )


def rate(
    events: NDArray[np.integer], exposure: NDArray[np.floating], scale: float = 1.0
) -> Estimate:
    """Events per unit exposure (times `scale`), totals over patients."""
    y = np.asarray(events, dtype=float)
    x = np.asarray(exposure, dtype=float)
    total_y, total_x = float(y.sum()), float(x.sum())
    if total_x <= 0:
        return Estimate(math.nan, math.nan, math.nan, "no exposure", total_y, total_x)
    r = total_y / total_x
    deff = 1.0
    if total_y > 0:
        deff = max(1.0, _cluster_variance(y, x, r) / total_y)
    low, high = garwood(total_y / deff)
    per = scale * deff / total_x
    return Estimate(
        r * scale,
        low * per,
        high * per,
        "exact Poisson on effective counts",
        total_y,
        total_x,
        deff,
    )


def mean_per_patient(values: NDArray[np.floating], follow_up: float) -> Estimate:
    """Mean of per-patient totals divided by the (equal) follow-up, Student t interval."""
    v = np.asarray(values, dtype=float) / follow_up
    n = v.shape[0]
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, "no patients", 0.0, 0.0)
    mean = float(v.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, "one patient", float(values.sum()), n * follow_up)
    half = float(stats.t.ppf(1 - (1 - LEVEL) / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Estimate(
        mean,
        max(0.0, mean - half),
        mean + half,
        "Student t over patients",
        float(np.sum(values)),
        n * follow_up,
    )
