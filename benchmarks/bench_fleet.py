"""Fleet simulation speed: patient-years simulated per second on one core, the
vectorised model against a per-patient Python loop of the same model, in the same run.

* vectorised: `fleet_run.run_fleet` for 100 000 patients x 10 years, i.e. 10^6
  patient-years, timed whole (target: under 10 s on one core). The model's inner step
  is compiled (`fleet_kernel`, numba); compiling happens once per machine (it is
  cached) and is timed separately, in the warm-up;
* baseline: `fleet_loop.simulate_patient`, the same fill-to-fill arithmetic one patient
  at a time with Python floats (itself event to event, never per second or stroke),
  on the first 1000 of the same patients for the same 10 years; target ratio at
  least 100x;
* for scale, the pump twin itself per patient (`fleet_twin.replay_on_twin`, analytic
  mode: hourly self-checks, alarms, memory, commands), a few patient-years.

The process pins itself to one core (where the system allows) and runs the two sides
alternately, keeping each one's best of `REPEATS`, so that other work on the machine
disturbs both alike. The kernel is single-threaded, and so is numpy's elementwise work.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numba
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
LOOP_PATIENTS = 1_000
REPEATS = 3
TARGET_SECONDS = 10.0
TARGET_RATIO = 100.0


def _pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _timed(function: Callable[[], object]) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def vectorised() -> None:
    result = run_fleet(PATIENTS, YEARS, seed=1)
    assert result.refills.sum() > 0


def python_loop() -> None:
    params = fleet_parameters()
    population = block_population(params, 0, LOOP_PATIENTS, block_generator(1, 0))
    for j in range(LOOP_PATIENTS):
        rng = np.random.default_rng(j)
        simulate_patient(params, population, j, YEARS, lambda k, rng=rng: rng.random(N_DRAWS))


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
    pinned = _pin_to_one_core()
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores, {pinned}; "
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
    )
    warm_up = _timed(lambda: run_fleet(1000, 1.0, seed=0))  # compiles or loads the kernel
    print(f"warm-up (kernel compiled or loaded from numba's cache, tables): {warm_up:.2f} s")
    fast_wall = slow_wall = float("inf")
    for _ in range(REPEATS):
        fast_wall = min(fast_wall, _timed(vectorised))
        slow_wall = min(slow_wall, _timed(python_loop))
    fast = PATIENTS * YEARS / fast_wall
    slow = LOOP_PATIENTS * YEARS / slow_wall
    twin = twin_per_patient()
    ratio = fast / slow
    print(
        f"vectorised: {PATIENTS} patients x {YEARS:g} years = {PATIENTS * YEARS:.0e} "
        f"patient-years in {fast_wall:.2f} s (measured, best of {REPEATS}) = {fast:,.0f} /s"
    )
    print(
        f"per-patient Python loop: {LOOP_PATIENTS} patients x {YEARS:g} years in "
        f"{slow_wall:.2f} s (best of {REPEATS}) = {slow:,.0f} patient-years/s"
    )
    print(f"ratio: {ratio:.0f}x")
    print(f"pump twin per patient (analytic mode): {twin:.2f} patient-years/s")
    print(f"ratio to the twin: {fast / twin:,.0f}x")
    met_time = "met" if fast_wall < TARGET_SECONDS else "NOT met"
    met_ratio = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"target 10^6 patient-years under {TARGET_SECONDS:g} s: {met_time}")
    print(f"target ratio at least {TARGET_RATIO:g}x: {met_ratio}")


if __name__ == "__main__":
    main()
