"""Shared fixtures for the science tests: small, fast, deterministic."""

from __future__ import annotations

import dataclasses

import pytest

from thecal.science.parameters import DrugTransport, drug_transport


@pytest.fixture
def morphine() -> DrugTransport:
    return drug_transport("morphine")


@pytest.fixture
def plain_drug() -> DrugTransport:
    """A drug with a round loss rate and no molecular diffusion (for exact theory)."""
    return dataclasses.replace(
        drug_transport("morphine"), molecular_diffusivity_cm2_s=0.0, loss_rate_per_s=1e-4
    )
