"""TCP on loopback: the pump twin as its own process, controllers as others.

Frames are self-delimiting (the header carries the length), so the stream carries them
back to back. A stream cannot be resynchronised after garbage, so the first malformed
frame on a connection is logged and the connection is closed; nothing reaches the pump.

The server bounds what a connection can cost: at most `max_connections` at once (more
are closed on accept), and a connection idle for `idle_timeout` seconds is closed.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable

from thecal.link.controller import LinkDown
from thecal.link.frame import Frame, FrameError, FrameReader, encode_frame

__all__ = ["TcpChannel", "TcpPumpServer", "parse_address"]


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


class TcpPumpServer:
    """Serves a pump's frame handler on a TCP address (one thread per connection; the
    handler is called under one lock, so the firmware sees one frame at a time)."""

    def __init__(
        self,
        handle: Callable[[Frame], list[Frame]],
        reject: Callable[[FrameError], None],
        host: str,
        port: int,
        *,
        lock: threading.Lock | None = None,
        max_connections: int = 8,
        idle_timeout: float = 120.0,
    ) -> None:
        self.lock = lock or threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if not outer._slots.acquire(blocking=False):
                    return  # too many connections: close this one at once
                try:
                    outer._serve_connection(self.request)
                finally:
                    outer._slots.release()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._handle = handle
        self._reject = reject
        self._idle_timeout = idle_timeout
        self._server = Server((host, port), Handler)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def _serve_connection(self, sock: socket.socket) -> None:
        sock.settimeout(self._idle_timeout)
        reader = FrameReader()
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            reader.feed(chunk)
            for item in reader.frames():
                with self.lock:
                    if isinstance(item, FrameError):
                        self._reject(item)
                        return
                    replies = self._handle(item)
                try:
                    sock.sendall(b"".join(encode_frame(r) for r in replies))
                except OSError:
                    return

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="pump-tcp", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
