"""The pump's first line against a handshake flood: cheap checks before any X25519 work.

A battery-powered implant must not let a stranger with a radio make it compute: each
X25519 operation costs energy. So before the pump does any Diffie-Hellman for an
incoming handshake, three checks run, each a hash or a table lookup:

1. **Cookie** (as in WireGuard): the first message must carry a cookie the pump issued
   for that message's ephemeral key, an HMAC under a secret that rotates every
   `COOKIE_EPOCH`. Without it the pump answers with a cookie and does nothing else. A
   blind or spoofed flood never gets past this.
2. **Seen ephemerals**: a message 1 whose ephemeral key was already used is a replay.
   (An identical retransmission is answered from a cache, also without new work.)
3. **Token bucket**: at most `burst` handshakes at once, refilled at `rate` per second
   of pump time. Past it, the pump refuses "busy, retry after N s" at no DH cost, so
   even an attacker who can receive cookies gets at most `rate` handshakes per second.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from thecal.link.keys import Entropy

__all__ = ["COOKIE_EPOCH", "COOKIE_LEN", "HandshakeGuard", "TokenBucket"]

COOKIE_LEN = 16
COOKIE_EPOCH = timedelta(minutes=2)
_ORIGIN = datetime(2000, 1, 1)


def _seconds(moment: datetime) -> float:
    return (moment.replace(tzinfo=None) - _ORIGIN).total_seconds()


@dataclass
class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; `take` spends one if there is one."""

    burst: float
    rate: float
    tokens: float = -1.0
    updated: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def take(self, now: datetime) -> float | None:
        """Spend a token: None if granted, else seconds until one will be available."""
        seconds = _seconds(now)
        self._refill(seconds)
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


class HandshakeGuard:
    """Cookie issue and check, replay memory of ephemeral keys, and the handshake budget."""

    def __init__(
        self,
        burst: int = 8,
        rate: float = 0.2,
        remember: int = 1024,
        entropy: Entropy = os.urandom,
    ) -> None:
        self._master = entropy(32)
        self.bucket = TokenBucket(float(burst), rate)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._remember = remember
        self.cookies_issued = 0

    def _epoch_key(self, epoch: int) -> bytes:
        return hmac.new(self._master, epoch.to_bytes(8, "big", signed=True), "sha256").digest()

    def _epoch(self, now: datetime) -> int:
        return int(_seconds(now) // COOKIE_EPOCH.total_seconds())

    def _cookie(self, epoch: int, ephemeral: bytes) -> bytes:
        return hmac.new(self._epoch_key(epoch), ephemeral, hashlib.sha256).digest()[:COOKIE_LEN]

    def issue_cookie(self, ephemeral: bytes, now: datetime) -> bytes:
        self.cookies_issued += 1
        return self._cookie(self._epoch(now), ephemeral)

    def cookie_valid(self, ephemeral: bytes, cookie: bytes, now: datetime) -> bool:
        """A cookie of this epoch or the one before, for exactly this ephemeral key."""
        epoch = self._epoch(now)
        return any(
            hmac.compare_digest(self._cookie(e, ephemeral), cookie) for e in (epoch, epoch - 1)
        )

    def seen(self, ephemeral: bytes) -> bool:
        return ephemeral in self._seen

    def remember(self, ephemeral: bytes) -> None:
        self._seen[ephemeral] = None
        while len(self._seen) > self._remember:
            # Forgetting is safe: an evicted ephemeral's cookie has long expired by the time
            # 1024 newer handshakes (at the bucket's rate) have gone by.
            self._seen.popitem(last=False)
