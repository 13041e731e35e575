"""IdMap: the dense fast path for integer ids must agree with the dictionary path exactly."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.idmap import IdMap


def _reference(chunks: list[np.ndarray]) -> list[np.ndarray]:
    """Codes by a plain dict in order of first appearance (what IdMap promises)."""
    index: dict = {}
    out = []
    for chunk in chunks:
        codes = []
        for value in chunk.tolist():
            codes.append(index.setdefault(value, len(index)))
        out.append(np.asarray(codes))
    return out


@pytest.mark.parametrize("high", [50, 5_000, 10**9])  # dense, dense, dict path
def test_growing_encode_matches_first_appearance_order(high):
    rng = np.random.default_rng(high)
    chunks = [rng.integers(0, high, size=n) for n in (40, 1000, 5000, 33)]
    ids = IdMap()
    got = [ids.encode(chunk, grow=True) for chunk in chunks]
    for mine, expected in zip(got, _reference(chunks), strict=True):
        assert np.array_equal(mine, expected)
    assert ids.encode(np.array([high + 5] * 40)).tolist() == [-1] * 40  # unknown, not grown


def test_dense_path_follows_eviction_and_reuse():
    ids = IdMap(range(100))
    big = np.arange(100).repeat(2)
    assert np.array_equal(ids.encode(big), big)  # builds the dense table
    freed = ids.evict([3, 7])
    codes = ids.encode(np.array([3, 7, 8] * 20))
    assert codes[:3].tolist() == [-1, -1, 8]
    new = ids.encode(np.array([500, 501] + [1] * 40), grow=True)
    assert new[:2].tolist() == freed.tolist()  # freed slots reused, in order
    assert ids.encode(np.array([500] * 40)).tolist() == [freed[0]] * 40


def test_mixed_keys_and_negative_ints_use_the_dictionary_path():
    ids = IdMap(["a", "b"])
    codes = ids.encode(np.arange(-20, 20), grow=True)
    assert codes.tolist() == list(range(2, 42))
    assert ids.encode(np.array(["b"] * 40, dtype=object)).tolist() == [1] * 40
    restored = IdMap.from_dict(ids.to_dict())
    assert restored.encode(np.arange(-20, 20)).tolist() == codes.tolist()
