"""Patients: the list and search, the new-patient form, the patient page (browser and HTTP)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import Page, expect

from tests.web.support import PASSWORDS, LiveClinic, sign_in
from thecal.clinic.access import Actor
from thecal.clinic.service import patients


def _patient_id(live: LiveClinic, family_name: str) -> int:
    with live.clinic.read(Actor.system("test")) as call:
        found = patients.list_patients(call, family_name)
    return found.items[0].id


@contextmanager
def signed_in_client(live: LiveClinic, username: str) -> Iterator[httpx.Client]:
    """An HTTP client holding a session cookie, signed in through the real form."""
    with httpx.Client(base_url=live.url) as client:
        form = client.get("/sign-in")
        client.post(
            "/sign-in",
            data={"username": username, "password": PASSWORDS[username],
                  "csrf_token": csrf_of(form.text)},
        )  # fmt: skip
        assert "thecal_session" in client.cookies
        yield client


def csrf_of(html: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    return token.group(1)


def test_search_finds_a_patient_by_name_and_opens_their_page(page: Page) -> None:
    sign_in(page, "nurse.okafor")
    page.goto("/patients")
    page.get_by_label("Search by name or MRN").fill("lars")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_role("region", name=re.compile("Patients matching")).get_by_role("row")
    expect(rows).to_have_count(2)  # header and Larsen
    page.get_by_role("link", name="Larsen, Henrik").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Larsen, Henrik")
    expect(page.get_by_role("heading", level=1)).to_contain_text("high risk")


def test_every_demo_patient_page_renders_with_its_three_charts(live: LiveClinic) -> None:
    with live.clinic.read(Actor.system("test")) as call:
        ids = [p.id for p in patients.list_patients(call).items]
    with signed_in_client(live, "pharm.lind") as client:
        for patient_id in ids:
            answer = client.get(f"/patients/{patient_id}")
            assert answer.status_code == 200, (patient_id, answer.text[:500])
            assert answer.text.count('<figure class="chart-figure"') == 3
