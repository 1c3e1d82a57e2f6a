"""Cookies and the handshake budget: the checks that cost the pump no Diffie-Hellman."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from thecal.link.guard import COOKIE_EPOCH, HandshakeGuard, TokenBucket

T0 = datetime(2026, 1, 1)


def test_the_bucket_grants_its_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(burst=3, rate=0.5)
    assert [bucket.take(T0) for _ in range(3)] == [None, None, None]
    assert bucket.take(T0) == pytest.approx(2.0)


@pytest.mark.parametrize(("after", "granted"), [(1.99, False), (2.0, True)])
def test_a_token_returns_after_one_over_the_rate(after: float, granted: bool) -> None:
    bucket = TokenBucket(burst=1, rate=0.5)
    bucket.take(T0)
    assert (bucket.take(T0 + timedelta(seconds=after)) is None) is granted


def test_a_cookie_is_valid_for_its_ephemeral_key_only() -> None:
    guard = HandshakeGuard()
    cookie = guard.issue_cookie(b"e" * 32, T0)
    assert guard.cookie_valid(b"e" * 32, cookie, T0)
    assert not guard.cookie_valid(b"f" * 32, cookie, T0)


@pytest.mark.parametrize(("epochs_later", "valid"), [(0, True), (1, True), (2, False)])
def test_a_cookie_expires_after_the_next_epoch(epochs_later: int, valid: bool) -> None:
    guard = HandshakeGuard()
    start = T0 + COOKIE_EPOCH * 10
    cookie = guard.issue_cookie(b"e" * 32, start)
    assert guard.cookie_valid(b"e" * 32, cookie, start + COOKIE_EPOCH * epochs_later) is valid


def test_another_pump_cannot_mint_cookies_for_this_one() -> None:
    assert HandshakeGuard().issue_cookie(b"e" * 32, T0) != HandshakeGuard().issue_cookie(
        b"e" * 32, T0
    )
