"""Who recorded a decision, and which sources a pain mapping cites: the two lookups the
candidacy and pain-map pages show next to the clinic's records."""

from __future__ import annotations

import pytest

from tests.clinic.support import PASSWORD, SYSTEM
from thecal.clinic.access import Actor, Role
from thecal.clinic.anatomy import cited_sources, map_pain
from thecal.clinic.errors import Forbidden
from thecal.clinic.service import Clinic, users


def _user(clinic: Clinic, username: str, role: Role, patient_id: int | None = None) -> int:
    form = users.UserForm(
        username=username,
        display_name=username.title(),
        role=role,
        password=PASSWORD,
        patient_id=patient_id,
    )
    return clinic.perform(SYSTEM, lambda call: users.create_user(call, form)).id


def test_display_names_name_the_users_asked_for_and_skip_the_system(clinic: Clinic) -> None:
    doctor = _user(clinic, "dr.one", Role.CLINICIAN)
    _user(clinic, "nurse.two", Role.NURSE)
    reader = Actor(doctor, "dr.one", Role.CLINICIAN)
    names = clinic.perform(reader, lambda call: users.display_names(call, [doctor, None]))
    assert names == {doctor: "Dr.One"}


def test_a_role_that_cannot_read_patient_records_cannot_look_up_recorders(
    clinic: Clinic,
) -> None:
    admin = _user(clinic, "admin.one", Role.ADMINISTRATOR)
    actor = Actor(admin, "admin.one", Role.ADMINISTRATOR)
    with pytest.raises(Forbidden):
        clinic.perform(actor, lambda call: users.display_names(call, [admin]))


def test_a_mapping_cites_each_of_its_sources_once_in_its_order() -> None:
    mapping = map_pain(("back.low_back", "front.thigh.left"))
    assert mapping is not None
    cited = cited_sources(mapping.source_ids + mapping.source_ids[:1])
    assert [source.id for source in cited] == list(mapping.source_ids)
    assert all(source.citation for source in cited)


def test_a_source_the_data_no_longer_knows_is_left_out() -> None:
    assert cited_sources(("no-such-source",)) == ()
