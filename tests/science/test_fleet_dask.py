"""A Dask cluster gives the same fleet, bit for bit, as one machine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from distributed import Client, LocalCluster

from thecal.science.fleet_dask import run_fleet_on_dask
from thecal.science.fleet_population import BLOCK_SIZE
from thecal.science.fleet_run import run_fleet, summarise


@pytest.mark.slow
def test_dask_fan_out_is_identical_to_the_local_run() -> None:
    patients, years, seed = BLOCK_SIZE + 700, 1.5, 21  # two blocks, the last one short
    local = run_fleet(patients, years, seed)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        seen: list[tuple[int, int]] = []
        remote = run_fleet_on_dask(
            client, patients, years, seed, progress=lambda d, t: seen.append((d, t))
        )
    for name in ("refills", "dry_events", "no_drug_days", "delivered_volume", "first_eri_day"):
        assert np.array_equal(getattr(local, name), getattr(remote, name), equal_nan=True), name
    assert np.array_equal(local.refills_by_month, remote.refills_by_month)
    assert json.dumps(summarise(local)) == json.dumps(summarise(remote))
    assert seen[-1] == (2, 2)
