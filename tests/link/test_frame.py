"""The frame codec: exact round trips, and every kind of malformed input refused by name."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.link.frame import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    Frame,
    FrameError,
    FrameProblem,
    FrameReader,
    FrameType,
    decode_frame,
    encode_frame,
)

frames = st.builds(
    Frame,
    st.sampled_from(list(FrameType)),
    st.integers(0, 2**64 - 1),
    st.binary(max_size=256),
)


@given(frames)
def test_every_frame_round_trips_exactly(frame: Frame) -> None:
    assert decode_frame(encode_frame(frame)) == frame


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


GOOD = encode_frame(Frame(FrameType.DATA, 7, b"payload"))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", FrameProblem.TRUNCATED),
        (GOOD[:19], FrameProblem.TRUNCATED),
        (b"XX" + GOOD[2:], FrameProblem.BAD_MAGIC),
        (GOOD[:2] + b"\x02" + GOOD[3:], FrameProblem.BAD_VERSION),
        (
            _with_crc(b"TL\x01" + struct.pack(">I", MAX_PAYLOAD + 1) + b"\x20" + bytes(8)),
            FrameProblem.TOO_LONG,
        ),
        (GOOD + b"\x00", FrameProblem.BAD_LENGTH),
        (_with_crc(b"TL\x01" + struct.pack(">I", 0) + b"\x7f" + bytes(8)), FrameProblem.BAD_TYPE),
        (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), FrameProblem.BAD_CHECKSUM),
        (GOOD[:HEADER_SIZE] + b"Payload" + GOOD[-4:], FrameProblem.BAD_CHECKSUM),
    ],
    ids=lambda v: v.name if isinstance(v, FrameProblem) else None,
)
def test_malformed_bytes_are_refused_with_the_problem_named(
    data: bytes, problem: FrameProblem
) -> None:
    result = decode_frame(data)
    assert isinstance(result, FrameError)
    assert result.problem is problem


def test_a_payload_of_exactly_the_maximum_is_accepted_and_one_more_is_not() -> None:
    assert decode_frame(encode_frame(Frame(FrameType.DATA, 0, bytes(MAX_PAYLOAD)))) is not None
    with pytest.raises(ValueError, match="exceeds"):
        Frame(FrameType.DATA, 0, bytes(MAX_PAYLOAD + 1))


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_decoding_arbitrary_bytes_never_raises(data: bytes) -> None:
    assert isinstance(decode_frame(data), Frame | FrameError)


@settings(max_examples=300)
@given(frames, st.lists(st.tuples(st.integers(0, 300), st.integers(1, 255)), max_size=4))
def test_a_corrupted_frame_is_never_accepted_as_a_different_frame(
    frame: Frame, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(encode_frame(frame))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    result = decode_frame(bytes(data))
    # CRC-32 detects every burst of up to 32 bits; 4 flipped bytes may escape it only
    # by an astronomically unlikely collision, which Hypothesis would shrink and show.
    assert isinstance(result, FrameError) or result == frame


@given(st.lists(frames, min_size=1, max_size=5), st.integers(1, 40))
def test_a_stream_cut_anywhere_yields_the_same_frames(frames_: list[Frame], chunk: int) -> None:
    stream = b"".join(encode_frame(f) for f in frames_)
    reader = FrameReader()
    got: list[Frame | FrameError] = []
    for start in range(0, len(stream), chunk):
        reader.feed(stream[start : start + chunk])
        got.extend(reader.frames())
    assert got == frames_
    assert reader.pending == 0


def test_a_stream_stops_at_the_first_malformed_frame() -> None:
    reader = FrameReader()
    reader.feed(GOOD + b"garbage-garbage-garbage" + GOOD)
    got = list(reader.frames())
    assert got[0] == decode_frame(GOOD)
    assert isinstance(got[1], FrameError)
    assert len(got) == 2
    reader.feed(GOOD)
    assert list(reader.frames()) == []
