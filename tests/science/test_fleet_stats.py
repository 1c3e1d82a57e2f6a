"""Confidence intervals: exact limits, and coverage on synthetic fleets with a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from thecal.science.fleet_stats import (
    clopper_pearson,
    garwood,
    mean_per_patient,
    proportion,
    rate,
)

REPLICATES = 400


def coverage(hits: list[bool]) -> float:
    return sum(hits) / len(hits)


def test_zero_events_still_give_an_upper_limit() -> None:
    low, high = garwood(0)
    assert low == 0
    assert high == pytest.approx(3.689, abs=1e-3)  # the exact 95 % upper limit for 0 events
    low, high = clopper_pearson(0, 100)
    assert low == 0 and high == pytest.approx(0.0362, abs=1e-4)


def test_all_successes_reach_one() -> None:
    assert clopper_pearson(20, 20)[1] == 1.0


def test_binomial_interval_covers_a_known_probability() -> None:
    rng = np.random.default_rng(1)
    p, patients, per_patient = 0.03, 200, 5
    hits = []
    for _ in range(REPLICATES):
        events = rng.binomial(per_patient, p, size=patients)
        est = proportion(events, np.full(patients, per_patient))
        hits.append(est.ci_low <= p <= est.ci_high)
    assert coverage(hits) >= 0.93


def test_poisson_interval_covers_a_known_rate() -> None:
    rng = np.random.default_rng(2)
    per_year, patients, years = 0.05, 500, 2.0
    hits = []
    for _ in range(REPLICATES):
        events = rng.poisson(per_year * years, size=patients)
        est = rate(events, np.full(patients, years))
        hits.append(est.ci_low <= per_year <= est.ci_high)
    assert coverage(hits) >= 0.93


def test_clustered_events_need_the_design_effect_to_be_covered() -> None:
    """Some pumps run dry again and again: a patient's rate is gamma distributed. The
    patient-clustered interval covers the mean; the naive Poisson one does not."""
    rng = np.random.default_rng(3)
    mean_rate, shape, patients, years = 0.2, 0.2, 400, 3.0
    clustered, naive = [], []
    for _ in range(REPLICATES):
        rates = rng.gamma(shape, mean_rate / shape, size=patients)
        events = rng.poisson(rates * years)
        est = rate(events, np.full(patients, years))
        clustered.append(est.ci_low <= mean_rate <= est.ci_high)
        low, high = garwood(events.sum())
        naive.append(low / (patients * years) <= mean_rate <= high / (patients * years))
        assert est.design_effect >= 1.0
    assert coverage(clustered) >= 0.92
    assert coverage(naive) < 0.8


def test_mean_days_interval_covers_a_zero_inflated_mean() -> None:
    rng = np.random.default_rng(4)
    share, mean_days, patients, years = 0.2, 3.0, 800, 2.0
    truth = share * mean_days / years
    hits = []
    for _ in range(REPLICATES):
        affected = rng.random(patients) < share
        days = np.where(affected, rng.exponential(mean_days, size=patients), 0.0)
        est = mean_per_patient(days, years)
        hits.append(est.ci_low <= truth <= est.ci_high)
    assert coverage(hits) >= 0.93


def test_a_proportion_without_trials_says_so() -> None:
    est = proportion(np.zeros(3, dtype=int), np.zeros(3, dtype=int))
    assert np.isnan(est.estimate) and est.method == "no trials"
