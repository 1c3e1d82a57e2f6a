"""Helpers the web tests share: the demo moment, the live server's handle, signing in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from playwright.sync_api import Page

from thecal.clinic import demo
from thecal.clinic.service import Clinic, FixedClock

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
