"""Fleet simulation speed: patient-years simulated per second on one core, the
vectorised model against a per-patient Python loop of the same model, in the same run.

* vectorised: `fleet_run.run_fleet` for 100 000 patients x 10 years (10^6 patient-years,
  target: under 10 s on one core);
* baseline: `fleet_loop.simulate_patient`, the same fill-to-fill arithmetic one patient
  at a time with Python floats (itself event to event, never per second or stroke),
  run on a sample of the same patients and extrapolated; target ratio at least 100x;
* for scale, the pump twin itself per patient (`fleet_twin.replay_on_twin`, analytic
  mode: hourly self-checks, alarms, memory, commands), a few patient-years.

numpy's elementwise work is single-threaded, so both figures are one core's.
"""

from __future__ import annotations

import time

import numpy as np

from thecal.pump import SimulationMode
from thecal.science.fleet_loop import simulate_patient
from thecal.science.fleet_model import N_DRAWS, simulate_block
from thecal.science.fleet_parameters import fleet_parameters
from thecal.science.fleet_population import block_generator, block_population
from thecal.science.fleet_run import run_fleet
from thecal.science.fleet_twin import replay_on_twin

PATIENTS = 100_000
YEARS = 10.0
LOOP_PATIENTS = 2_000
TARGET_SECONDS = 10.0
TARGET_RATIO = 100.0


def vectorised() -> tuple[float, float]:
    """(wall seconds, patient-years per second) for the whole fleet."""
    began = time.perf_counter()
    result = run_fleet(PATIENTS, YEARS, seed=1)
    wall = time.perf_counter() - began
    assert result.refills.sum() > 0
    return wall, PATIENTS * YEARS / wall


def python_loop() -> float:
    """Patient-years per second of the per-patient loop on the first patients."""
    params = fleet_parameters()
    population = block_population(params, 0, LOOP_PATIENTS, block_generator(1, 0))
    began = time.perf_counter()
    for j in range(LOOP_PATIENTS):
        rng = np.random.default_rng(j)
        simulate_patient(params, population, j, YEARS, lambda k, rng=rng: rng.random(N_DRAWS))
    wall = time.perf_counter() - began
    return LOOP_PATIENTS * YEARS / wall


def twin_per_patient() -> float:
    """Patient-years per second of the pump twin (analytic mode), one patient at a time."""
    patients, years = 3, 1.0
    params = fleet_parameters()
    outcome = simulate_block(params, 1, 0, patients, years, record=True)
    population = block_population(params, 0, patients, block_generator(1, 0))
    began = time.perf_counter()
    for j in range(patients):
        replay_on_twin(params, population, j, outcome.draws, years, SimulationMode.ANALYTIC)
    return patients * years / (time.perf_counter() - began)


def main() -> None:
    run_fleet(1000, 1.0, seed=0)  # warm caches (device profiles, library, templates)
    wall, fast = vectorised()
    slow = python_loop()
    twin = twin_per_patient()
    ratio = fast / slow
    print(f"vectorised: {PATIENTS * YEARS:.0e} patient-years in {wall:.2f} s = {fast:,.0f} /s")
    print(f"per-patient Python loop: {slow:,.0f} patient-years/s ({LOOP_PATIENTS} patients)")
    print(f"ratio: {ratio:.1f}x")
    print(f"pump twin per patient (analytic mode): {twin:.2f} patient-years/s")
    print(f"ratio to the twin: {fast / twin:,.0f}x")
    met_time = "met" if wall < TARGET_SECONDS else "NOT met"
    met_ratio = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"target 10^6 patient-years under {TARGET_SECONDS:g} s: {met_time}")
    print(f"target ratio at least {TARGET_RATIO:g}x: {met_ratio}")


if __name__ == "__main__":
    main()
