"""The JSON API: sign-in with expiring sessions, role checks on every route, one
machine-readable error body, optimistic locking and idempotent visit creation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.clinic.support import (
    BACLOFEN_400,
    PASSWORD,
    SYSTEM,
    add_patient,
    add_user,
    filled_baclofen_pump,
    login,
)
from thecal.clinic.access import Role
from thecal.clinic.service import Clinic, FixedClock

PUBLIC = {"/api/v1/health", "/api/v1/auth/login"}


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "field", "accepted", "details"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_health_answers_without_signing_in(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok", "database": "ok"}


def test_a_wrong_password_gets_the_same_answer_as_an_unknown_user(
    clinic: Clinic, client: TestClient
) -> None:
    add_user(clinic, "nurse", Role.NURSE)
    wrong = client.post("/api/v1/auth/login", json={"username": "nurse", "password": "nope"})
    nobody = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == nobody.status_code == 401
    assert error_of(wrong) == error_of(nobody)


def test_a_session_expires(clinic: Clinic, client: TestClient, clock: FixedClock) -> None:
    add_user(clinic, "nurse", Role.NURSE)
    headers = login(client, "nurse")
    assert client.get("/api/v1/auth/me", headers=headers).json()["role"] == "nurse"
    clock.advance(clinic.settings.session_lifetime + timedelta(seconds=1))
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "session_expired"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_signed_out_token_stops_working(clinic: Clinic, client: TestClient) -> None:
    add_user(clinic, "nurse", Role.NURSE)
    headers = login(client, "nurse")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    assert error_of(client.get("/api/v1/auth/me", headers=headers))["code"] == "session_revoked"


def test_a_deactivated_user_is_signed_out_everywhere(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    user = add_user(clinic, "locum", Role.CLINICIAN)
    headers = login(client, "locum")
    change = {"version": user.version, "active": False, "reason": "contract ended"}
    assert (
        client.patch(
            f"/api/v1/users/{user.id}", json=change, headers=staff["administrator"]
        ).status_code
        == 200
    )
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def _operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), re.sub(r"\{[a-z_]+\}", "1", path))
        for path, operations in paths.items()
        if path not in PUBLIC
        for method in operations
    ]


def test_every_route_but_health_and_sign_in_needs_a_session(client: TestClient) -> None:
    operations = _operations(client)
    assert len(operations) >= 35
    for method, url in operations:
        response = client.request(method, url, json={})
        assert response.status_code == 401, (method, url, response.text)
        assert error_of(response)["code"] == "not_authenticated"


ESCAPES = [
    # (who, method, path, body): each must be refused with 403.
    ("nurse", "POST", "/api/v1/implants/1/prescriptions", {"prescription": BACLOFEN_400}),
    ("pharmacist", "POST", "/api/v1/implants/1/refills",
     {"drug": "baclofen", "concentration": "500 mcg/mL", "lot": "L", "volume_added": "1 mL"}),
    ("pharmacist", "PATCH", "/api/v1/patients/1", {"version": 1, "note": "x"}),
    ("administrator", "GET", "/api/v1/patients/1", None),
    ("administrator", "GET", "/api/v1/dashboard", None),
    ("clinician", "GET", "/api/v1/users", None),
    ("clinician", "GET", "/api/v1/audit/verify", None),
    ("nurse", "POST", "/api/v1/patients/1/screenings",
     {"conservative_therapies_tried": True, "no_other_surgical_option": True,
      "no_untreated_addiction": True, "no_infection": True, "body_size_adequate": True,
      "implant_depth_adequate": True, "psychological_evaluation": "favourable"}),
    ("patient", "GET", "/api/v1/patients", None),
    ("patient", "GET", "/api/v1/patients/2", None),
    ("patient", "GET", "/api/v1/patients/2/page", None),
    ("patient", "GET", "/api/v1/patients/2/fhir", None),
    ("patient", "POST", "/api/v1/patients/2/pain-assessments", {"score": 3}),
    ("patient", "GET", "/api/v1/implants/2", None),
    ("patient", "GET", "/api/v1/worklists/refills-due", None),
    ("patient", "POST", "/api/v1/patients/1/appointments",
     {"kind": "follow_up", "starts_at": "2026-02-01T09:00:00+00:00"}),
    ("patient", "POST", "/api/v1/implants/1/refills",
     {"drug": "baclofen", "concentration": "500 mcg/mL", "lot": "L", "volume_added": "1 mL"}),
]  # fmt: skip


@pytest.fixture
def two_patients(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    filled_baclofen_pump(clinic, "P-1")
    filled_baclofen_pump(clinic, "P-2")
    add_user(clinic, "patient", Role.PATIENT, patient_id=1)
    return {**staff, "patient": login(client, "patient")}


@pytest.mark.parametrize(("who", "method", "path", "body"), ESCAPES)
def test_role_escape_attempts_are_refused(
    client: TestClient,
    two_patients: dict[str, dict[str, str]],
    who: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    response = client.request(method, path, json=body, headers=two_patients[who])
    assert response.status_code == 403, response.text
    assert error_of(response)["code"] == "forbidden"


def test_a_patient_sees_their_own_record_and_keeps_their_pain_diary(
    client: TestClient, two_patients: dict[str, dict[str, str]]
) -> None:
    headers = two_patients["patient"]
    page = client.get("/api/v1/patients/1/page", headers=headers)
    assert page.status_code == 200
    assert page.json()["implant"]["schedule"]["high_risk"] is True
    entry = client.post("/api/v1/patients/1/pain-assessments", json={"score": 3}, headers=headers)
    assert entry.status_code == 201


def test_bad_input_names_the_field_and_what_is_accepted(
    client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    body = {"mrn": "X-1", "given_name": "A", "family_name": "B", "birth_date": "1970-01-01",
            "sex": "yes", "diagnosis": "cancer_pain"}  # fmt: skip
    response = client.post("/api/v1/patients", json=body, headers=staff["clinician"])
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid", "sex")
    assert "female" in error["accepted"]


def test_a_dose_in_the_wrong_unit_is_refused_with_the_accepted_units(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    filled_baclofen_pump(clinic)
    proposal = {"prescription": {**BACLOFEN_400, "rate": "400 mcg/mL"}}
    response = client.post(
        "/api/v1/implants/1/prescriptions", json=proposal, headers=staff["clinician"]
    )
    error = error_of(response)
    assert (response.status_code, error["code"], error["field"]) == (
        422, "invalid_prescription", "rate"
    )  # fmt: skip
    assert "is a concentration, not a dose rate" in error["message"]


def test_a_refused_prescription_returns_every_verdict(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    filled_baclofen_pump(clinic)
    proposal = {"prescription": {**BACLOFEN_400, "rate": "2500 mcg/day"}}
    response = client.post(
        "/api/v1/implants/1/prescriptions", json=proposal, headers=staff["clinician"]
    )
    error = error_of(response)
    assert (response.status_code, error["code"]) == (422, "refused_by_safety_rules")
    assert {"rule", "outcome", "message", "value", "bound", "source"} <= set(error["details"][0])


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/patients/999", 404, "not_found"),
        ("GET", "/api/v1/no-such-thing", 404, "not_found"),
        ("DELETE", "/api/v1/patients/1", 405, "method_not_allowed"),
    ],
)
def test_missing_records_and_routes_get_the_error_body(
    client: TestClient, staff: dict[str, dict[str, str]], method: str, path: str, status: int,
    code: str,
) -> None:  # fmt: skip
    response = client.request(method, path, headers=staff["clinician"])
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_a_stale_write_is_a_409_and_changes_nothing(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    add_patient(clinic)
    nurse, clinician = staff["nurse"], staff["clinician"]
    first = client.patch("/api/v1/patients/1", json={"version": 1, "weight_kg": "70"},
                         headers=nurse)  # fmt: skip
    second = client.patch("/api/v1/patients/1", json={"version": 1, "weight_kg": "90"},
                          headers=clinician)  # fmt: skip
    assert (first.status_code, second.status_code) == (200, 409)
    assert error_of(second)["code"] == "stale_version"
    assert client.get("/api/v1/patients/1", headers=nurse).json()["weight_kg"] == "70"


def test_a_retried_refill_visit_with_its_key_is_created_once(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]], clock: FixedClock
) -> None:
    filled_baclofen_pump(clinic)
    clock.advance(timedelta(days=10))
    body = {"drug": "baclofen", "concentration": "500 mcg/mL", "lot": "L-9",
            "volume_added": "20 mL", "aspirated_volume": "12 mL"}  # fmt: skip
    nurse = login(client, "nurse")  # a fresh session: ten days have passed
    headers = {**nurse, "Idempotency-Key": "refill-2026-01-15-a"}
    first = client.post("/api/v1/implants/1/refills", json=body, headers=headers)
    again = client.post("/api/v1/implants/1/refills", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    listed = client.get("/api/v1/implants/1/refills", headers=nurse).json()
    assert len(listed) == 2


def test_an_aspirate_larger_than_the_reservoir_is_a_422_naming_the_field_and_the_bound(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]], clock: FixedClock
) -> None:
    filled_baclofen_pump(clinic)
    clock.advance(timedelta(days=10))
    body = {"drug": "baclofen", "concentration": "500 mcg/mL", "lot": "L-9",
            "volume_added": "20 mL", "aspirated_volume": "25 mL"}  # fmt: skip
    nurse = login(client, "nurse")
    answer = client.post("/api/v1/implants/1/refills", json=body, headers=nurse)
    assert answer.status_code == 422
    error = error_of(answer)
    assert (error["code"], error["field"]) == ("aspirate_over_capacity", "aspirated_volume")
    assert error["accepted"] == "from 0 mL to at most 20 mL"
    assert len(client.get("/api/v1/implants/1/refills", headers=nurse).json()) == 1


def test_the_openapi_document_describes_the_error_body_on_every_operation(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "403", "422", "503"):
                assert status in responses, (method, path, status)
    assert "ErrorBody" in schema["components"]["schemas"]


def test_signing_in_uses_the_stored_hash_and_upgrades_cheap_parameters(
    clinic: Clinic, client: TestClient
) -> None:
    add_user(clinic, "nurse", Role.NURSE)
    with clinic.read(SYSTEM) as call:
        from thecal.clinic.storage.models import User

        stored = call.session.query(User).one().password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_the_body_map_and_its_mapping_are_served_to_a_patient(
    client: TestClient, two_patients: dict[str, dict[str, str]]
) -> None:
    headers = two_patients["patient"]
    regions = client.get("/api/v1/body-map/regions", headers=headers).json()
    assert {"front", "back"} == {region["view"] for region in regions}
    mapped = client.post(
        "/api/v1/body-map/mapping", json={"regions": ["back.low_back"]}, headers=headers
    )
    assert mapped.status_code == 200
    assert mapped.json()["suggested_tip_level"]


def test_a_time_without_an_offset_is_refused(
    clinic: Clinic, client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    add_patient(clinic)
    body = {"score": 4, "assessed_at": "2026-01-04T08:00:00"}
    response = client.post("/api/v1/patients/1/pain-assessments", json=body, headers=staff["nurse"])
    assert response.status_code == 422
    assert error_of(response)["field"] == "assessed_at"
