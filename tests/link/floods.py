"""Floods against a served pump over loopback TCP, as an attacker in radio range would send
them: shared by the availability tests (which assert that an enrolled clinician's Stop
still succeeds) and `benchmarks/bench_floods.py` (which measures how fast, and what the
attacker got).

Each `Flood` runs its attacker threads until stopped and counts its attempts and what
the pump answered. The four floods:

* ``cookie`` — a cookie-collecting stranger: for every attempt a fresh key and a real
  Noise message 1 for the pump, resent with the cookie the pump gives, so each one
  reaches the handshake budget (the attack that used to lock everyone out);
* ``idle`` — idle-socket exhaustion: more connections than the pump has slots, opened
  and left silent (reopened when the pump drops them);
* ``data`` — DATA frames with random session ids, as fast as the pump takes them (the
  attack that used to grow the security log by megabytes);
* ``junk`` — blind handshake flood: random first messages without a cookie.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from thecal.link.codec import Decoded
from thecal.link.controller import ControllerLink, RetryPolicy
from thecal.link.frame import Frame, FrameReader, FrameType, encode_frame
from thecal.link.guard import ADMISSION_LEN, COOKIE_LEN
from thecal.link.keys import StaticKey
from thecal.link.messages import HandshakeHello, HandshakeRefusal, wire_registry
from thecal.link.noise import Initiator
from thecal.link.pump_endpoint import HELLO_PAD, MODE_SESSION, prologue
from thecal.link.pump_state import EnrolledController
from thecal.link.served_pump import ImplantSpec, ServedPump
from thecal.link.session import pad
from thecal.link.transports.tcp import TcpChannel
from thecal.pump.commands import Accepted, Role, Stop
from thecal.therapy.quantities import Concentration, Volume

__all__ = [
    "FLOODS",
    "Flood",
    "StopTiming",
    "flood_target",
    "log_bytes",
    "pump_stopped",
    "timed_stop",
]

FLOODS = ("cookie", "idle", "data", "junk")
SERIAL = "FLOOD-1"
START = datetime(2026, 5, 4, 8, 0)
SPEC = ImplantSpec("peristaltic-20", SERIAL, "morphine", Concentration.from_mg_per_ml(10),
                   Volume.from_ml(20), None, True, START)  # fmt: skip
CLINICIAN_RETRY = RetryPolicy(timeout=2.0, attempts=4, handshake_attempts=6, max_busy_wait=10)
_hello = iter(range(1, 10**9))


def flood_target(directory: Path) -> tuple[ServedPump, StaticKey, str]:
    """A served pump on a free loopback port, with one enrolled clinician programmer."""
    served = ServedPump.open(directory, SPEC)
    clinician = StaticKey.generate()
    with served.lock:
        served.endpoint.state.controllers[clinician.id] = EnrolledController(
            clinician.public, Role.CLINICIAN, "clinic programmer", START, "test"
        )
    host, port = served.listen("127.0.0.1", 0)
    return served, clinician, f"{host}:{port}"


@dataclass(frozen=True)
class StopTiming:
    accepted: bool
    seconds: float
    handshakes: int


def timed_stop(served: ServedPump, clinician: StaticKey, address: str) -> StopTiming:
    """An enrolled clinician connects afresh and sends Stop: was it carried out, and how
    long did it take (connection, handshake, command, answer)?"""
    host, port = address.rsplit(":", 1)
    link = ControllerLink(
        TcpChannel(host, int(port)), clinician, served.endpoint.state.static.public, SERIAL,
        retry=CLINICIAN_RETRY, hello_clock=lambda: next(_hello) + time.time_ns(),
    )  # fmt: skip
    began = time.perf_counter()
    try:
        response = link.call(Stop())
    finally:
        link.close()
    return StopTiming(isinstance(response, Accepted), time.perf_counter() - began, link.handshakes)


@dataclass
class Flood:
    """Attacker threads of one `kind` (see the module) against `address`."""

    kind: str
    address: str
    pump_key: bytes
    threads: int = 4
    sockets: int = 12
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _count: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.kind not in FLOODS:
            raise ValueError(f"flood {self.kind!r}; accepted: {', '.join(FLOODS)}")

    def start(self) -> Flood:
        target = {"cookie": self._cookie, "idle": self._idle, "data": self._data,
                  "junk": self._junk}[self.kind]  # fmt: skip
        workers = 1 if self.kind == "idle" else self.threads
        for n in range(workers):
            thread = threading.Thread(target=self._guard, args=(target,), name=f"flood-{n}",
                                      daemon=True)  # fmt: skip
            thread.start()
            self._workers.append(thread)
        return self

    def wait_until(self, attempts: int, timeout: float = 30.0) -> None:
        """Block until the flood has made `attempts` attempts (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        while self.attempts < attempts and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=10)

    # -- the attackers ----------------------------------------------------------------

    def _connect(self) -> socket.socket:
        host, port = self.address.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=2)
        sock.settimeout(2)
        return sock

    def _name(self, answer: Frame | None) -> str:
        """What the pump answered, with the reason of a refusal (busy or not)."""
        if answer is None:
            return "nothing"
        if answer.type is FrameType.HANDSHAKE_REFUSED:
            decoded = wire_registry().decode(answer.payload, HandshakeRefusal)
            if isinstance(decoded, Decoded):
                return f"refused: {decoded.value.reason.value}"
        return answer.type.name.lower()

    def _count_attempt(self, answer: str) -> None:
        with self._count:
            self.attempts += 1
            self.answers[answer] += 1

    def _guard(self, target: object) -> None:
        while not self._stop.is_set():
            try:
                target()  # type: ignore[operator]
            except OSError:
                time.sleep(0.01)  # dropped by the pump: come back

    def _exchange(self, sock: socket.socket, reader: FrameReader, frame: Frame) -> Frame | None:
        sock.sendall(encode_frame(frame))
        while True:
            for item in reader.frames():
                return item if isinstance(item, Frame) else None
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by the pump")
            reader.feed(chunk)

    def _cookie(self) -> None:
        registry = wire_registry()
        with self._connect() as sock:
            reader = FrameReader()
            while not self._stop.is_set():
                stranger = StaticKey.generate()
                initiator = Initiator(stranger, self.pump_key, prologue(SERIAL))
                hello = pad(registry.encode(HandshakeHello(time.time_ns())), HELLO_PAD)
                message1 = initiator.write_message_1(hello)
                head = bytes([MODE_SESSION])
                blank = bytes(COOKIE_LEN + ADMISSION_LEN)
                answer = self._exchange(sock, reader, Frame(FrameType.HANDSHAKE_INIT, 0,
                                                            head + blank + message1))  # fmt: skip
                if answer is not None and answer.type is FrameType.COOKIE:
                    payload = head + answer.payload + bytes(ADMISSION_LEN) + message1
                    retry = Frame(FrameType.HANDSHAKE_INIT, 1, payload)
                    answer = self._exchange(sock, reader, retry)
                self._count_attempt(self._name(answer))

    def _idle(self) -> None:
        held: list[socket.socket] = []
        try:
            while not self._stop.is_set():
                alive = []
                for sock in held:
                    try:
                        sock.setblocking(False)
                        dropped = sock.recv(1) == b""
                    except BlockingIOError:
                        dropped = False
                    if dropped:
                        sock.close()
                    else:
                        alive.append(sock)
                held = alive
                while len(held) < self.sockets:
                    held.append(self._connect())
                    self._count_attempt("connected")
                self._stop.wait(0.05)
        finally:
            for sock in held:
                sock.close()

    def _data(self) -> None:
        with self._connect() as sock:
            reader = FrameReader()
            while not self._stop.is_set():
                junk = Frame(FrameType.DATA, 0, os.urandom(8) + os.urandom(64))
                answer = self._exchange(sock, reader, junk)
                self._count_attempt(self._name(answer))

    def _junk(self) -> None:
        with self._connect() as sock:
            reader = FrameReader()
            while not self._stop.is_set():
                body = bytes([MODE_SESSION]) + os.urandom(COOKIE_LEN + ADMISSION_LEN + 120)
                answer = self._exchange(sock, reader, Frame(FrameType.HANDSHAKE_INIT, 0, body))
                self._count_attempt(self._name(answer))


def log_bytes(directory: Path) -> int:
    """What the security log takes on disk now."""
    return sum(p.stat().st_size for p in directory.glob("security*.jsonl"))


def pump_stopped(served: ServedPump) -> bool:
    with served.lock:
        return served.twin.view().therapy.state.value == "stopped"
