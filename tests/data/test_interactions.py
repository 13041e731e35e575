"""InteractionLog's cached matrices: extended after appends, equal to a fresh build."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.data.interactions import InteractionLog


def _fresh(chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> InteractionLog:
    log = InteractionLog()
    users, items, values = (np.concatenate(c) for c in zip(*chunks, strict=True))
    log.append(users, items, values)
    return log


@pytest.mark.parametrize("how", ["binary", "sum", "last"])
@pytest.mark.parametrize("threshold", [None, 3.0])
def test_extended_matrices_equal_fresh_builds(how: str, threshold: float | None) -> None:
    rng = np.random.default_rng(0)
    log, chunks = InteractionLog(), []
    n_users = n_items = 5
    for _ in range(6):
        n_users, n_items = n_users + int(rng.integers(0, 3)), n_items + int(rng.integers(0, 3))
        chunk = (
            rng.integers(0, n_users, 40),
            rng.integers(0, n_items, 40),
            rng.integers(1, 6, 40).astype(np.float32),
        )
        chunks.append(chunk)
        log.append(*chunk)
        extended = log.to_csr(n_users, n_items, threshold=threshold, how=how)
        expected = _fresh(chunks).to_csr(n_users, n_items, threshold=threshold, how=how)
        assert extended.shape == expected.shape
        np.testing.assert_array_equal(extended.toarray(), expected.toarray())
    assert log.to_csr(n_users, n_items, threshold=threshold, how=how) is extended  # cached


def test_a_drop_rebuilds_and_a_cached_matrix_is_never_changed_in_place() -> None:
    log = InteractionLog()
    log.append(np.array([0, 1]), np.array([0, 1]), np.ones(2))
    before = log.to_csr(2, 2)
    log.append(np.array([1]), np.array([0]), np.ones(1))
    after = log.to_csr(2, 2)
    assert before.toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert after.toarray().tolist() == [[1.0, 0.0], [1.0, 1.0]]
    log.drop(items=np.array([0]))
    assert log.to_csr(2, 2).toarray().tolist() == [[0.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="how"):
        log.to_csr(2, 2, how="max")
