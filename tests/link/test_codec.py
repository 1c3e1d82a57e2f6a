"""The payload codec: exact values survive, anything not declared is refused, and hostile
bytes are rejected without raising."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.link.codec import MAX_DEPTH, Decoded, PayloadError, TypeRegistry
from thecal.link.messages import Call, Reply, wire_registry
from thecal.pump.commands import (
    Accepted,
    AcknowledgeAlarm,
    ClinicianBolus,
    Interrogate,
    PatientBolusRequest,
    RegisterRefill,
    Rejected,
    Rejection,
    SetClock,
    Stop,
    WritePrescription,
)
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.quantities import Concentration, Duration, Mass, Volume

EXAMPLES = sorted(
    p
    for pattern in ("*.toml", "checks/*.toml")
    for p in (Path(__file__).parents[2] / "examples").glob(pattern)
)
REGISTRY = wire_registry()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_a_prescription_crosses_the_link_with_its_content_hash_intact(path: Path) -> None:
    rx = read_prescription(path)
    call = Call("r-1", WritePrescription(rx, rx.content_hash))
    decoded = REGISTRY.decode(REGISTRY.encode(call), Call)
    assert isinstance(decoded, Decoded)
    assert decoded.value == call
    assert decoded.value.body.prescription.content_hash == rx.content_hash


VALUES = [
    Call("a", Interrogate(log_since=12)),
    Call("b", ClinicianBolus(Mass(Fraction(1, 3)), Duration.from_minutes(30))),
    Call(
        "c",
        RegisterRefill(
            Volume.from_ml("2.35"), Volume.from_ml(20), "morphine", Concentration.from_mg_per_ml(25)
        ),
    ),
    Call("d", SetClock(datetime(2026, 3, 29, 2, 30))),
    Call("e", AcknowledgeAlarm("low_reservoir")),
    Reply("f", Rejected(Rejection.LOCKOUT, "wait", datetime(2026, 1, 1, 8, 0))),
    Reply("g", Accepted("ok", {"count": 3, "window": timedelta(hours=24), "who": (1, "x")})),
    Reply("h", Accepted("none")),
]


@pytest.mark.parametrize(
    "value", VALUES, ids=lambda v: type(v.body if isinstance(v, Call) else v.response).__name__
)
def test_commands_and_responses_round_trip_exactly(value: object) -> None:
    decoded = REGISTRY.decode(REGISTRY.encode(value), type(value))
    assert isinstance(decoded, Decoded)
    assert decoded.value == value


def test_an_exact_third_stays_an_exact_third() -> None:
    value = Call("x", ClinicianBolus(Mass(Fraction(1, 3)), Duration(Fraction(7, 2))))
    decoded = REGISTRY.decode(REGISTRY.encode(value), Call)
    assert isinstance(decoded, Decoded)
    assert decoded.value.body.dose.amount == Fraction(1, 3)


def test_a_float_cannot_be_sent() -> None:
    with pytest.raises(TypeError, match="not a registered wire type"):
        REGISTRY.encode(Accepted("x", 0.1))


def test_an_unregistered_type_cannot_be_sent() -> None:
    @dataclass(frozen=True)
    class Secret:
        value: int

    with pytest.raises(TypeError, match="not a registered wire type"):
        REGISTRY.encode(Accepted("x", Secret(1)))


def test_an_unregistered_type_name_on_the_wire_is_refused() -> None:
    @dataclass(frozen=True)
    class Probe:
        value: int

    other = TypeRegistry([Probe])
    result = REGISTRY.decode(other.encode(Probe(1)))
    assert isinstance(result, PayloadError)
    assert "not a wire type" in result.detail


def test_a_field_of_the_wrong_type_is_refused_before_the_value_is_built() -> None:
    @dataclass(frozen=True)
    class Mass:  # same field name, loose type: forges a Mass(amount="1e999999")
        amount: str

    Mass.__module__, Mass.__qualname__ = "thecal.therapy.quantities", "Mass"
    forged = TypeRegistry([Mass]).encode(Mass("1e999999"))
    result = REGISTRY.decode(forged)
    assert isinstance(result, PayloadError)
    assert "is not Fraction" in result.detail


def test_a_value_its_own_type_refuses_is_refused() -> None:
    good = REGISTRY.encode(Call("ok-id", Stop()))
    bad = good.replace(b"ok-id", b"ok id")  # space not allowed in request ids
    result = REGISTRY.decode(bad, Call)
    assert isinstance(result, PayloadError)
    assert "request id" in result.detail


def test_the_wrong_top_level_type_is_refused() -> None:
    result = REGISTRY.decode(REGISTRY.encode(Call("a", Stop())), Reply)
    assert isinstance(result, PayloadError)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x03\x02\x00\x01", "shortest form"),  # int 1 padded to two bytes
        (b"\x03\x41" + bytes(65), "integer length"),
        (b"\x06\x03\x01\x02\x03\x01\x04", "lowest terms"),  # 2/4
        (b"\x06\x03\x01\x01\x03\x01\xff", "positive denominator"),  # 1/-1
        (b"\x07\xff\xff\xff\xff", "cannot fit"),
        (b"\x04\x00\x00\x00\x02\xff\xfe", "UTF-8"),
        (b"\x99", "unknown tag"),
        (b"\x00\x00", "trailing"),
    ],
)
def test_non_canonical_or_impossible_encodings_are_refused(data: bytes, problem: str) -> None:
    result = REGISTRY.decode(data)
    assert isinstance(result, PayloadError)
    assert problem in result.detail


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    data = b"\x07\x00\x00\x00\x01" * (MAX_DEPTH + 2) + b"\x00"
    result = REGISTRY.decode(data)
    assert isinstance(result, PayloadError)
    assert "deeper" in result.detail


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_decoding_arbitrary_bytes_never_raises(data: bytes) -> None:
    assert isinstance(REGISTRY.decode(data, Call), Decoded | PayloadError)


SEEDS = [REGISTRY.encode(v) for v in VALUES] + [
    REGISTRY.encode(
        Call("rx", WritePrescription(read_prescription(p), read_prescription(p).content_hash))
    )
    for p in EXAMPLES[:2]
]


@settings(max_examples=400)
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_valid_payloads_decode_or_are_refused_but_never_raise(
    seed: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    result = REGISTRY.decode(bytes(data))
    assert isinstance(result, Decoded | PayloadError)
    if isinstance(result, Decoded):  # whatever decodes re-encodes to exactly these bytes
        assert REGISTRY.encode(result.value) == bytes(data)


def test_patient_bolus_request_is_a_registered_command() -> None:
    assert REGISTRY.known(PatientBolusRequest)
