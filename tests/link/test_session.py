"""Session frames: counter nonces, authenticated headers, replay window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.link.frame import Frame, FrameType
from thecal.link.noise import TransportKeys
from thecal.link.session import REPLAY_WINDOW, Opened, OpenFailure, ReplayWindow, SessionCipher

A, B = bytes(range(32)), bytes(range(32, 64))


def _pair() -> tuple[SessionCipher, SessionCipher]:
    sid = b"S" * 8
    return (
        SessionCipher(sid, TransportKeys(A, B, b"h")),
        SessionCipher(sid, TransportKeys(B, A, b"h")),
    )


def test_a_frame_opens_once_and_its_replay_is_refused() -> None:
    sender, receiver = _pair()
    frame = sender.seal(b"bolus")
    assert receiver.open(frame) == Opened(0, b"bolus")
    assert receiver.open(frame) is OpenFailure.REPLAY


def test_counters_are_the_nonces_and_never_repeat() -> None:
    sender, _ = _pair()
    assert [sender.seal(b"x").sequence for _ in range(5)] == [0, 1, 2, 3, 4]


def test_out_of_order_frames_within_the_window_are_accepted() -> None:
    sender, receiver = _pair()
    sealed = [sender.seal(bytes([i])) for i in range(5)]
    for index in (4, 0, 2, 1, 3):
        assert isinstance(receiver.open(sealed[index]), Opened)


@pytest.mark.parametrize(
    ("behind", "outcome"),
    [(REPLAY_WINDOW - 1, None), (REPLAY_WINDOW, OpenFailure.TOO_OLD)],
    ids=["last-in-window", "just-outside"],
)
def test_the_replay_window_boundary(behind: int, outcome: OpenFailure | None) -> None:
    window = ReplayWindow()
    window.record(1000)
    assert window.check(1000 - behind) is outcome


@pytest.mark.parametrize("field", ["sequence", "session", "ciphertext", "type"])
def test_altering_any_part_of_a_frame_makes_it_a_forgery(field: str) -> None:
    sender, receiver = _pair()
    frame = sender.seal(b"stop")
    altered = {
        "sequence": Frame(FrameType.DATA, 1, frame.payload),
        "session": Frame(FrameType.DATA, 0, b"T" + frame.payload[1:]),
        "ciphertext": Frame(FrameType.DATA, 0, frame.payload[:-1] + b"\x00"),
        "type": Frame(FrameType.SESSION_UNKNOWN, 0, frame.payload),
    }[field]
    assert receiver.open(altered) in (OpenFailure.FORGED, OpenFailure.WRONG_SESSION)


def test_a_forged_frame_does_not_move_the_window() -> None:
    sender, receiver = _pair()
    genuine = sender.seal(b"a")
    forged = Frame(FrameType.DATA, 50, genuine.payload)
    assert receiver.open(forged) is OpenFailure.FORGED
    assert receiver.window.highest == -1
    assert isinstance(receiver.open(genuine), Opened)


@settings(deadline=None)  # 151 AEAD frames an example: a loaded machine is slow, not wrong
@given(st.lists(st.integers(0, 150), max_size=200))
def test_whatever_the_delivery_order_each_frame_is_accepted_at_most_once(order: list[int]) -> None:
    sender, receiver = _pair()
    sealed = [sender.seal(bytes([i % 256])) for i in range(151)]
    accepted: list[int] = []
    for index in order:
        result = receiver.open(sealed[index])
        if isinstance(result, Opened):
            accepted.append(result.counter)
    assert len(accepted) == len(set(accepted))
