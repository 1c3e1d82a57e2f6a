"""Password guessing is throttled per username: after too many refusals within the window,
even the right password is refused until the window has passed."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.clinic.support import PASSWORD, add_user
from thecal.clinic.access import Role
from thecal.clinic.service import Clinic, FixedClock

WRONG = "not the password at all"


def _attempt(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    answer = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return answer.status_code, answer.json()


def _exhaust(clinic: Clinic, client: TestClient, username: str) -> None:
    for _ in range(clinic.settings.sign_in_attempts):
        status, _body = _attempt(client, username, WRONG)
        assert status == 401


def test_after_too_many_refusals_even_the_right_password_waits(
    clinic: Clinic, client: TestClient
) -> None:
    add_user(clinic, "nurse.a", Role.NURSE)
    _exhaust(clinic, client, "nurse.a")
    answer = client.post("/api/v1/auth/login", json={"username": "nurse.a", "password": PASSWORD})
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(answer.headers["retry-after"]) <= 15 * 60


def test_the_throttle_lifts_once_the_window_has_passed(
    clinic: Clinic, client: TestClient, clock: FixedClock
) -> None:
    add_user(clinic, "nurse.a", Role.NURSE)
    _exhaust(clinic, client, "nurse.a")
    clock.advance(clinic.settings.sign_in_window + timedelta(seconds=1))
    status, _body = _attempt(client, "nurse.a", PASSWORD)
    assert status == 200


def test_a_successful_sign_in_clears_earlier_refusals(clinic: Clinic, client: TestClient) -> None:
    add_user(clinic, "nurse.a", Role.NURSE)
    for _ in range(clinic.settings.sign_in_attempts - 1):
        assert _attempt(client, "nurse.a", WRONG)[0] == 401
    assert _attempt(client, "nurse.a", PASSWORD)[0] == 200
    for _ in range(clinic.settings.sign_in_attempts - 1):
        assert _attempt(client, "nurse.a", WRONG)[0] == 401
    assert _attempt(client, "nurse.a", PASSWORD)[0] == 200


def test_unknown_usernames_are_throttled_alike_so_the_throttle_reveals_nothing(
    clinic: Clinic, client: TestClient
) -> None:
    _exhaust(clinic, client, "nobody.here")
    status, body = _attempt(client, "nobody.here", WRONG)
    assert status == 429
    assert body["error"]["code"] == "too_many_attempts"


def test_one_users_throttle_does_not_lock_out_another(clinic: Clinic, client: TestClient) -> None:
    add_user(clinic, "nurse.a", Role.NURSE)
    add_user(clinic, "nurse.b", Role.NURSE)
    _exhaust(clinic, client, "nurse.a")
    assert _attempt(client, "nurse.b", PASSWORD)[0] == 200
