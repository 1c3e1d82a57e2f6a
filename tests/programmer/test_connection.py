"""Pairing with a served pump and opening a session: the steps the command line and the
clinic's pump session page share (`thecal.programmer.connection`)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.link.pumps import CLINIC, ER, credential, trusted
from thecal.link.controller import HandshakeRefused, LinkUnavailable, RetryPolicy
from thecal.link.keys import DeviceSecret, StaticKey
from thecal.link.messages import RefusalReason
from thecal.link.served_pump import ImplantSpec, ServedPump
from thecal.programmer import clinician
from thecal.programmer.connection import (
    NotIdentified,
    WrongPump,
    emergency_session,
    open_session,
    pair_tcp,
)
from thecal.programmer.home import ControllerHome
from thecal.pump.commands import Rejection, Role
from thecal.therapy.quantities import Concentration, Volume

SPEC = ImplantSpec("peristaltic-20", "CONN-1", "morphine", Concentration.from_mg_per_ml(10),
                   Volume.from_ml(20), None, True, datetime(2026, 5, 4, 8, 0))  # fmt: skip
QUICK = RetryPolicy(timeout=0.5, attempts=2, handshake_attempts=2)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServedPump, str]]:
    authorities = (
        trusted(CLINIC, Role.CLINICIAN, Role.EMERGENCY),
        trusted(ER, Role.EMERGENCY),
    )
    pump = ServedPump.open(tmp_path / "pump", SPEC, authorities=authorities)
    pump.open_pairing(timedelta(minutes=30))
    host, port = pump.listen("127.0.0.1", 0)
    try:
        yield pump, f"{host}:{port}"
    finally:
        pump.stop()


def _secret(pump: ServedPump) -> DeviceSecret:
    return pump.endpoint.state.device_secret


def _clinician_home(path: Path, passphrase: bytes | None = None) -> ControllerHome:
    """A programmer holding a clinician credential from the clinic's authority."""
    home = ControllerHome(path, passphrase)
    home.install_credential(credential(home.key()))
    return home


def test_pairing_saves_the_pump_and_a_session_then_reaches_it(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    home = _clinician_home(tmp_path / "programmer")
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
    home = _clinician_home(tmp_path / "programmer")
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


def test_without_a_credential_the_card_pairs_only_a_patient_in_a_clinician_window(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    handset = ControllerHome(tmp_path / "handset")
    with pytest.raises(HandshakeRefused) as refused:  # the window the magnet opened
        pair_tcp(handset, address, _secret(pump), "PTM")
    assert refused.value.refusal.reason is RefusalReason.NEEDS_CLINICIAN_WINDOW
    programmer = _clinician_home(tmp_path / "programmer")
    paired = pair_tcp(programmer, address, _secret(pump))
    with open_session(programmer, paired.pairing) as session:
        assert clinician.open_pairing(session.link, 600).accepted
    assert pair_tcp(handset, address, _secret(pump), "PTM").pairing.role is Role.PATIENT


def test_outside_the_window_the_pump_does_not_identify_itself_and_nothing_pairs(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    with pump.lock:
        pump.endpoint.state.pairing.close()
    with pytest.raises(NotIdentified, match="window is closed"):
        pair_tcp(_clinician_home(tmp_path / "programmer"), address, _secret(pump))


def test_an_emergency_programmer_stops_a_pump_it_was_never_paired_with(
    served: tuple[ServedPump, str], tmp_path: Path
) -> None:
    pump, address = served
    er = ControllerHome(tmp_path / "er")
    er.install_credential(credential(er.key(), Role.EMERGENCY, ER, label="ER"))
    state = pump.endpoint.state
    with emergency_session(er, address, state.serial, state.static.public) as link:
        assert clinician.stop(link).accepted
        resumed = clinician.resume(link)
        assert not resumed.accepted and resumed.reason is Rejection.NOT_PERMITTED
    assert er.pairings() == {} and er.key().id not in state.controllers


def test_a_programmer_without_a_credential_has_no_emergency_access(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="no credential"),
        emergency_session(ControllerHome(tmp_path), "127.0.0.1:9", "X", bytes(32)),
    ):
        pass


def test_the_private_key_is_encrypted_at_rest_under_the_passphrase(tmp_path: Path) -> None:
    home = ControllerHome(tmp_path, b"correct horse")
    key = home.key()
    stored = (tmp_path / "identity.key").read_bytes()
    assert key.to_hex().encode() not in stored and home.key_protected()
    assert ControllerHome(tmp_path, b"correct horse").key() == key
    with pytest.raises(ValueError, match="wrong passphrase"):
        ControllerHome(tmp_path, b"wrong").key()
    with pytest.raises(ValueError, match="protected by a passphrase"):
        ControllerHome(tmp_path).key()
    assert ControllerHome(tmp_path).public_key() == key.public  # no passphrase needed


def test_a_key_kept_in_clear_by_an_older_version_is_moved_and_encrypted(tmp_path: Path) -> None:
    import json

    key = StaticKey.generate()
    (tmp_path / "identity.json").write_text(
        json.dumps({"private_key": key.to_hex(), "public_key": key.public.hex(), "hello": 7})
    )
    home = ControllerHome(tmp_path, b"pass")
    assert home.key() == key and home.key_protected()
    assert "private_key" not in (tmp_path / "identity.json").read_text()
    assert home.next_hello() > 7


def test_a_credential_for_another_key_is_not_installed(tmp_path: Path) -> None:
    home = ControllerHome(tmp_path)
    with pytest.raises(ValueError, match="another key"):
        home.install_credential(credential(StaticKey.generate()))
    assert home.credential() is None
