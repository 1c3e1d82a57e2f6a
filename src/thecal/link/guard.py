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
3. **Token buckets**: at most `burst` handshakes at once, refilled at `rate` per second
   of pump time. Past it, the pump refuses "busy, retry after N s" at no DH cost, so
   even an attacker who can receive cookies gets at most `rate` handshakes per second.

One shared bucket would let that attacker spend everyone's budget (a stranger at 20
handshakes a second would lock the clinician out of Stop). So every enrolled
controller has its **own reserved bucket**, and proves it may use it before any DH: its
message 1 carries an **admission tag**, an HMAC over the cookie and the message under a
key both sides derive from DH(controller static, pump static) (`admission_key`). The
pump knows that key for each enrolled controller (computed once per enrolment) and
finds the matching one with at most `MAX_CONTROLLERS` HMACs; the tag reveals nothing
to an eavesdropper (it is keyed), cannot be made without one of the two static private
keys, and is bound to this message and cookie, so it cannot be moved to another
handshake. Everything without a valid tag (strangers, pairing, emergency access) shares
the general bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from thecal.link.keys import Entropy, StaticKey, public_key_object

__all__ = [
    "ADMISSION_LEN",
    "COOKIE_EPOCH",
    "COOKIE_LEN",
    "HandshakeGuard",
    "TokenBucket",
    "admission_key",
    "admission_tag",
]

COOKIE_LEN = 16
ADMISSION_LEN = 16
COOKIE_EPOCH = timedelta(minutes=2)
_ORIGIN = datetime(2000, 1, 1)


def _seconds(moment: datetime) -> float:
    return (moment.replace(tzinfo=None) - _ORIGIN).total_seconds()


def admission_key(own: StaticKey, peer_public: bytes, serial: str) -> bytes:
    """The key a controller and its pump share for admission tags (one X25519 each side:
    the same DH as Noise's ``ss``, but a separate key, so the two uses never mix)."""
    shared = own.private.exchange(public_key_object(peer_public))
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"thecal admission v1", info=serial.encode()
    ).derive(shared)


def admission_tag(key: bytes, cookie: bytes, message1: bytes) -> bytes:
    """The tag an enrolled controller puts before its message 1."""
    return hmac.new(key, cookie + message1, hashlib.sha256).digest()[:ADMISSION_LEN]


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
        *,
        reserved_burst: int = 8,
        reserved_rate: float = 0.5,
    ) -> None:
        self._master = entropy(32)
        self.bucket = TokenBucket(float(burst), rate)
        self._reserved: dict[str, TokenBucket] = {}
        self._reserved_shape = (float(reserved_burst), reserved_rate)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._remember = remember
        self.cookies_issued = 0

    def bucket_for(self, admitted: str | None) -> TokenBucket:
        """The general bucket, or the reserved one of the enrolled controller `admitted`."""
        if admitted is None:
            return self.bucket
        bucket = self._reserved.get(admitted)
        if bucket is None:
            bucket = self._reserved[admitted] = TokenBucket(*self._reserved_shape)
        return bucket

    def forget(self, key: str) -> None:
        """Drop a controller's reserved bucket (it was revoked)."""
        self._reserved.pop(key, None)

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
