"""Fan a fleet out over a Dask cluster with the same seeded blocks as a local run.

Each block is one task, `fleet_model.simulate_block(params, seed, block, size, years)`;
its patients and draws depend only on the seed and the block index (the block size is
fixed), so the outcomes gathered in block order, and the summary made from them, are
identical to `fleet_run.run_fleet` on one machine.
"""

from __future__ import annotations

from typing import Any

from thecal.science.fleet_model import simulate_block
from thecal.science.fleet_parameters import FleetParameters, fleet_parameters
from thecal.science.fleet_run import FleetResult, Progress, block_sizes, combine, validate_request

__all__ = ["run_fleet_on_dask", "start_local_cluster"]


def start_local_cluster() -> Any:
    """A Dask cluster on this machine: one single-threaded worker process per core."""
    from distributed import LocalCluster

    return LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None)


def run_fleet_on_dask(
    client: Any,
    patients: int,
    years: float,
    seed: int,
    params: FleetParameters | None = None,
    progress: Progress | None = None,
) -> FleetResult:
    """Simulate the fleet on the cluster behind `client` (a `distributed.Client`)."""
    from distributed import as_completed

    validate_request(patients, years, seed)
    params = params if params is not None else fleet_parameters()
    sizes = block_sizes(patients)
    futures = [
        client.submit(simulate_block, params, seed, block, size, years, pure=False)
        for block, size in enumerate(sizes)
    ]
    for done, _ in enumerate(as_completed(futures), start=1):
        if progress is not None:
            progress(done, len(sizes))
    outcomes = client.gather(futures)
    return combine(outcomes, patients, years, seed)
