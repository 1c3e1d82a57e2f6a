"""Screenshots of the main pages for the documentation, taken by the system Chromium from
the real application over a fresh demo system (clinic and pump twins)::

    python -m thecal.web.screenshots docs/screenshots

Needs Playwright (a development dependency) and Chromium on the PATH.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SHOTS", "Shot", "take_screenshots"]


@dataclass(frozen=True)
class Shot:
    """One screenshot: the page at `path` as `user` ("" signed out), after pressing the
    buttons named in `presses`, in order."""

    file: str
    user: str
    path: str
    presses: tuple[str, ...] = ()


SHOTS: tuple[Shot, ...] = (
    Shot("sign-in.png", "", "/sign-in"),
    Shot("dashboard.png", "dr.hale", "/"),
    Shot("patients.png", "nurse.okafor", "/patients"),
    Shot("patient-record.png", "dr.hale", "/patients/7"),
    Shot("pain-map.png", "dr.hale", "/patients/7/pain"),
    Shot("candidacy.png", "dr.hale", "/patients/12/candidacy"),
    Shot("implant-wizard.png", "dr.hale", "/patients/12/implant"),
    Shot("prescription-editor.png", "dr.hale", "/implants/7/prescription"),
    Shot("refill-wizard.png", "nurse.okafor", "/implants/7/refill"),
    Shot("pumps-in-reach.png", "dr.hale", "/pump"),
    Shot("pump-session.png", "dr.hale", "/pump?implant=7", ("Pair", "Interrogate")),
    Shot("patient-own-view.png", "pat.moreau", "/me"),
    Shot("admin.png", "admin", "/admin"),
)
"""Which page to show as whom (the demo clinic's ids are the same on every seeding)."""

DEMO_MOMENT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def take_screenshots(folder: Path, width: int = 1180, height: int = 820) -> list[Path]:
    """Start the demo system (clinic and pump twins) in a temporary directory with its
    clock stopped at `DEMO_MOMENT`, serve it, and save one PNG per page of `SHOTS`."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from thecal.clinic import demo
    from thecal.web import create_web_app
    from thecal.web.demo_system import DemoSystem

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("no Chromium on the PATH (apt-get install -y chromium)")
    if demo.default_examples_dir() is None:
        raise SystemExit("run this from a thecal checkout (it needs examples/)")
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    stopped_wall = time.time()  # the same pictures whenever they are taken
    with (
        tempfile.TemporaryDirectory() as scratch,
        DemoSystem.open(
            Path(scratch) / "demo", start=DEMO_MOMENT, wall=lambda: stopped_wall
        ) as system,
    ):
        app = create_web_app(system.clinic, system.station)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        passwords = {name: password for name, (_, password) in demo.DEMO_PASSWORDS.items()}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=browser_path)
                for shot in SHOTS:
                    context = browser.new_context(
                        base_url=f"http://127.0.0.1:{port}",
                        viewport={"width": width, "height": height},
                    )
                    tab = context.new_page()
                    if shot.user:
                        tab.goto("/sign-in")
                        tab.get_by_label("Username").fill(shot.user)
                        tab.get_by_label("Password").fill(passwords[shot.user])
                        tab.get_by_role("button", name="Sign in").click()
                        tab.wait_for_load_state()
                    answer = tab.goto(shot.path)
                    if answer is None or answer.status >= 400:
                        raise SystemExit(
                            f"{shot.path} answered {answer.status if answer else 'nothing'}"
                        )
                    for button in shot.presses:
                        tab.get_by_role("button", name=button, exact=True).click()
                        tab.wait_for_load_state()
                    tab.wait_for_load_state("networkidle")
                    target = folder / shot.file
                    tab.screenshot(path=str(target), full_page=True)
                    saved.append(target)
                    context.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    return saved


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    for path in take_screenshots(out):
        print(path)
