"""Helpers the web tests share: the demo moment, the live server's handle, signing in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from playwright.sync_api import Page

from thecal.clinic import demo
from thecal.clinic.access import Actor
from thecal.clinic.service import Clinic, FixedClock, implants, patients

DEMO_NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
"""The moment the demo clinic is seeded at, and the clinic clock during every test."""

PASSWORDS = {name: password for name, (_, password) in demo.DEMO_PASSWORDS.items()}


@dataclass
class LiveClinic:
    """The application served on 127.0.0.1, and the clinic behind it (for checking what a
    page did, through the service, as another part of the clinic would see it)."""

    url: str
    clinic: Clinic
    clock: FixedClock


def sign_in(page: Page, username: str) -> None:
    """Sign in through the real sign-in form as one of the demo users."""
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


SYSTEM = Actor.system("test")


def patient_id_of(live: LiveClinic, family_name: str) -> int:
    """The id of the demo patient with this family name."""
    with live.clinic.read(SYSTEM) as call:
        return patients.list_patients(call, family_name).items[0].id


def implant_id_of(live: LiveClinic, family_name: str) -> int:
    """The id of that patient's active implant."""
    with live.clinic.read(SYSTEM) as call:
        implant = implants.active_implant(call, patient_id_of(live, family_name))
    assert implant is not None
    return int(implant.id)


def csrf_of(html: str) -> str:
    """The CSRF token a page carries in its forms."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    return token.group(1)


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
