"""Fuzzing of the frame and handshake parsers: random and mutated inputs, at the pump
endpoint itself, never raise and never reach the firmware."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.link.pumps import simulated_pump
from thecal.link.frame import Frame, FrameType, encode_frame
from thecal.link.guard import COOKIE_LEN
from thecal.link.pump_endpoint import MODE_ENROL, MODE_SESSION

ROOT = Path(__file__).parents[2]


def test_coverage_guided_fuzzing_finds_no_crash_in_frame_payload_or_endpoint_parsers() -> None:
    # atheris (libFuzzer) for a short campaign; any exception fails the run with a report.
    result = subprocess.run(
        [sys.executable, "-m", "tests.link.fuzz_parsers", "-runs=4000", "-seed=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 4000 runs" in result.stderr


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from([MODE_SESSION, MODE_ENROL, 7]),
    body=st.binary(max_size=200),
    with_valid_cookie=st.booleans(),
)
def test_the_handshake_parser_answers_any_message_1_without_raising_or_acting(
    mode: int, body: bytes, with_valid_cookie: bool
) -> None:
    pump = simulated_pump(open_pairing=True)
    before = pump.twin_fingerprint()
    cookie = bytes(COOKIE_LEN)
    if with_valid_cookie:
        cookie = pump.endpoint.guard.issue_cookie(body[:32], pump.now())
    payload = bytes([mode]) + cookie + body
    replies = pump.endpoint.receive(encode_frame(Frame(FrameType.HANDSHAKE_INIT, 0, payload)))
    assert len(replies) <= 1
    assert pump.twin_fingerprint() == before
    assert not pump.endpoint.state.controllers
    assert not pump.endpoint.sessions


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(list(FrameType)), payload=st.binary(max_size=120))
def test_any_frame_of_any_type_from_a_stranger_changes_nothing(
    kind: FrameType, payload: bytes
) -> None:
    pump = simulated_pump()
    before = pump.twin_fingerprint()
    pump.endpoint.receive(encode_frame(Frame(kind, 0, payload)))
    assert pump.twin_fingerprint() == before
    assert pump.endpoint.stats.commands_handled == 0
    assert isinstance(pump.now(), datetime)
