"""``top_allowed``: the best-scored tokens a bitmask allows, on both array kinds, against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formbound.models.forced import top_allowed


def _words(bits: np.ndarray) -> np.ndarray:
    padded = np.concatenate([bits, np.zeros((-len(bits)) % 32, dtype=bool)])
    return np.packbits(padded, bitorder="little").view(np.int32).copy()


def _expected(bits: np.ndarray, scores: np.ndarray, k: int) -> list[float]:
    allowed = sorted(np.flatnonzero(bits), key=lambda i: (-scores[i], i))
    return [float(scores[i]) for i in allowed[:k]]


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 300),
    k=st.integers(1, 6),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    ties=st.booleans(),
)
def test_numpy_top_allowed_matches_brute_force(n: int, k: int, density: float, seed: int, ties: bool) -> None:
    # Sparse masks take the allowed-subset path, dense ones the full-vector path: both must agree
    # with sorting the allowed tokens by score.
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal(n).astype(np.float32)
    if ties:
        scores = np.round(scores, 1)
    bits = rng.random(n) < density
    got = top_allowed(_words(bits), scores, k)
    assert all(bits[i] for i in got)
    assert len(set(got)) == len(got)
    assert [float(scores[i]) for i in got] == _expected(bits, scores, k)


def test_torch_and_numpy_agree() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for density in (0.001, 0.3, 0.9):
        scores = rng.standard_normal(4000).astype(np.float32)
        bits = rng.random(4000) < density
        words = _words(bits)
        want = top_allowed(words, scores, 4)
        got = top_allowed(torch.from_numpy(words.copy()), torch.from_numpy(scores), 4)
        assert got == want and len(want) == min(4, int(bits.sum()))


def test_nothing_allowed_gives_no_candidate() -> None:
    scores = np.zeros(70, dtype=np.float32)
    assert top_allowed(_words(np.zeros(70, dtype=bool)), scores, 3) == []
