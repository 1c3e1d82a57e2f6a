"""Telemetry link cost: what a secure session costs the pump, against simple baselines
measured in the same run.

* Handshake (pump side, one IK handshake: cookie check, four X25519, HKDF, AEAD) against
  one bare X25519 exchange: the ratio is the handshake's cost in "DH units", which is
  what a battery budget is counted in.
* Command round trip over the in-memory link (encode, seal, frame, CRC, open, decode, role
  check, response memory, firmware, and back) against the firmware handling the same
  command directly: the link's overhead per command.
* Junk handshakes refused before any X25519 (cookie replies) against a real handshake.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from thecal.link.controller import ControllerLink
from thecal.link.frame import Frame, FrameType, encode_frame
from thecal.link.guard import ADMISSION_LEN, COOKIE_LEN
from thecal.link.keys import StaticKey
from thecal.link.pump_endpoint import MODE_SESSION, PumpEndpoint
from thecal.link.pump_state import EnrolledController, PumpLinkState
from thecal.link.transports.memory import MemoryChannel
from thecal.pump import PumpTwin
from thecal.pump.commands import AlarmTest, Request, Role
from thecal.therapy.quantities import Concentration, Volume

START = datetime(2026, 1, 1, 8, 0)
CLOCK = [START]


def _per_second(action: object, seconds: float = 1.0) -> float:
    """Calls per second of `action` over about `seconds` of wall time."""
    count = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        action()  # type: ignore[operator]
        count += 1
    return count / (time.perf_counter() - began)


def _setup() -> tuple[PumpTwin, PumpEndpoint, StaticKey]:
    twin = PumpTwin.implant(
        "peristaltic-20", START, drug="morphine",
        concentration=Concentration.from_mg_per_ml(10), fill=Volume.from_ml(20),
    )  # fmt: skip
    state = PumpLinkState.new("BENCH-1", "peristaltic-20")
    endpoint = PumpEndpoint(state, twin, lambda: CLOCK[0])
    key = StaticKey.generate()
    state.controllers[key.id] = EnrolledController(key.public, Role.CLINICIAN, "b", START, "b")
    return twin, endpoint, key


def main() -> None:
    twin, endpoint, key = _setup()
    hello = itertools.count(1)

    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    b_public = b.public_key()
    dh_rate = _per_second(lambda: a.exchange(b_public))

    def handshake() -> None:
        # ten simulated seconds per handshake keep the pump's handshake budget from binding
        CLOCK[0] += timedelta(seconds=10)
        link = ControllerLink(MemoryChannel(endpoint.receive), key, endpoint.state.static.public,
                              "BENCH-1", hello_clock=lambda: next(hello))  # fmt: skip
        link.connect()

    handshake_rate = _per_second(handshake)
    dh_before = endpoint.stats.meter.dh

    def junk() -> None:
        body = (
            bytes([MODE_SESSION]) + bytes(COOKIE_LEN + ADMISSION_LEN) + os.urandom(32 + 48 + 16 + 8)
        )
        endpoint.receive(encode_frame(Frame(FrameType.HANDSHAKE_INIT, 0, body)))

    junk_rate = _per_second(junk)
    junk_dh = endpoint.stats.meter.dh - dh_before

    link = ControllerLink(MemoryChannel(endpoint.receive), key, endpoint.state.static.public,
                          "BENCH-1", hello_clock=lambda: next(hello))  # fmt: skip
    link.connect()
    round_trip_rate = _per_second(lambda: link.call(AlarmTest()))
    ids = itertools.count()
    direct_rate = _per_second(
        lambda: twin.handle(Request(f"direct-{next(ids)}", Role.CLINICIAN, AlarmTest()))
    )

    print(f"baseline: one X25519 exchange          {dh_rate:10.0f} /s")
    print(f"full IK handshake (both sides, memory)  {handshake_rate:10.0f} /s  "
          f"= {dh_rate / handshake_rate:5.1f} DH-equivalents each")  # fmt: skip
    print(
        f"junk handshake refused with a cookie    {junk_rate:10.0f} /s  "
        f"({junk_rate / handshake_rate:5.1f}x a real handshake; {junk_dh} DH spent)"
    )
    print(f"baseline: firmware handles AlarmTest    {direct_rate:10.0f} /s")
    print(
        f"AlarmTest over the secure link          {round_trip_rate:10.0f} /s  "
        f"= {direct_rate / round_trip_rate:5.1f}x the firmware alone"
    )


if __name__ == "__main__":
    main()
