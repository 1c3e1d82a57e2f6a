"""`thecal demo`: the whole system on one machine, for a newcomer to click through.

    thecal demo                   # start (or continue) the demo, then open the printed address
    thecal demo --speed 600       # 1 real minute = 10 simulated hours
    thecal demo --fresh           # start over: a newly seeded clinic and new pumps

It serves the clinic (web pages and JSON API) on a SQLite demo clinic whose implanted
patients have pump twins running in accelerated simulated time, reachable by the
server's clinician programmer (`thecal.web.demo_system`). Stop it with Ctrl-C or
SIGTERM: the pump twins are saved first, and the next start continues.

The demo lives in `--dir`, by default $THECAL_DEMO_DIR, else the user's data directory
(`thecal/demo` under $XDG_DATA_HOME or ~/.local/share on Linux, ~/Library/Application
Support on macOS, %LOCALAPPDATA% on Windows).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from thecal.cli.output import console, emit_json, user_errors

__all__ = ["default_demo_dir", "demo", "speed_text"]

DIRECTORY_VARIABLE = "THECAL_DEMO_DIR"


def default_demo_dir() -> Path:
    """$THECAL_DEMO_DIR, else `thecal/demo` in the user's data directory (never the
    repository: the demo keeps private keys and device secrets)."""
    chosen = os.environ.get(DIRECTORY_VARIABLE)
    if chosen:
        return Path(chosen)
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "thecal" / "demo"


def speed_text(speed: float) -> str:
    """How fast simulated time runs, in words: 60 -> "1 real minute = 1 simulated hour"."""
    if speed == 1:
        return "real time"
    minutes = speed  # simulated minutes per real minute
    if minutes % 60 == 0:
        hours = int(minutes // 60)
        return f"1 real minute = {hours} simulated hour{'s' if hours != 1 else ''}"
    if minutes == int(minutes) and minutes > 1:
        return f"1 real minute = {int(minutes)} simulated minutes"
    return f"simulated time runs {speed:g} times as fast as real time"


def _bind(host: str, port: int) -> socket.socket:
    """The web server's listening socket, bound before anything else starts, so a busy
    port is one clear line instead of a traceback after the demo has started."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ValueError(f"--host: cannot listen on {host!r} ({error.strerror})") from None
    sock = socket.socket(family, kind)
    if os.name != "nt":  # a just-stopped demo's port is free again at once
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise ValueError(
            f"cannot listen on {host}:{port} ({reason}); is another demo or server running "
            "there? Choose another port with --port"
        ) from None
    sock.listen(128)  # early visitors wait in the queue until the server takes them
    return sock


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _report(system: Any, url: str, speed: float) -> dict[str, Any]:
    from thecal.clinic.demo import DEMO_NOTES, DEMO_PASSWORDS
    from thecal.web.demo_system import PAIRING_WINDOW

    return {
        "url": url,
        "directory": str(system.directory),
        "first_start": system.first_start,
        "speed": speed,
        "speed_text": speed_text(speed),
        "clinic_time": system.clock.now(),
        "pairing_window_hours": PAIRING_WINDOW.total_seconds() / 3600,
        "accounts": [
            {"username": name, "role": role, "password": password}
            for name, (role, password) in DEMO_PASSWORDS.items()
        ],
        "notes": [*DEMO_NOTES, *system.skipped],
        "pumps": [
            {"serial": p.serial, "model": p.model, "patient": p.label, "address": p.address}
            for p in system.station.pumps
        ],
    }


def _print_report(report: dict[str, Any]) -> None:
    lines = [
        "thecal demo: a simulated clinic, not a medical device; never for real patients.",
        "",
        f"  open     {report['url']}",
        f"  time     simulated: {report['speed_text']} (clinic and pumps alike); "
        f"now {report['clinic_time']:%Y-%m-%d %H:%M} {report['clinic_time']:%Z}",
        f"  pumps    {len(report['pumps'])} pump twins running on this machine, pairing open "
        f"for {report['pairing_window_hours']:g} real hours (the programmer has their cards)",
        f"  data     {report['directory']}",
        "",
        "  sign in with a demo account:",
    ]
    lines += [
        f"    {a['username']:14} {a['password']:26} ({a['role']})" for a in report["accounts"]
    ]
    lines += ["", "  to look at:"]
    lines += [f"    - {note}" for note in report["notes"]]
    lines += [
        "",
        "  stop     Ctrl-C (pump twins are saved; `thecal demo` again continues where the "
        "clock has got to, `--fresh` starts over)",
    ]
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def demo(
    directory: Path = typer.Option(
        None,
        "--dir",
        help="The demo's directory (created on first start); default $THECAL_DEMO_DIR, "
        "else thecal/demo in your user data directory.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to serve the clinic on (the pumps stay local)."
    ),
    port: int = typer.Option(8000, "--port", help="Port to serve the clinic on (0: any)."),
    speed: float = typer.Option(
        60.0, "--speed", help="Simulated time runs this many times faster (60: 1 min = 1 h)."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Delete the demo in --dir first and seed a new one."
    ),
    open_browser: bool = typer.Option(
        False, "--open", help="Open the address in your web browser once serving."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    json_out: bool = typer.Option(
        False, "--json", help="Print the start-up report as one JSON object."
    ),
) -> None:
    """Start the demo clinic with live pump twins in accelerated time, and serve it."""
    import uvicorn

    from thecal.cli.clinic import _settings
    from thecal.web import create_web_app
    from thecal.web.demo_system import DemoSystem, wipe_demo_directory

    with user_errors():
        if not speed > 0:
            raise ValueError("--speed: must be more than zero")
        folder = directory or default_demo_dir()
        sock = _bind(host, port)
    try:
        with user_errors():
            if fresh and wipe_demo_directory(folder):
                console.print(f"deleted the demo in {folder}", markup=False, highlight=False)
            if not (folder / "demo.json").is_file() and not json_out:
                console.print(
                    f"seeding the demo clinic in {folder} (first start, a few seconds) ...",
                    markup=False,
                    highlight=False,
                )
            system = DemoSystem.open(
                folder,
                speed=speed,
                start=datetime.now(UTC).replace(microsecond=0),
                settings=_settings(None, None, None),
            )
    except BaseException:
        sock.close()
        raise
    with system:
        url = _address(sock)
        report = _report(system, url, speed)
        if json_out:
            emit_json(report)
        else:
            _print_report(report)
        sys.stdout.flush()
        config = uvicorn.Config(
            create_web_app(system.clinic, system.station),
            log_level=log_level,
            access_log=False,
        )
        server = uvicorn.Server(config)

        def _stop(signum: int, frame: FrameType | None) -> None:
            server.should_exit = True

        # uvicorn restores the handlers it found and re-raises the signal that stopped
        # it; ours swallow it, so the `with` block ends normally and saves the twins.
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        if open_browser:
            webbrowser.open(url)
        server.run(sockets=[sock])
    if not json_out:
        console.print("demo stopped; pump twins saved", markup=False, highlight=False)
