"""In-memory transport: a controller talks to a `PumpEndpoint` in the same process.

Delivery is immediate and in order. `tap` (if given) records every datagram in both
directions, which is what the adversary tests replay and tamper with. `on_idle` is
called when a receive would wait: tests pass a function that advances the pump's
simulated clock, so timeouts cost no wall-clock time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from thecal.link.controller import LinkDown

__all__ = ["MemoryChannel"]


class MemoryChannel:
    def __init__(
        self,
        deliver: Callable[[bytes], list[bytes]],
        *,
        tap: list[tuple[str, bytes]] | None = None,
        on_idle: Callable[[float], None] | None = None,
    ) -> None:
        self._deliver = deliver
        self._inbox: deque[bytes] = deque()
        self.tap = tap
        self.on_idle = on_idle
        self.closed = False

    def send(self, data: bytes) -> None:
        if self.closed:
            raise LinkDown("channel closed")
        if self.tap is not None:
            self.tap.append(("up", data))
        for reply in self._deliver(data):
            if self.tap is not None:
                self.tap.append(("down", reply))
            self._inbox.append(reply)

    def receive(self, timeout: float) -> bytes | None:
        if self.closed:
            raise LinkDown("channel closed")
        if self._inbox:
            return self._inbox.popleft()
        if self.on_idle is not None:
            self.on_idle(timeout)
        return None

    def reconnect(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self._inbox.clear()
