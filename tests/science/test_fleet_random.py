"""The compiled PCG64 gives numpy's `Generator.random` numbers, in numpy's order."""

from __future__ import annotations

import numpy as np
import pytest

from thecal.science.fleet_random import advance, bank, fill_bank, get_state, set_state


@pytest.mark.parametrize("seed", [0, 1, 2**63 - 1])
@pytest.mark.parametrize("count", [1, 2, 7, 8])
@pytest.mark.parametrize("length", [1, 3, 1024, 5000])
def test_a_bank_of_streams_is_numpys_matrix_of_draws(seed: int, count: int, length: int) -> None:
    mine = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    numpy = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    for _ in range(2):  # twice: the second bank starts where the first left the generator
        streams = bank(get_state(mine), count, length)
        out = np.full((count, length), np.nan)
        live = streams[:count].copy()
        fill_bank(live, out, 0, length // 3)  # in two pieces, as the kernel fills chunks
        fill_bank(live, out, length // 3)
        assert np.array_equal(out, numpy.random((count, length)))
        assert np.array_equal(live[-1], streams[count])  # the last stream ends the bank
        set_state(mine, streams[count])
    assert np.array_equal(mine.random(5), numpy.random(5))


@pytest.mark.parametrize("delta", [0, 1, 2, 12345, 2**40 + 7])
def test_jump_ahead_matches_numpys_advance(delta: int) -> None:
    rng = np.random.default_rng(11)
    state = get_state(rng)
    a_hi, a_lo, c_hi, c_lo = advance(delta, state[2], state[3])
    a = (int(a_hi) << 64) | int(a_lo)
    c = (int(c_hi) << 64) | int(c_lo)
    s = (int(state[0]) << 64) | int(state[1])
    rng.bit_generator.advance(delta)
    assert rng.bit_generator.state["state"]["state"] == (a * s + c) % 2**128


def test_only_pcg64_is_reproduced() -> None:
    with pytest.raises(ValueError, match="PCG64"):
        get_state(np.random.Generator(np.random.MT19937(1)))
