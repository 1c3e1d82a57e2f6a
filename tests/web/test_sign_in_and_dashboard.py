"""Signing in, the dashboard, and the defences every page shares (browser and HTTP)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.support import LiveClinic, sign_in


def test_a_page_needs_sign_in_and_returns_there_afterwards(page: Page) -> None:
    page.goto("/?focus=refills")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("Username").fill("dr.hale")
    page.get_by_label("Password").fill("demo-clinician-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/\?focus=refills$"))


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(page: Page) -> None:
    page.goto("/sign-in")
    page.get_by_label("Username").fill("dr.hale")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("unknown username or wrong password")
    expect(page.get_by_label("Username")).to_have_value("dr.hale")


def test_dashboard_lists_the_overdue_baclofen_refill_first_and_flags_it_high_risk(
    page: Page,
) -> None:
    sign_in(page, "nurse.okafor")
    refills = page.get_by_role("region", name=re.compile("Refills due"))
    first_row = refills.get_by_role("row").nth(1)
    expect(first_row).to_contain_text("Larsen, Henrik")
    expect(first_row).to_contain_text("high risk")
    expect(first_row).to_contain_text("overdue")


def test_dashboard_shows_the_refill_discrepancy_and_the_pump_at_eri(page: Page) -> None:
    sign_in(page, "dr.hale")
    discrepancies = page.get_by_role("region", name=re.compile("discrepancies"))
    expect(discrepancies).to_contain_text("Haddad, Amira")
    batteries = page.get_by_role("region", name=re.compile("Batteries"))
    expect(batteries).to_contain_text("Price, Owen")


def test_signing_out_ends_the_session_for_every_page(page: Page) -> None:
    sign_in(page, "dr.hale")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/sign-in"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2F|/sign-in\?next=/"))


def test_sign_in_works_from_the_keyboard_alone(page: Page) -> None:
    page.goto("/sign-in")
    page.keyboard.type("dr.hale")  # the username field has focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type("demo-clinician-password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Dashboard"))).to_be_visible()


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    live: LiveClinic,
) -> None:
    with httpx.Client(base_url=live.url) as client:
        client.get("/sign-in")
        answer = client.post(
            "/sign-in", data={"username": "dr.hale", "password": "demo-clinician-password"}
        )
    assert answer.status_code == 403
    assert "security token" in answer.text
    assert "thecal_session" not in answer.cookies


def test_an_api_write_riding_on_the_session_cookie_needs_the_csrf_header(
    live: LiveClinic,
) -> None:
    with httpx.Client(base_url=live.url) as client:
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        client.post(
            "/sign-in",
            data={"username": "admin", "password": "demo-admin-password",
                  "csrf_token": token.group(1)},
        )  # fmt: skip
        assert "thecal_session" in client.cookies
        body = {"username": "x.y", "display_name": "X", "role": "nurse", "password": "p" * 12}
        refused = client.post("/api/v1/users", json=body)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_token_missing"
        allowed = client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": token.group(1)})
        assert allowed.status_code == 201, allowed.text


def test_pages_carry_security_headers_and_load_no_outside_resources(live: LiveClinic) -> None:
    answer = httpx.get(f"{live.url}/sign-in")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r'(src|href)="https?://', answer.text)


def test_an_unknown_page_is_a_readable_404_and_the_api_keeps_json(live: LiveClinic) -> None:
    page = httpx.get(f"{live.url}/no-such-page")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    api = httpx.get(f"{live.url}/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_to_another_site(live: LiveClinic, target: str) -> None:
    with httpx.Client(base_url=live.url) as client:
        form = client.get("/sign-in", params={"next": target})
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        answer = client.post(
            "/sign-in",
            data={"username": "dr.hale", "password": "demo-clinician-password",
                  "next": target, "csrf_token": token.group(1)},
        )  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


def test_the_sign_in_page_tells_a_throttled_user_to_wait(live: LiveClinic) -> None:
    with httpx.Client(base_url=live.url) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
        assert token is not None
        data = {"username": "dr.hale", "password": "wrong", "csrf_token": token.group(1)}
        for _ in range(live.clinic.settings.sign_in_attempts):
            assert client.post("/sign-in", data=data).status_code == 401
        answer = client.post("/sign-in", data={**data, "password": "demo-clinician-password"})
    assert answer.status_code == 429
    assert "too many refused sign-ins" in answer.text
