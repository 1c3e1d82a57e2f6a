"""Availability is a safety property: under each flood an attacker in range can send, over
real loopback TCP against a served pump, an enrolled clinician's Stop is still carried
out. (How fast, and what the attacker got, is measured by `python3 dev.py bench floods`
and recorded in docs/security.md; tests assert the outcome, never a speed.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.link.floods import FLOODS, Flood, flood_target, log_bytes, pump_stopped, timed_stop
from thecal.link.events import SecurityEventKind as Kind
from thecal.link.keys import StaticKey
from thecal.link.served_pump import ServedPump

pytestmark = pytest.mark.slow


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[ServedPump, StaticKey, str]]:
    served, clinician, address = flood_target(tmp_path / "pump")
    try:
        yield served, clinician, address
    finally:
        served.stop()


@pytest.mark.parametrize("kind", FLOODS)
def test_an_enrolled_clinician_stops_the_pump_during_a_flood(
    kind: str, target: tuple[ServedPump, StaticKey, str], tmp_path: Path
) -> None:
    served, clinician, address = target
    flood = Flood(kind, address, served.endpoint.state.static.public).start()
    try:
        flood.wait_until(12 if kind == "idle" else 200)
        assert flood.attempts > 0, "the flood never got going"
        stop = timed_stop(served, clinician, address)
    finally:
        flood.stop()
    assert stop.accepted
    assert pump_stopped(served)


def test_a_cookie_collecting_stranger_spends_only_the_general_budget(
    target: tuple[ServedPump, StaticKey, str],
) -> None:
    served, clinician, address = target
    flood = Flood("cookie", address, served.endpoint.state.static.public).start()
    try:
        flood.wait_until(100)
        stop = timed_stop(served, clinician, address)
    finally:
        flood.stop()
    assert stop.accepted
    assert flood.answers["refused: busy"] > 0  # strangers were told "busy"
    assert served.events(Kind.HANDSHAKE_RATE_LIMITED) > 0  # the general budget ran out


def test_idle_sockets_are_shed_for_a_newcomer(target: tuple[ServedPump, StaticKey, str]) -> None:
    served, clinician, address = target
    flood = Flood("idle", address, served.endpoint.state.static.public, sockets=20).start()
    try:
        flood.wait_until(20)
        stop = timed_stop(served, clinician, address)
    finally:
        flood.stop()
    assert stop.accepted
    assert served.server is not None and served.server.shed_count > 0
    assert served.events(Kind.CONNECTION_SHED) > 0


def test_a_random_session_flood_leaves_the_log_small_and_the_changes_visible(
    target: tuple[ServedPump, StaticKey, str], tmp_path: Path
) -> None:
    served, clinician, address = target
    flood = Flood("data", address, served.endpoint.state.static.public).start()
    try:
        flood.wait_until(3000)
        stop = timed_stop(served, clinician, address)
    finally:
        flood.stop()
    assert stop.accepted
    assert served.events(Kind.SESSION_UNKNOWN) >= 3000
    assert log_bytes(tmp_path / "pump") < 64 * 1024  # a few records, not one per frame
