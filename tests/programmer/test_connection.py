"""Pairing with a served pump and opening a session: the steps the command line and the
clinic's pump session page share (`thecal.programmer.connection`)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from thecal.link.controller import HandshakeRefused, LinkUnavailable, RetryPolicy
from thecal.link.keys import DeviceSecret
from thecal.link.messages import RefusalReason
from thecal.link.served_pump import ImplantSpec, ServedPump
from thecal.programmer import clinician
from thecal.programmer.connection import WrongPump, open_session, pair_tcp
from thecal.programmer.home import ControllerHome
from thecal.pump.commands import Role
from thecal.therapy.quantities import Concentration, Volume

SPEC = ImplantSpec("peristaltic-20", "CONN-1", "morphine", Concentration.from_mg_per_ml(10),
                   Volume.from_ml(20), None, True, datetime(2026, 5, 4, 8, 0))  # fmt: skip
QUICK = RetryPolicy(timeout=0.5, attempts=2, handshake_attempts=2)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServedPump, str]]:
    pump = ServedPump.open(tmp_path / "pump", SPEC)
    pump.open_pairing(timedelta(minutes=30))
    host, port = pump.listen("127.0.0.1", 0)
    try:
        yield pump, f"{host}:{port}"
    finally:
        pump.stop()


def _secret(pump: ServedPump) -> DeviceSecret:
    return pump.endpoint.state.device_secret


def test_pairing_saves_the_pump_and_a_session_then_reaches_it(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    home = ControllerHome(tmp_path / "programmer")
    paired = pair_tcp(home, address, _secret(pump), serial="CONN-1")
    assert home.pairing("CONN-1") == paired.pairing
    assert paired.pairing.role is Role.CLINICIAN and paired.pairing.model == "peristaltic-20"
    with open_session(home, paired.pairing) as session:
        assert clinician.interrogate(session.link).serial == "CONN-1"
        assert session.resolved == ()


def test_a_wrong_device_secret_is_refused_and_nothing_is_saved(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    _, address = served
    home = ControllerHome(tmp_path / "programmer")
    with pytest.raises(HandshakeRefused) as refused:
        pair_tcp(home, address, DeviceSecret.generate())
    assert refused.value.refusal.reason is RefusalReason.WRONG_SECRET
    assert home.pairings() == {}


def test_a_pump_with_another_serial_is_not_paired(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    home = ControllerHome(tmp_path / "programmer")
    with pytest.raises(WrongPump, match="CONN-1"):
        pair_tcp(home, address, _secret(pump), serial="OTHER-9")
    assert home.pairings() == {} and pump.endpoint.state.controllers == {}


def test_a_session_with_an_unreachable_pump_journals_nothing(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    home = ControllerHome(tmp_path / "programmer")
    paired = pair_tcp(home, address, _secret(pump))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        gone = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused
        with (
            pytest.raises(LinkUnavailable),
            open_session(home, paired.pairing, QUICK, address=gone) as session,
        ):
            clinician.interrogate(session.link)
    assert home.pending("CONN-1") == []
