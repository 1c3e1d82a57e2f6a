"""Fuzzing every parser the pump and the programmer expose (`tests.link.parsers`): random
bytes into each, mutated real state files, and a short coverage-guided campaign. Every
input gets a value or the parser's typed refusal, and nothing reaches the firmware."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.link.parsers import TARGETS
from tests.link.pumps import credential, init_payload, simulated_pump
from thecal.link.authority import Credential
from thecal.link.frame import Frame, FrameType, encode_frame
from thecal.link.guard import COOKIE_LEN
from thecal.link.keys import StaticKey
from thecal.link.pump_endpoint import MODE_CREDENTIAL, MODE_ENROL, MODE_SESSION
from thecal.link.pump_state import PumpLinkState
from thecal.link.served_pump import ImplantSpec, ServedPump, read_state
from thecal.programmer.home import ControllerHome, PumpPairing
from thecal.pump.commands import Role
from thecal.therapy.quantities import Concentration, Volume

ROOT = Path(__file__).parents[2]
ATHERIS_RUNS = 4000


def test_coverage_guided_fuzzing_finds_no_crash_in_any_parser() -> None:
    # atheris (libFuzzer) for a short campaign; any exception fails the run with a report.
    result = subprocess.run(
        [sys.executable, "-m", "tests.link.fuzz_parsers", f"-runs={ATHERIS_RUNS}", "-seed=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Done {ATHERIS_RUNS} runs" in result.stderr


@settings(max_examples=400, deadline=None)
@given(target=st.sampled_from(sorted(TARGETS)), data=st.binary(max_size=400))
def test_every_parser_answers_any_bytes_with_a_value_or_its_refusal(
    target: str, data: bytes
) -> None:
    TARGETS[target](data)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from([MODE_SESSION, MODE_ENROL, MODE_CREDENTIAL, 7]),
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
    replies = pump.endpoint.receive(
        encode_frame(Frame(FrameType.HANDSHAKE_INIT, 0, init_payload(mode, cookie, body)))
    )
    assert len(replies) <= 1
    assert pump.twin_fingerprint() == before
    assert not pump.endpoint.state.controllers
    assert not pump.endpoint.sessions


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
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


# -- state files: real documents, one part replaced by anything JSON can hold -------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


def _mutate(document: Any, draw: st.DataObject) -> Any:
    """`document` with one node (chosen by walking down) replaced, or removed from its
    object, by what `draw` gives."""
    if isinstance(document, dict) and document and draw.draw(st.booleans()):
        key = draw.draw(st.sampled_from(sorted(document)))
        changed = dict(document)
        if draw.draw(st.integers(0, 4)) == 0:
            del changed[key]
        else:
            changed[key] = _mutate(document[key], draw)
        return changed
    if isinstance(document, list) and document and draw.draw(st.booleans()):
        index = draw.draw(st.integers(0, len(document) - 1))
        return [*document[:index], _mutate(document[index], draw), *document[index + 1 :]]
    return draw.draw(JSON_VALUES)


@pytest.fixture(scope="module")
def state_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pump")
    spec = ImplantSpec("peristaltic-20", "FUZZ-2", "morphine", Concentration.from_mg_per_ml(10),
                       Volume.from_ml(20), None, True, datetime(2026, 5, 4, 8))  # fmt: skip
    served = ServedPump.open(folder, spec)
    key = StaticKey.generate()
    with served.lock:
        served.endpoint.state.last_hello[key.id] = 5
    served.stop()
    document: dict[str, Any] = json.loads((folder / "state.json").read_text())
    return document


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(draw=st.data())
def test_a_damaged_pump_state_file_is_refused_with_its_name_never_half_read(
    draw: st.DataObject, state_document: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(_mutate(state_document, draw)))
    try:
        read_state(path)
    except ValueError as error:
        assert str(path) in str(error)


@settings(max_examples=200, deadline=None)
@given(draw=st.data())
def test_a_damaged_link_state_or_credential_is_refused_with_a_message(
    draw: st.DataObject,
) -> None:
    pump = simulated_pump()
    pump.enrol(Role.PATIENT)
    for document, parse in (
        (pump.endpoint.state.to_dict(), PumpLinkState.from_dict),
        (credential(StaticKey.generate()).to_dict(), Credential.from_dict),
    ):
        try:
            parse(_mutate(document, draw))
        except ValueError as error:
            assert str(error)


@pytest.fixture(scope="module")
def home_documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = ControllerHome(tmp_path_factory.mktemp("home"))
    home.key()
    home.save_pairing(PumpPairing("S", "peristaltic-20", bytes(range(32)), "127.0.0.1:1",
                                  Role.CLINICIAN))  # fmt: skip
    return {name: json.loads((home.path / name).read_text())
            for name in ("identity.json", "pumps.json")}  # fmt: skip


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(draw=st.data())
def test_a_damaged_controller_state_directory_is_reported_by_file(
    draw: st.DataObject, home_documents: dict[str, Any], tmp_path: Path
) -> None:
    home = ControllerHome(tmp_path / draw.draw(st.uuids()).hex)
    name = draw.draw(st.sampled_from(sorted(home_documents)))
    for each, document in home_documents.items():
        changed = _mutate(document, draw) if each == name else document
        (home.path / each).write_text(json.dumps(changed))
    for read in (home.public_key, home.pairings, lambda: home.pending("S")):
        try:
            read()
        except ValueError as error:
            assert name in str(error) or "key file" in str(error)
