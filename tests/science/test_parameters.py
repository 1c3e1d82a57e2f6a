"""The parameter files: every number sourced, drugs found by name, library consistency."""

from __future__ import annotations

import math

import pytest

from thecal.science.parameters import (
    drug_transport,
    model_sources,
    parameter_table,
    transport_drugs,
)
from thecal.therapy.library import default_library


def test_every_parameter_names_its_kind_and_known_sources() -> None:
    rows = parameter_table()
    names = {r.name for r in rows}
    assert {"area_profile", "cranial_volume", "csf_production", "mixing_diffusivity"} <= names
    known = set(model_sources())
    for row in rows:
        assert row.kind in {"published", "derived", "model parameter"}
        assert row.sources and set(row.sources) <= known, row.name


def test_every_drug_states_where_its_half_life_and_effective_level_come_from() -> None:
    for drug in transport_drugs():
        assert drug.half_life_kind in {"published", "model parameter"}
        assert drug.half_life_source and drug.diffusivity_source
        assert drug.loss_rate_per_s > 0 and drug.csf_half_life_h > 0
        if drug.effective_concentration is not None:
            assert drug.effective_basis and "model parameter" in drug.effective_basis


def test_effective_levels_follow_their_stated_arithmetic() -> None:
    # dose / CSF clearance, in microgram/mL
    assert drug_transport("morphine").effective_concentration == pytest.approx(
        200 / (0.22 * 1440), rel=0.01
    )
    assert drug_transport("ziconotide").effective_concentration == pytest.approx(
        2.4 / (0.38 * 1440), rel=0.01
    )
    baclofen_clearance = math.sqrt(0.013 * 0.08) * 1000 / 60  # L/h -> mL/min
    assert drug_transport("baclofen").effective_concentration == pytest.approx(
        300 / (baclofen_clearance * 1440), rel=0.02
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [("Morphine", "morphine"), ("prialt", "ziconotide"), (" Lioresal ", "baclofen"),
     ("tracer", "in111-dtpa")],
)  # fmt: skip
def test_drugs_are_found_by_name_or_alias_in_any_case(name: str, key: str) -> None:
    assert drug_transport(name).key == key


def test_an_unmodelled_drug_is_refused_naming_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="accepted: morphine, hydromorphone, baclofen"):
        drug_transport("fentanyl")


def test_every_modelled_drug_is_in_the_therapy_drug_library() -> None:
    library = default_library()
    for drug in transport_drugs():
        if drug.effective_concentration is not None:  # the tracer is not a drug
            assert library.find(drug.key) is not None, drug.key
