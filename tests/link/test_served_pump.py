"""The served pump's edge: state kept across restarts, wall-clock catch-up, the TCP
transport and the syringe port."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.link.pumps import hello_clock
from thecal.link.controller import ControllerLink, LinkDown
from thecal.link.events import SecurityEventKind
from thecal.link.frame import Frame, FrameType, encode_frame
from thecal.link.keys import StaticKey
from thecal.link.pump_state import EnrolledController
from thecal.link.served_pump import STATE_FILE, ImplantSpec, ServedPump, syringe_request
from thecal.link.transports.tcp import TcpChannel, parse_address
from thecal.pump.commands import AlarmTest, Interrogate, Role
from thecal.therapy.quantities import Concentration, Volume

START = datetime(2026, 5, 4, 8, 0)
SPEC = ImplantSpec("peristaltic-20", "SRV-1", "morphine", Concentration.from_mg_per_ml(10),
                   Volume.from_ml(20), None, True, START)  # fmt: skip


class Wall:
    def __init__(self) -> None:
        self.seconds = 1_000_000.0

    def __call__(self) -> float:
        return self.seconds


def test_a_restarted_pump_keeps_its_state_and_catches_up_on_the_time_it_was_down(
    tmp_path: Path,
) -> None:
    wall = Wall()
    served = ServedPump.open(tmp_path, SPEC, speed=60, wall=wall)
    assert served.first_start and (tmp_path / STATE_FILE).stat().st_mode & 0o077 == 0
    served.endpoint.state.pairing.failures = 3  # something the link must remember
    wall.seconds += 10
    with served.lock:
        served.sync()
    served.stop()
    secret = served.endpoint.state.device_secret
    wall.seconds += 60  # down for a minute of wall time = an hour of pump time at 60x
    again = ServedPump.open(tmp_path, None, speed=60, wall=wall)
    assert not again.first_start
    assert again.twin.now == START + timedelta(minutes=10) + timedelta(hours=1)
    assert again.endpoint.state.device_secret == secret
    assert again.endpoint.state.pairing.failures == 3
    again.stop()


def test_an_empty_state_directory_needs_the_implant_details(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--drug"):
        ServedPump.open(tmp_path, None)


def test_a_served_pump_answers_over_tcp_and_closes_a_garbage_stream(tmp_path: Path) -> None:
    served = ServedPump.open(tmp_path, SPEC)
    host, port = served.listen("127.0.0.1", 0)
    try:
        key = served.endpoint.state.static
        clinician = StaticKey.generate()
        served.endpoint.state.controllers[clinician.id] = EnrolledController(
            clinician.public, Role.CLINICIAN, "test", START, "test"
        )
        link = ControllerLink(TcpChannel(host, port), clinician, key.public, "SRV-1",
                              hello_clock=hello_clock)  # fmt: skip
        assert link.call(AlarmTest()).message
        assert link.call(Interrogate()).payload is not None
        link.close()
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.sendall(b"not a frame at all, just noise....")
            raw.settimeout(5)
            assert raw.recv(100) == b""  # the pump closed the connection
        assert served.events(SecurityEventKind.MALFORMED_FRAME) == 1
        channel = TcpChannel(host, port)
        channel.send(encode_frame(Frame(FrameType.IDENTIFY, 0, b"")))
        assert channel.receive(5) is not None
        channel.close()
    finally:
        served.stop()


def test_an_unreachable_pump_is_a_link_down_not_a_crash() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connection refused
        with pytest.raises(LinkDown, match="cannot reach"):
            TcpChannel("127.0.0.1", port, connect_timeout=2).send(b"x")


def test_the_syringe_port_aspirates_and_refills_the_physical_reservoir(tmp_path: Path) -> None:
    served = ServedPump.open(tmp_path, SPEC)
    served.open_syringe_port()
    try:
        answer = syringe_request(tmp_path, {"op": "refill", "volume": "20 mL",
                                            "concentration": "25 mg/mL"})  # fmt: skip
        assert answer["aspirated"] == "20 mL" and answer["into_reservoir"] == "20 mL"
        assert served.twin.truth().reservoir_concentration == Concentration.from_mg_per_ml(25)
        with pytest.raises(ValueError, match="accepted"):
            syringe_request(tmp_path, {"op": "drain"})
    finally:
        served.stop()


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:", ":80", "h:99999", "h:x"])
def test_addresses_are_host_and_port(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)


def test_a_second_process_cannot_serve_the_same_pump_and_roll_back_a_revocation(
    tmp_path: Path,
) -> None:
    from thecal.link.storage import DirectoryBusy

    served = ServedPump.open(tmp_path, SPEC)
    try:
        with pytest.raises(DirectoryBusy, match="served by another pump process"):
            ServedPump.open(tmp_path, None)
    finally:
        served.stop()
    again = ServedPump.open(tmp_path, None)  # once stopped, it may be served again
    again.stop()


def test_temporary_files_a_kill_left_behind_are_removed_on_start(tmp_path: Path) -> None:
    served = ServedPump.open(tmp_path, SPEC)
    served.stop()
    leftovers = [tmp_path / ".state.json.abcd1234.partial", tmp_path / ".card.txt.x_y_z_12.partial"]
    for path in leftovers:
        path.write_text("half a state")
    keep = tmp_path / "notes.partial"  # not ours: left alone
    keep.write_text("mine")
    again = ServedPump.open(tmp_path, None)
    again.stop()
    assert not any(path.exists() for path in leftovers)
    assert keep.exists()
    assert not list(tmp_path.glob(".*.partial"))


def test_the_security_log_on_disk_is_one_chain_across_restarts(tmp_path: Path) -> None:
    from thecal.link.security_file import read_security_log, verify_security_log

    served = ServedPump.open(tmp_path, SPEC)  # logs the pairing window opening
    served.open_pairing(timedelta(minutes=5))
    served.stop()
    again = ServedPump.open(tmp_path, None)
    again.open_pairing(timedelta(minutes=5))
    again.stop()
    records, problems = read_security_log(tmp_path)
    assert problems == [] and len(records) == 2
    assert verify_security_log(tmp_path) is None
