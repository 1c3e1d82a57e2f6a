"""A lossy radio between one controller and one pump, driven by a seeded `random.Random`.

Every datagram, in either direction, may independently be dropped, duplicated, held
back and delivered after later ones (reordered), or corrupted (random bytes flipped);
any transmission may also break the connection, losing everything in flight. The same
seed gives the same faults in the same places, so a failing chaos run replays exactly.

Time is simulated: when the controller waits for an answer that is not coming, the
radio first delivers anything it was holding back and otherwise calls `advance` with
the timeout (the tests advance the pump's clock), so no test waits on a wall clock.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from thecal.link.controller import LinkDown

__all__ = ["LossyRadio", "RadioFaults", "RadioStats"]


@dataclass(frozen=True)
class RadioFaults:
    """Per-datagram probabilities (0 to 1) of each fault."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    disconnect: float = 0.0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "reorder", "corrupt", "disconnect"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name}: {value} is not a probability from 0 to 1")


@dataclass
class RadioStats:
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    disconnects: int = 0


class LossyRadio:
    """The controller's `Channel` over a faulty air gap to a pump's datagram handler."""

    def __init__(
        self,
        deliver: Callable[[bytes], list[bytes]],
        faults: RadioFaults,
        rng: random.Random,
        advance: Callable[[float], None] | None = None,
    ) -> None:
        self._deliver = deliver
        self.faults = faults
        self.rng = rng
        self.advance = advance
        self.stats = RadioStats()
        self._inbox: deque[bytes] = deque()
        self._held_up: list[bytes] = []
        self._held_down: list[bytes] = []
        self.down = False

    # -- the air ----------------------------------------------------------------

    def _mangle(self, data: bytes) -> list[bytes]:
        """What a transmission of `data` turns into: zero, one or two copies."""
        faults, rng = self.faults, self.rng
        self.stats.sent += 1
        if rng.random() < faults.drop:
            self.stats.dropped += 1
            return []
        copies = [data]
        if rng.random() < faults.duplicate:
            self.stats.duplicated += 1
            copies.append(data)
        out = []
        for copy in copies:
            if rng.random() < faults.corrupt and copy:
                self.stats.corrupted += 1
                mutable = bytearray(copy)
                for _ in range(rng.randint(1, 3)):
                    mutable[rng.randrange(len(mutable))] ^= rng.randint(1, 255)
                copy = bytes(mutable)
            out.append(copy)
        return out

    def _breaks(self) -> bool:
        if self.rng.random() < self.faults.disconnect:
            self.stats.disconnects += 1
            self.down = True
            self._inbox.clear()
            self._held_up.clear()
            self._held_down.clear()
            return True
        return False

    def _to_pump(self, data: bytes) -> None:
        for copy in self._mangle(data):
            if self.rng.random() < self.faults.reorder:
                self.stats.reordered += 1
                self._held_up.append(copy)
                continue
            self._pump_receives(copy)
        if self._held_up and self.rng.random() < 0.5:
            self._pump_receives(self._held_up.pop(0))

    def _pump_receives(self, data: bytes) -> None:
        for reply in self._deliver(data):
            if self.down:
                return
            if self._breaks():  # the connection drops while the pump is answering
                return
            for copy in self._mangle(reply):
                if self.rng.random() < self.faults.reorder:
                    self.stats.reordered += 1
                    self._held_down.append(copy)
                else:
                    self._inbox.append(copy)
                    if self._held_down and self.rng.random() < 0.5:
                        self._inbox.append(self._held_down.pop(0))

    # -- Channel ------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.down or self._breaks():
            raise LinkDown("radio link lost")
        self._to_pump(data)

    def receive(self, timeout: float) -> bytes | None:
        if self.down:
            raise LinkDown("radio link lost")
        if not self._inbox and self._held_down:
            self._inbox.append(self._held_down.pop(0))
        if not self._inbox and self._held_up:
            self._pump_receives(self._held_up.pop(0))
            if self.down:
                raise LinkDown("radio link lost")
        if self._inbox:
            return self._inbox.popleft()
        if self.advance is not None:
            self.advance(timeout)
        return None

    def reconnect(self) -> None:
        self.down = False

    def close(self) -> None:
        self.down = True
