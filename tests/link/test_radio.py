"""The lossy radio simulation: seeded, so a failing chaos run replays exactly."""

from __future__ import annotations

import random

import pytest

from thecal.link.controller import LinkDown
from thecal.link.transports.radio import LossyRadio, RadioFaults

NOISY = RadioFaults(drop=0.2, duplicate=0.2, reorder=0.2, corrupt=0.2, disconnect=0.05)


def _session(seed: int) -> tuple[list[bytes], list[object]]:
    """Send 200 numbered datagrams to an echoing pump; record what each side saw."""
    arrived: list[bytes] = []

    def echo(data: bytes) -> list[bytes]:
        arrived.append(data)
        return [data[::-1]]

    radio = LossyRadio(echo, NOISY, random.Random(seed))
    seen: list[object] = []
    for number in range(200):
        try:
            radio.send(number.to_bytes(4, "big"))
            seen.append(radio.receive(1.0))
        except LinkDown:
            seen.append("down")
            radio.reconnect()
    return arrived, seen


def test_the_same_seed_gives_the_same_faults_in_the_same_places() -> None:
    assert _session(42) == _session(42)
    assert _session(42) != _session(43)


def test_every_kind_of_fault_happens_at_these_rates() -> None:
    arrived, seen = _session(7)
    sent = [n.to_bytes(4, "big") for n in range(200)]
    assert len(set(arrived) - set(sent)) > 0  # corrupted copies arrived
    assert len(arrived) != len(set(arrived))  # duplicates arrived
    assert "down" in seen and None in seen  # disconnects and silent drops


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_fault_rates_must_be_probabilities(value: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        RadioFaults(drop=value)
