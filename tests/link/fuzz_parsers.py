"""Coverage-guided fuzzing (atheris / libFuzzer) of everything the pump parses from the air.

Run directly for a long campaign::

    .venv/bin/python -m tests.link.fuzz_parsers -runs=1000000

`test_fuzz.py` runs it briefly in a subprocess as part of the suite. One input is fed to
the frame decoder, the payload decoder (as a `Call` and as a `HandshakeHello`) and a
pump endpoint (as a datagram, and wrapped in a valid frame of each type). Any exception
is a finding: the parsers must answer every input with a value or a typed refusal.
"""

from __future__ import annotations

import sys
from datetime import datetime

import atheris

with atheris.instrument_imports(include=["thecal.link"]):
    from thecal.link.frame import Frame, FrameError, FrameType, decode_frame, encode_frame
    from thecal.link.messages import Call, HandshakeHello, wire_registry
    from thecal.link.pump_endpoint import PumpEndpoint
    from thecal.link.pump_state import PumpLinkState

REGISTRY = wire_registry()
NOW = datetime(2026, 1, 1)


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


def one_input(data: bytes) -> None:
    assert isinstance(decode_frame(data), Frame | FrameError)
    REGISTRY.decode(data, Call)
    REGISTRY.decode(data, HandshakeHello)
    ENDPOINT.receive(data)
    for kind in FrameType:
        ENDPOINT.receive(encode_frame(Frame(kind, 0, data[:65536])))


def main(argv: list[str]) -> None:
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
