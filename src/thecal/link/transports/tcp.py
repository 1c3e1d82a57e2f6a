"""TCP on loopback: the pump twin as its own process, controllers as others.

Frames are self-delimiting (the header carries the length), so the stream carries them
back to back. A stream cannot be resynchronised after garbage, so the first malformed
frame on a connection is logged and the connection is closed; nothing reaches the pump.

Connections are a resource an attacker can take, and a clinician who cannot connect
cannot stop the pump, so the server rations them (`ConnectionLimits`):

* A connection becomes **authenticated** when it carries a completed handshake or an
  authenticated session frame of an enrolled (or credentialed) controller; until then
  it is a **stranger's**. A newcomer is always a stranger: nobody can be told apart
  before the handshake, so the server keeps room for strangers and keeps each one long
  enough to authenticate.
* Strangers may hold `max_strangers` connections. A newcomer beyond that is still let
  in; then the strangers beyond the limit are **shed**, silent longest first, but only
  those older than `grace` seconds: a newcomer always has `grace` seconds to complete
  its handshake, however many strangers arrive after it.
* At most `max_connections` at once in all. When that is reached, a newcomer sheds a
  stranger past its grace, else an authenticated connection idle for `shed_after`
  seconds; only when neither exists is it refused, with a plaintext "busy, retry after
  N s" (never a silent close), which the controller shows as busy.
* A stranger's connection is closed after `unauthenticated_timeout` seconds without a
  frame, an authenticated one after `idle_timeout`.
* One identity holds at most `per_identity` connections (its oldest is shed), so a
  single enrolled controller, even a stolen one, cannot take every slot.

Held idle sockets (the attack that used to take all 8 slots for 120 s) therefore cost
a newcomer nothing: they are strangers past their grace and go first. What remains is a
flood of *new* connections, more than `max_connections` within `grace` seconds, all
from one network source: the newcomer is then told "busy" until the flood relents. Over
the radio there are no connections to take; on a network, limits per source address
belong in front of the pump (docs/security.md).
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from thecal.link.controller import LinkDown
from thecal.link.events import SecurityEventKind
from thecal.link.frame import Frame, FrameError, FrameReader, encode_frame
from thecal.link.pump_endpoint import Handled

__all__ = [
    "ConnectionLimits",
    "FrameService",
    "TcpChannel",
    "TcpPumpServer",
    "parse_address",
]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (e.g. ``127.0.0.1:7400``); `ValueError` says what is accepted."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"address: {text!r} is not HOST:PORT; accepted e.g. 127.0.0.1:7400")
    return host, int(port)


class TcpChannel:
    """A controller's connection to a served pump."""

    def __init__(self, host: str, port: int, connect_timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._reader = FrameReader()
        self._ready: deque[bytes] = deque()

    def _connected(self) -> socket.socket:
        if self._sock is None:
            try:
                self._sock = socket.create_connection(
                    (self.host, self.port), timeout=self.connect_timeout
                )
            except OSError as error:
                raise LinkDown(
                    f"cannot reach the pump at {self.host}:{self.port}: {error}"
                ) from None
            self._reader = FrameReader()
            self._ready.clear()
        return self._sock

    def send(self, data: bytes) -> None:
        sock = self._connected()
        try:
            sock.sendall(data)
        except OSError as error:
            self._drop()
            raise LinkDown(str(error)) from None

    def receive(self, timeout: float) -> bytes | None:
        sock = self._connected()
        if self._ready:
            return self._ready.popleft()
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
            if not readable:
                return None
            chunk = sock.recv(65536)
        except OSError as error:
            self._drop()
            raise LinkDown(str(error)) from None
        if not chunk:
            self._drop()
            raise LinkDown("the pump closed the connection")
        self._reader.feed(chunk)
        for item in self._reader.frames():
            if isinstance(item, FrameError):
                self._drop()
                raise LinkDown(f"malformed frame from the pump: {item.detail}")
            self._ready.append(encode_frame(item))
        return self._ready.popleft() if self._ready else None

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def reconnect(self) -> None:
        self._drop()
        self._connected()

    def close(self) -> None:
        self._drop()


@dataclass(frozen=True)
class ConnectionLimits:
    """How the server rations connections (seconds of wall time; see the module)."""

    max_connections: int = 24
    max_strangers: int = 8
    grace: float = 2.0
    idle_timeout: float = 120.0
    unauthenticated_timeout: float = 10.0
    shed_after: float = 1.0
    per_identity: int = 2
    busy_retry_s: int = 1


class FrameService(Protocol):
    """The pump behind the server (called with the server's lock held)."""

    def handle(self, frame: Frame) -> Handled: ...

    def reject(self, error: FrameError) -> None: ...

    def busy(self, retry_after_s: int) -> Frame: ...

    def note(self, kind: SecurityEventKind, detail: str) -> None: ...


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    opened: float
    last_active: float
    key_id: str | None = None
    shed: bool = False


class TcpPumpServer:
    """Serves a pump on a TCP address (one thread per connection; the service is called
    under one lock, so the firmware sees one frame at a time).

    The address is bound when the server is made (`OSError` if it is taken), before
    anything else happens, so a busy port is found before a pump is set up behind it;
    `start` then serves `service`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        lock: threading.Lock | None = None,
        limits: ConnectionLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = lock or threading.Lock()
        self.limits = limits or ConnectionLimits()
        self._clock = clock
        self._service: FrameService | None = None
        self._connections: list[_Connection] = []
        self._table = threading.Lock()  # guards _connections
        self.shed_count = 0
        self.refused_count = 0
        self._serving = False
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, port), Handler)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def connections(self) -> int:
        with self._table:
            return len(self._connections)

    # -- admission -------------------------------------------------------------------

    def _admit(self, sock: socket.socket) -> _Connection | None:
        now = self._clock()
        shed: list[_Connection] = []
        with self._table:
            live = [c for c in self._connections if not c.shed]
            if len(live) >= self.limits.max_connections:
                victim = self._stranger_past_grace(live, now) or self._idle_authenticated(live, now)
                if victim is None:
                    self.refused_count += 1
                    return None
                self._shed(victim)
                shed.append(victim)
            connection = _Connection(sock, now, now)
            self._connections.append(connection)
            # strangers beyond their share go, silent longest first, once past their grace
            strangers = [c for c in self._connections if c.key_id is None and not c.shed]
            excess = len(strangers) - self.limits.max_strangers
            for old in sorted(strangers, key=lambda c: c.last_active):
                if excess <= 0:
                    break
                if now - old.opened >= self.limits.grace:
                    self._shed(old)
                    shed.append(old)
                    excess -= 1
        for victim in shed:
            self._note(SecurityEventKind.CONNECTION_SHED, self._why(victim, now))
        return connection

    def _stranger_past_grace(self, live: list[_Connection], now: float) -> _Connection | None:
        old = [c for c in live if c.key_id is None and now - c.opened >= self.limits.grace]
        return min(old, key=lambda c: c.last_active) if old else None

    def _idle_authenticated(self, live: list[_Connection], now: float) -> _Connection | None:
        idle = [
            c
            for c in live
            if c.key_id is not None and now - c.last_active >= self.limits.shed_after
        ]
        return min(idle, key=lambda c: c.last_active) if idle else None

    def _shed(self, connection: _Connection) -> None:
        """Close `connection` for a newcomer (its thread notices and leaves)."""
        connection.shed = True
        self.shed_count += 1
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _why(connection: _Connection, now: float) -> str:
        who = "an unauthenticated" if connection.key_id is None else "an idle authenticated"
        return f"{who} connection (silent {now - connection.last_active:.1f} s) for a newcomer"

    def _authenticated(self, connection: _Connection, key: str) -> None:
        """`connection` carries `key`'s traffic: keep at most `per_identity` of those."""
        with self._table:
            connection.key_id = key
            same = [c for c in self._connections if c.key_id == key and not c.shed]
            excess = sorted(same, key=lambda c: c.last_active)[: -self.limits.per_identity]
            for old in excess:
                if old is not connection:
                    self._shed(old)

    def _note(self, kind: SecurityEventKind, detail: str) -> None:
        if self._service is not None:
            with self.lock:
                self._service.note(kind, detail)

    # -- serving ------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        service = self._service
        if service is None:
            return
        connection = self._admit(sock)
        if connection is None:
            self._refuse_busy(sock, service)
            return
        try:
            self._serve_connection(connection, service)
        finally:
            with self._table:
                self._connections.remove(connection)

    def _refuse_busy(self, sock: socket.socket, service: FrameService) -> None:
        with self.lock:
            frame = service.busy(self.limits.busy_retry_s)
            service.note(SecurityEventKind.CONNECTION_REFUSED, "every slot carries recent traffic")
        with contextlib.suppress(OSError):
            sock.sendall(encode_frame(frame))

    def _serve_connection(self, connection: _Connection, service: FrameService) -> None:
        sock = connection.sock
        reader = FrameReader()
        while not connection.shed:
            timeout = (
                self.limits.unauthenticated_timeout
                if connection.key_id is None
                else self.limits.idle_timeout
            )
            sock.settimeout(timeout)
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk or connection.shed:
                return
            connection.last_active = self._clock()
            reader.feed(chunk)
            for item in reader.frames():
                with self.lock:
                    if isinstance(item, FrameError):
                        service.reject(item)
                        return
                    handled = service.handle(item)
                if handled.key_id is not None and handled.key_id != connection.key_id:
                    self._authenticated(connection, handled.key_id)
                try:
                    sock.sendall(b"".join(encode_frame(r) for r in handled.replies))
                except OSError:
                    return

    def start(self, service: FrameService) -> threading.Thread:
        """Serve `service` from a background thread until `shutdown`."""
        self._service = service
        self._serving = True
        thread = threading.Thread(target=self.serve_forever, name="pump-tcp", daemon=True)
        thread.start()
        return thread

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serving and release the address (also for a server never started)."""
        if self._serving:
            self._server.shutdown()  # waits for serve_forever, so only once it runs
            self._serving = False
        self._server.server_close()
        with self._table:
            for connection in self._connections:
                self._shed(connection)
