"""fleet.toml: every number says what it is and where it comes from."""

from __future__ import annotations

from thecal.science.fleet_parameters import (
    KINDS,
    fleet_parameter_table,
    fleet_parameters,
    fleet_sources,
)


def test_every_parameter_has_a_kind_and_published_ones_a_source() -> None:
    table = fleet_parameter_table()
    assert len(table) > 50
    sources = fleet_sources()
    for parameter in table:
        assert parameter.kind in KINDS, parameter.name
        if parameter.kind in ("published", "derived"):
            assert parameter.source in sources, parameter.name
            assert {"citation", "url"} <= set(sources[parameter.source])


def test_schedule_templates_deliver_exactly_the_daily_dose() -> None:
    for template in fleet_parameters().schedules:
        starts = [s.seconds for s in template.starts] + [86_400]
        day = sum(
            m * (end - start)
            for m, start, end in zip(template.multipliers(), starts, starts[1:], strict=False)
        )
        assert day == 86_400, template.id


def test_dose_bounds_stay_within_the_library_soft_maximum() -> None:
    from thecal.therapy.library import default_library

    library = default_library()
    for mix in fleet_parameters().drugs:
        entry = library.get(mix.id)
        assert mix.dose_max <= entry.daily_dose_soft_max.value.amount, mix.id
        for concentration in mix.concentrations:
            assert entry.concentration_entry(concentration) is not None, (mix.id, concentration)
