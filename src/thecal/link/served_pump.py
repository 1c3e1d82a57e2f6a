"""A pump twin served as its own process: state directory, wall clock, TCP.

The edge around the twin (which has no clock and no I/O of its own): it maps wall-clock
time onto the twin's clock (optionally accelerated), keeps the twin and the link state
in one state file replaced atomically after every change, and serves the link endpoint
over TCP. State directory layout::

    state.json      twin snapshot + link state + wall-clock anchor (owner-only)
    card.txt        the implant card: serial, model, device secret, pump public key
    security.jsonl  the security log, hash-chained JSON lines, rotated into
                    security.1.jsonl … (at most 5 MiB in all: `thecal.link.security_file`)
    serving.lock    held (flock) by the process serving the directory: one at a time

A restarted server restores the twin and advances it by the wall-clock time it was
down (scaled by the speed): the implanted pump kept running while its simulator slept.
"""

from __future__ import annotations

import json
import math
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from thecal.link.authority import TrustedAuthority
from thecal.link.events import SecurityEventKind, SecurityLog
from thecal.link.frame import Frame, FrameError
from thecal.link.pump_endpoint import Handled, PumpEndpoint
from thecal.link.pump_state import PumpLinkState
from thecal.link.security_file import SecurityLogFile
from thecal.link.storage import (
    DirectoryLock,
    atomic_write_bytes,
    atomic_write_json,
    private_directory,
    read_json,
    remove_partial_writes,
)
from thecal.link.transports.tcp import ConnectionLimits, TcpPumpServer
from thecal.pump import PumpTwin
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Volume
from thecal.therapy.units import format_quantity, parse_concentration, parse_volume

__all__ = [
    "STATE_FILE",
    "SYRINGE_READING",
    "ImplantSpec",
    "SavedState",
    "ServedPump",
    "WallClock",
    "read_state",
    "syringe_request",
]

STATE_FILE = "state.json"
CARD_FILE = "card.txt"
SYRINGE_SOCKET = "syringe.sock"
SYRINGE_READING = Volume(Fraction(1, 100))
"""A syringe is read to 0.01 mL (truncated: the reading never exceeds what came out)."""


@dataclass
class WallClock:
    """Maps wall-clock seconds onto the twin's clock: twin time = anchor + elapsed × speed."""

    twin_anchor: datetime
    wall_anchor: float
    speed: float = 1.0
    wall: Callable[[], float] = time.time

    def now(self) -> datetime:
        elapsed = max(0.0, self.wall() - self.wall_anchor) * self.speed
        return self.twin_anchor + timedelta(seconds=elapsed)


@dataclass(frozen=True)
class ImplantSpec:
    """What the first start implants (as filled and purged in the operating room).

    A pump that has been in the patient for a while (the demo's twins) starts with the
    prescription programmed at the last visit and the battery already partly used."""

    model: str
    serial: str
    drug: str
    concentration: Concentration
    fill: Volume
    catheter_volume: Volume | None
    primed: bool
    start: datetime
    """The pump's clock at the first start (naive pump-local time)."""
    prescription: Prescription | None = None
    """Already programmed (None: stopped, waiting for its first prescription)."""
    battery_charge: Fraction = Fraction(1)
    """Charge left, a fraction of capacity (1: a new pump)."""


@dataclass(frozen=True)
class SavedState:
    """What `state.json` holds: the twin, the link state and the wall-clock anchor (the
    twin's clock `twin_time` was reached at wall-clock second `wall`, at `speed`)."""

    twin: PumpTwin
    link: PumpLinkState
    twin_time: datetime
    wall: float
    speed: float


def read_state(path: Path) -> SavedState:
    """Read a served pump's state file; `ValueError` naming the file for anything that is
    not a state this program wrote (a doctored or damaged file never half-loads)."""
    data = read_json(path)
    try:
        if not isinstance(data, dict) or data.get("format") != "thecal.served-pump/1":
            raise ValueError("not a served-pump state (format thecal.served-pump/1)")
        anchor = data["clock"]
        wall, speed = float(anchor["wall"]), float(anchor["speed"])
        if not (math.isfinite(wall) and math.isfinite(speed) and speed > 0):
            raise ValueError("the clock anchor is not a finite time and a positive speed")
        return SavedState(
            PumpTwin.restore(data["twin"]),
            PumpLinkState.from_dict(data["link"]),
            datetime.fromisoformat(anchor["twin"]),
            wall,
            speed,
        )
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as error:
        what = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"{path}: not a valid pump state ({what})") from None


class ServedPump:
    """Owns the twin, its link endpoint and its state directory."""

    def __init__(
        self,
        directory: Path,
        twin: PumpTwin,
        link_state: PumpLinkState,
        clock: WallClock,
        first_start: bool,
        lock: DirectoryLock | None = None,
    ) -> None:
        self.directory = private_directory(directory)
        self.directory_lock = lock or DirectoryLock(self.directory)
        self.twin = twin
        self.clock = clock
        self.first_start = first_start
        self.lock = threading.Lock()
        self._log_file = SecurityLogFile(self.directory)
        self.endpoint = PumpEndpoint(
            link_state,
            twin,
            lambda: self.twin.now,
            log=SecurityLog(sink=self._log_file.append, head=self._log_file.head()),
            persist=self.save,
        )
        self.server: TcpPumpServer | None = None
        self.syringe_port: socketserver.UnixStreamServer | None = None
        self._stop = threading.Event()

    # -- creation -----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path,
        implant: ImplantSpec | None,
        speed: float = 1.0,
        wall: Callable[[], float] = time.time,
        clock: WallClock | None = None,
        authorities: tuple[TrustedAuthority, ...] = (),
    ) -> ServedPump:
        """Restore from `directory`, or implant from `implant` if it holds no pump yet.
        `ValueError` when there is neither. `authorities` are installed at the first
        start only (the implant); later, a clinician session installs them.

        A restored twin catches up on the time it was down. Without `clock` it runs on
        its own mapping from now (`speed`, `wall`); with `clock` (the demo shares one with
        its clinic, so both show the same time) it catches up to that clock and runs on it.

        The directory is locked for as long as the pump is served (until `stop`):
        `DirectoryBusy` (a `ValueError`) when another process serves it. Temporary files
        left by a write that a kill interrupted are deleted first."""
        lock = DirectoryLock(directory)
        try:
            return cls._open_locked(directory, implant, speed, wall, clock, lock, authorities)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _open_locked(
        cls,
        directory: Path,
        implant: ImplantSpec | None,
        speed: float,
        wall: Callable[[], float],
        clock: WallClock | None,
        lock: DirectoryLock,
        authorities: tuple[TrustedAuthority, ...],
    ) -> ServedPump:
        remove_partial_writes(directory)
        state_file = directory / STATE_FILE
        if state_file.exists():
            saved = read_state(state_file)
            twin, link_state = saved.twin, saved.link
            if clock is None:
                gap = max(0.0, wall() - saved.wall) * saved.speed
                caught_up = saved.twin_time + timedelta(seconds=gap)
            else:
                caught_up = clock.now()
            if caught_up > twin.now:
                twin.advance(caught_up)
            clock = clock or WallClock(twin.now, wall(), speed, wall)
            return cls(directory, twin, link_state, clock, first_start=False, lock=lock)
        if implant is None:
            raise ValueError(
                f"{directory} holds no pump yet: give the implant details "
                "(--drug, --concentration, --fill) for the first start"
            )
        twin = PumpTwin.implant(
            implant.model,
            implant.start,
            drug=implant.drug,
            concentration=implant.concentration,
            fill=implant.fill,
            serial=implant.serial,
            catheter_volume=implant.catheter_volume,
            primed=implant.primed,
            prescription=implant.prescription,
            battery_charge=implant.battery_charge,
        )
        link_state = PumpLinkState.new(implant.serial, implant.model, authorities=authorities)
        served = cls(directory, twin, link_state, clock or WallClock(twin.now, wall(), speed, wall),
                     first_start=True, lock=lock)  # fmt: skip
        served.save()
        served.write_card()
        return served

    # -- persistence ----------------------------------------------------------------

    def save(self) -> None:
        """Write twin, link state and clock anchor in one atomic replacement."""
        data = {
            "format": "thecal.served-pump/1",
            "twin": self.twin.snapshot(),
            "link": self.endpoint.state.to_dict(),
            "clock": {
                "twin": self.twin.now.isoformat(),
                "wall": self.clock.wall(),
                "speed": self.clock.speed,
            },
        }
        atomic_write_json(self.directory / STATE_FILE, data)

    def card_text(self) -> str:
        state = self.endpoint.state
        return (
            f"thecal implant card (simulated pump; not a medical device)\n"
            f"serial:        {state.serial}\n"
            f"model:         {state.model}\n"
            f"device secret: {state.device_secret.card_text()}\n"
            f"pump key:      {state.static.public.hex()}\n"
        )

    def write_card(self) -> None:
        atomic_write_bytes(self.directory / CARD_FILE, self.card_text().encode())

    # -- running ----------------------------------------------------------------------

    def sync(self) -> None:
        """Advance the twin to the wall clock (call with the lock held)."""
        target = self.clock.now()
        if target > self.twin.now:
            self.twin.advance(target)

    def open_pairing(self, duration: timedelta) -> None:
        with self.lock:
            self.sync()
            self.endpoint.open_pairing(duration)

    # The `FrameService` the TCP server calls, with `self.lock` held.

    def handle(self, frame: Frame) -> Handled:
        self.sync()
        return self.endpoint.handle_frame(frame)

    def reject(self, error: FrameError) -> None:
        self.sync()
        self.endpoint.reject_malformed(error)

    def busy(self, retry_after_s: int) -> Frame:
        return self.endpoint.busy_frame(retry_after_s)

    def note(self, kind: SecurityEventKind, detail: str) -> None:
        self.sync()
        self.endpoint.note(kind, detail)

    def listen(
        self, host: str, port: int, limits: ConnectionLimits | None = None
    ) -> tuple[str, int]:
        """Bind `host:port` (`OSError` if taken) and serve the link there."""
        return self.serve_on(TcpPumpServer(host, port, lock=self.lock, limits=limits))

    def serve_on(self, server: TcpPumpServer) -> tuple[str, int]:
        """Serve the link on a server already bound (not yet started)."""
        server.lock = self.lock  # one frame at a time, also against the syringe and clock
        self.server = server
        server.start(self)
        return server.address

    # -- the refill septum (physical access, not telemetry) -------------------------

    def syringe(self, request: dict[str, Any]) -> dict[str, Any]:
        """Aspirate or inject through the refill septum, as the clinician's syringe does.
        Requests: ``{"op": "aspirate", "volume": "2 mL" | null}`` (null: everything) and
        ``{"op": "inject", "volume": ..., "drug": ..., "concentration": ...}``, and
        ``"refill"`` (aspirate everything, then inject, at the same instant)."""
        op = request.get("op")
        with self.lock:
            self.sync()
            if op == "aspirate":
                wanted = request.get("volume")
                volume = parse_volume(wanted, "volume") if wanted else None
                out = self.twin.aspirate(volume)
                self.save()
                reading = out.floor_to(SYRINGE_READING)
                return {"aspirated": format_quantity(reading), "exact_ml": str(out.amount)}
            if op in ("inject", "refill"):
                answer: dict[str, Any] = {}
                if op == "refill":  # aspirate everything, then inject, with no time between
                    out = self.twin.aspirate(None)
                    answer["aspirated"] = format_quantity(out.floor_to(SYRINGE_READING))
                    answer["exact_ml"] = str(out.amount)
                outcome = self.twin.inject(
                    parse_volume(request.get("volume"), "volume"),
                    str(request.get("drug") or self.twin.truth().reservoir_drug),
                    parse_concentration(request.get("concentration"), "concentration"),
                )
                self.save()
                return {
                    **answer,
                    "into_reservoir": str(outcome.into_reservoir),
                    "into_pocket": str(outcome.into_pocket),
                    "not_injected": str(outcome.not_injected),
                }
        raise ValueError(f"syringe: unknown op {op!r}; accepted: aspirate, inject, refill")

    def open_syringe_port(self) -> Path:
        """Serve `syringe` on a Unix socket in the state directory (owner-only)."""
        path = self.directory / SYRINGE_SOCKET
        path.unlink(missing_ok=True)
        served = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline(65536))
                    if not isinstance(request, dict):
                        raise ValueError("syringe: send one JSON object")
                    answer: dict[str, Any] = {"ok": True, **served.syringe(request)}
                except (ValueError, TypeError) as error:
                    answer = {"ok": False, "error": str(error)}
                self.wfile.write((json.dumps(answer) + "\n").encode())

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        previous = os.umask(0o077)
        try:
            self.syringe_port = Server(str(path), Handler)
        finally:
            os.umask(previous)
        threading.Thread(target=self.syringe_port.serve_forever, daemon=True).start()
        return path

    def run(self, tick: float = 1.0, save_every: float = 30.0) -> None:
        """Keep the twin moving with the wall clock until `stop`; save periodically."""
        last_save = time.monotonic()
        while not self._stop.wait(tick):
            with self.lock:
                self.sync()
                if time.monotonic() - last_save >= save_every:
                    self.save()
                    last_save = time.monotonic()

    def request_stop(self) -> None:
        """Ask `run` to return (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop serving, bring the twin up to date and save."""
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
        if self.syringe_port is not None:
            self.syringe_port.shutdown()
            self.syringe_port.server_close()
            (self.directory / SYRINGE_SOCKET).unlink(missing_ok=True)
        with self.lock:
            self.sync()
            self.save()
        self._log_file.close()
        self.directory_lock.release()

    def pairing_open(self) -> bool:
        return self.endpoint.state.pairing.is_open(self.twin.now)

    def events(self, kind: SecurityEventKind) -> int:
        return self.endpoint.log.counts[kind]


def syringe_request(
    directory: Path, request: dict[str, Any], timeout: float = 30.0
) -> dict[str, Any]:
    """Send one request to the syringe port of the pump served from `directory`."""
    path = directory / SYRINGE_SOCKET
    if not path.exists():
        raise ValueError(f"no served pump at {directory} (is `thecal pump serve` running?)")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall((json.dumps(request) + "\n").encode())
            with sock.makefile("rb") as answer:
                data = json.loads(answer.readline())
    except OSError as error:
        raise ValueError(f"cannot reach the served pump's syringe port: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("syringe: the pump's answer is not an object")
    if not data.pop("ok", False):
        raise ValueError(str(data.get("error", "the syringe request failed")))
    return data
