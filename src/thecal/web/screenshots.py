"""Screenshots of the main pages for the documentation, taken by the system Chromium from
the real application over a freshly seeded demo clinic::

    python -m thecal.web.screenshots docs/screenshots

Needs Playwright (a development dependency) and Chromium on the PATH.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SHOTS", "take_screenshots"]

SHOTS: list[tuple[str, str, str]] = [
    # (file name, user, path)
    ("sign-in.png", "", "/sign-in"),
    ("dashboard.png", "dr.hale", "/"),
    ("patients.png", "nurse.okafor", "/patients"),
    ("patient-record.png", "dr.hale", "/patients/7"),
    ("pain-map.png", "dr.hale", "/patients/7/pain"),
    ("candidacy.png", "dr.hale", "/patients/12/candidacy"),
    ("prescription-editor.png", "dr.hale", "/implants/7/prescription"),
    ("patient-own-view.png", "pat.moreau", "/me"),
    ("admin.png", "admin", "/admin"),
]
"""Which page to show as whom (the demo clinic's ids are the same on every seeding)."""

DEMO_MOMENT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def take_screenshots(folder: Path, width: int = 1180, height: int = 820) -> list[Path]:
    """Seed a demo clinic in a temporary directory, serve it, and save one PNG per page."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from thecal.clinic import demo
    from thecal.clinic.service import Clinic, FixedClock
    from thecal.clinic.storage import migrate
    from thecal.clinic.storage.database import Database
    from thecal.web import create_web_app

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("no Chromium on the PATH (apt-get install -y chromium)")
    examples = demo.default_examples_dir()
    if examples is None:
        raise SystemExit("run this from a thecal checkout (it needs examples/)")
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        database = Database(f"sqlite:///{Path(scratch) / 'clinic.sqlite'}")
        migrate.upgrade(database)
        clinic = Clinic(database, clock=FixedClock(DEMO_MOMENT))
        demo.seed_demo(clinic, examples, now=DEMO_MOMENT)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_web_app(clinic), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        passwords = {name: password for name, (_, password) in demo.DEMO_PASSWORDS.items()}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=browser_path)
                for name, user, path in SHOTS:
                    context = browser.new_context(
                        base_url=f"http://127.0.0.1:{port}",
                        viewport={"width": width, "height": height},
                    )
                    tab = context.new_page()
                    if user:
                        tab.goto("/sign-in")
                        tab.get_by_label("Username").fill(user)
                        tab.get_by_label("Password").fill(passwords[user])
                        tab.get_by_role("button", name="Sign in").click()
                        tab.wait_for_load_state()
                    answer = tab.goto(path)
                    if answer is None or answer.status >= 400:
                        raise SystemExit(
                            f"{path} answered {answer.status if answer else 'nothing'}"
                        )
                    tab.wait_for_load_state("networkidle")
                    target = folder / name
                    tab.screenshot(path=str(target), full_page=True)
                    saved.append(target)
                    context.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            database.dispose()
    return saved


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    for path in take_screenshots(out):
        print(path)
