"""Schemathesis against the OpenAPI document, in process: generated requests (valid and
invalid) never cause a server error, and every response matches the documented status
codes, content type and schema. Bounded examples per operation keep it fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.clinic.conftest import make_test_database
from tests.clinic.support import SETTINGS, T0, add_user, filled_baclofen_pump, login
from thecal.clinic.access import Role
from thecal.clinic.api import create_app
from thecal.clinic.service import Clinic, FixedClock
from thecal.clinic.storage.database import Database

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


# The OpenAPI document does not depend on the data: the app is built once here, over a
# database it never opens, and the fixture below points it at the test database.
APP = create_app(Clinic(Database("sqlite:///never-opened.sqlite"), SETTINGS))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> dict[str, Any]:
    made = make_test_database("sqlite", tmp_path_factory.mktemp("schema"), sqlite_template, None)
    clinic = Clinic(made.database, SETTINGS, FixedClock(T0))
    filled_baclofen_pump(clinic)  # so that id 1 exists for patients, implants, prescriptions
    add_user(clinic, "clinician", Role.CLINICIAN)
    APP.state.clinic = clinic
    with TestClient(APP) as client:
        headers = login(client, "clinician")
    return {"headers": headers}


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_errors_and_always_answers_as_documented(
    case: Any, served: dict[str, Any]
) -> None:
    case.call_and_validate(headers=served["headers"], checks=CHECKS)
