"""Administration: accounts and the audit chain, for the administrator only."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.support import LiveClinic, sign_in
from thecal.clinic.access import Actor
from thecal.clinic.service import users


def _accounts(live: LiveClinic) -> dict[str, users.UserView]:
    with live.clinic.read(Actor.system("test")) as call:
        return {account.username: account for account in users.list_users(call)}


def test_administrator_adds_a_nurse_who_can_then_sign_in(page: Page, live: LiveClinic) -> None:
    sign_in(page, "admin")
    page.goto("/admin")
    page.get_by_label("Username").fill("nurse.berg")
    page.get_by_label("Full name").fill("Ida Berg")
    page.get_by_label("Role").select_option("nurse")
    page.get_by_label("Initial password").fill("a long enough password")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status").filter(has_text="Added")).to_contain_text("nurse.berg")
    assert _accounts(live)["nurse.berg"].role.value == "nurse"


def test_a_bad_username_is_named_and_the_other_entries_are_kept(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/admin")
    page.get_by_label("Username").fill("Not Valid!")
    page.get_by_label("Full name").fill("Ida Berg")
    page.get_by_label("Initial password").fill("a long enough password")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#user-username-error")).to_contain_text("pattern")
    expect(page.get_by_label("Full name")).to_have_value("Ida Berg")
    expect(page.get_by_label("Username")).to_have_value("Not Valid!")


def test_a_deactivated_user_can_no_longer_sign_in(page: Page, live: LiveClinic) -> None:
    sign_in(page, "admin")
    page.goto("/admin")
    page.get_by_role("button", name="Deactivate pharm.lind").click()
    expect(page.get_by_role("button", name="Reactivate pharm.lind")).to_be_visible()
    assert not _accounts(live)["pharm.lind"].active
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill("pharm.lind")
    page.get_by_label("Password").fill("demo-pharmacist-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown username or wrong password")


def test_the_audit_chain_of_the_demo_clinic_verifies_intact(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/admin")
    page.get_by_role("button", name="Verify the audit chain").click()
    expect(page.get_by_role("status").filter(has_text="chain")).to_contain_text("intact")


def test_a_nurse_may_not_open_the_administration_page(page: Page) -> None:
    sign_in(page, "nurse.okafor")
    response = page.goto("/admin")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Not allowed"))
