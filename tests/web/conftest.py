"""Fixtures for the web suite: the whole application served over real HTTP on a demo
clinic database, and the system Chromium driven by Playwright.

Each test gets its own copy of a seeded SQLite database and its own server, so tests
never see each other's changes; the demo is seeded once per worker (a few seconds).
The clinic clock is fixed at the seed moment, so "overdue" and "due" never drift.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from tests.clinic.support import SETTINGS
from tests.web.support import DEMO_NOW, LiveClinic
from thecal.clinic import demo
from thecal.clinic.service import Clinic, FixedClock
from thecal.clinic.storage import migrate
from thecal.clinic.storage.database import Database
from thecal.web import create_web_app
from thecal.web.pumps import ProgrammerStation


def chromium_path() -> str | None:
    """The system Chromium (Playwright's own browser download does not work here)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-template") / "clinic.sqlite"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    clinic = Clinic(database, SETTINGS, FixedClock(DEMO_NOW))
    examples = demo.default_examples_dir()
    assert examples is not None, "the web tests run from a checkout with examples/"
    demo.seed_demo(clinic, examples, seed=7, now=DEMO_NOW)
    database.dispose()
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that opens a browser tab is marked `browser` (select with -m)."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_clinic(
    template: Path,
    folder: Path,
    station_for: Callable[[Clinic], ProgrammerStation | None] = lambda clinic: None,
) -> Iterator[LiveClinic]:
    """A copy of the demo clinic in `folder`, served over HTTP until the block ends; the
    application's programmer station (if any) is built from the clinic by `station_for`."""
    path = folder / "clinic.sqlite"
    shutil.copyfile(template, path)
    database = Database(f"sqlite:///{path}")
    clock = FixedClock(DEMO_NOW)
    clinic = Clinic(database, SETTINGS, clock)
    port = _free_port()
    config = uvicorn.Config(
        create_web_app(clinic, station_for(clinic)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test web server did not start")
        time.sleep(0.01)
    try:
        yield LiveClinic(f"http://127.0.0.1:{port}", clinic, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()


@pytest.fixture
def live(demo_template: Path, tmp_path: Path) -> Iterator[LiveClinic]:
    with live_clinic(demo_template, tmp_path) as served:
        yield served


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("THECAL_REQUIRE_BROWSER"):
            pytest.fail("THECAL_REQUIRE_BROWSER is set but no Chromium is installed")
        pytest.skip("no system Chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live: LiveClinic) -> Iterator[Page]:
    """A fresh browser tab (its own cookies) on the live clinic, tablet-sized."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1180, "height": 820})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # A page answered 4xx is expected (a refused form, a 404 page); a script, stylesheet or
    # htmx request that fails is not, unless the test says so by looking at it.
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 500
            or (
                response.status >= 400
                and response.request.resource_type in {"script", "stylesheet", "image"}
            )
            else None
        ),
    )
    yield tab
    context.close()
    assert not errors, f"the page raised script or console errors: {errors}"
