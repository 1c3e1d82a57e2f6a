"""Every parser the pump and the programmer expose, as fuzz targets with their contract.

Shared by the coverage-guided campaign (`tests.link.fuzz_parsers`, atheris/libFuzzer)
and the quick Hypothesis tests (`test_fuzz.py`). Each target takes arbitrary bytes and
may only answer with a value or the typed refusal its contract names; anything else (an
exception of another type, a command reaching the firmware) is a finding.

What is parsed, and from whom:

* from the air, by the pump: frames (`decode_frame`, `FrameReader`), every payload type
  of the codec, the pump endpoint as a datagram and as each frame type, and handshake
  message 1 in each mode with a valid cookie (so the Noise, padding, hello, credential
  and role code is reached);
* from the air, by a programmer or controller: the pump's answers to IDENTIFY and to a
  handshake (a hostile or impostor pump);
* from files: credentials, the pump's link state and its whole state file, the
  security log, and a controller's state directory (identity, protected key,
  credential, pairings, journal).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from thecal.link.authority import Credential, check_credential
from thecal.link.codec import Decoded, PayloadError
from thecal.link.controller import (
    ControllerLink,
    HandshakeRefused,
    LinkUnavailable,
    RetryPolicy,
    identify,
)
from thecal.link.events import LoggedEvent
from thecal.link.frame import Frame, FrameError, FrameReader, FrameType, decode_frame, encode_frame
from thecal.link.guard import ADMISSION_LEN
from thecal.link.keys import StaticKey, load_private_key
from thecal.link.messages import (
    Call,
    ControllerList,
    HandshakeHello,
    HandshakeRefusal,
    HandshakeWelcome,
    PumpIdentity,
    Reply,
    SecurityDigest,
    wire_registry,
)
from thecal.link.pump_endpoint import MODES, PumpEndpoint
from thecal.link.pump_state import PumpLinkState
from thecal.link.security_file import LOG_FILE, read_security_log
from thecal.link.served_pump import read_state
from thecal.link.session import unpad
from thecal.programmer.home import ControllerHome

__all__ = ["TARGETS", "Target", "run_target"]

REGISTRY = wire_registry()
NOW = datetime(2026, 1, 1)
Target = Callable[[bytes], None]
PAYLOAD_TYPES = (
    Call,
    Reply,
    HandshakeHello,
    HandshakeWelcome,
    HandshakeRefusal,
    PumpIdentity,
    SecurityDigest,
    ControllerList,
    Credential,
)


class _NoCommands:
    """The fuzzed inputs never authenticate, so no command may ever reach the firmware."""

    def handle(self, request: object) -> object:
        raise AssertionError("an unauthenticated input reached the firmware")


def _endpoint() -> PumpEndpoint:
    state = PumpLinkState.new("FUZZ-1", "peristaltic-20", entropy=lambda n: bytes(n))
    endpoint = PumpEndpoint(state, _NoCommands(), lambda: NOW)  # type: ignore[arg-type]
    state.pairing.open_until = datetime(2027, 1, 1)
    return endpoint


ENDPOINT = _endpoint()
CONTROLLER_KEY = StaticKey(bytes(range(32)))


def frames(data: bytes) -> None:
    assert isinstance(decode_frame(data), Frame | FrameError)
    reader = FrameReader()
    for start in range(0, len(data), 7):
        reader.feed(data[start : start + 7])
        for item in reader.frames():
            assert isinstance(item, Frame | FrameError)


def payloads(data: bytes) -> None:
    for kind in PAYLOAD_TYPES:
        assert isinstance(REGISTRY.decode(data, kind), Decoded | PayloadError)
    assert unpad(data) is None or isinstance(unpad(data), bytes)


def endpoint_frames(data: bytes) -> None:
    ENDPOINT.receive(data)
    for kind in FrameType:
        ENDPOINT.receive(encode_frame(Frame(kind, 0, data[:65536])))


def endpoint_handshakes(data: bytes) -> None:
    """Message 1 with a valid cookie in every mode: past the cheap checks, into Noise."""
    for mode in MODES:
        cookie = ENDPOINT.guard.issue_cookie(data[:32], NOW)
        payload = bytes([mode]) + cookie + bytes(ADMISSION_LEN) + data
        ENDPOINT.guard.bucket.tokens = ENDPOINT.guard.bucket.burst  # keep reaching the DH
        ENDPOINT.receive(encode_frame(Frame(FrameType.HANDSHAKE_INIT, 0, payload[:65536])))
    assert not ENDPOINT.state.controllers


class _HostilePump:
    """A channel whose 'pump' answers every frame with the fuzzed bytes, cut into frames."""

    def __init__(self, data: bytes) -> None:
        self.answers = [data[i : i + 97] for i in range(0, len(data), 97)] or [b""]
        self.given = 0

    def send(self, data: bytes) -> None:
        pass

    def receive(self, timeout: float) -> bytes | None:
        if self.given >= len(self.answers):
            return None
        self.given += 1
        return self.answers[self.given - 1]

    def reconnect(self) -> None:
        pass

    def close(self) -> None:
        pass


_ONCE = RetryPolicy(timeout=0.0, attempts=1, handshake_attempts=1, max_busy_wait=0)


def controller_side(data: bytes) -> None:
    """What a programmer makes of a hostile pump's answers: a value or a typed refusal."""
    identity = None
    with contextlib.suppress(LinkUnavailable):
        identity = identify(_HostilePump(data), _ONCE)
    # the key the hostile pump gave (a programmer pairing with it would use it), else a
    # degenerate one
    pump_key = identity.public_key if identity is not None else bytes(32)
    link = ControllerLink(_HostilePump(data), CONTROLLER_KEY, pump_key, "FUZZ-1", retry=_ONCE,
                          hello_clock=lambda: 1)  # fmt: skip
    with contextlib.suppress(HandshakeRefused, LinkUnavailable):
        link.connect()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def credentials(data: bytes) -> None:
    raw = _json(data)
    try:
        credential = Credential.from_dict(raw)
    except ValueError:
        return
    check_credential(credential, credential.subject, ENDPOINT.state.authorities, NOW)


def link_state(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        PumpLinkState.from_dict(_json(data))


def log_records(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        LoggedEvent.from_dict(_json(data))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / LOG_FILE).write_bytes(data)
        read_security_log(Path(folder))


def state_files(data: bytes) -> None:
    """The served pump's state file and every file of a controller's state directory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        path.write_bytes(data)
        with contextlib.suppress(ValueError):
            read_state(path)
    for name, read in (
        ("identity.json", lambda home: home.public_key()),
        ("identity.key", lambda home: home.key()),
        ("credential.json", lambda home: home.credential()),
        ("pumps.json", lambda home: home.pairings()),
        ("pending.json", lambda home: home.pending("S")),
    ):
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / name).write_bytes(data)
            with contextlib.suppress(ValueError):
                read(ControllerHome(Path(folder), b"fuzz"))
    with contextlib.suppress(ValueError):
        load_private_key(data, b"fuzz", "key")


TARGETS: dict[str, Target] = {
    "frames": frames,
    "payloads": payloads,
    "endpoint_frames": endpoint_frames,
    "endpoint_handshakes": endpoint_handshakes,
    "controller_side": controller_side,
    "credentials": credentials,
    "link_state": link_state,
    "log_records": log_records,
    "state_files": state_files,
}


def run_target(data: bytes) -> None:
    """The first byte picks the target, the rest is its input (for libFuzzer)."""
    if not data:
        return
    names = list(TARGETS)
    TARGETS[names[data[0] % len(names)]](data[1:])
