"""Approximate retrieval: exact re-scoring, exclusions, recall against exact search."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from freshrec.serving.retrieval import ItemIndex, recall_at_k  # noqa: E402


def _data(n_items: int = 3_000, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(n_items, dim)).astype(np.float32)
    users = rng.normal(size=(50, dim)).astype(np.float32)
    return items, users


def _exact_top(items: np.ndarray, users: np.ndarray, k: int) -> np.ndarray:
    scores = users @ items.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_flat_search_is_exact_and_hnsw_recalls_most_of_it() -> None:
    items, users = _data()
    truth = _exact_top(items, users, 10)

    def exact(q: int, rows: np.ndarray) -> np.ndarray:
        return users[q] @ items[rows].T

    flat, _ = ItemIndex("flat").build(items).search(users, 10, exact=exact)
    hnsw, scores = ItemIndex("hnsw", ef_search=64).build(items).search(users, 10, exact=exact)
    assert recall_at_k(flat, truth) == 1.0
    assert recall_at_k(hnsw, truth) >= 0.95
    assert np.allclose(scores, np.take_along_axis(users @ items.T, hnsw, axis=1))


def test_excluded_rows_never_come_back_and_rows_are_padded() -> None:
    items, users = _data(n_items=40)
    excluded = [set(range(0, 40, 2)) for _ in users]

    def exact(q: int, rows: np.ndarray) -> np.ndarray:
        return users[q] @ items[rows].T

    rows, scores = ItemIndex("flat").build(items).search(users, 30, exact=exact, exclude=excluded)
    assert not np.isin(rows, list(excluded[0])).any()
    assert (rows[:, 20:] == -1).all() and np.isneginf(scores[:, 20:]).all()


def test_added_items_are_found() -> None:
    items, users = _data(n_items=500)
    index = ItemIndex("hnsw").build(items[:400]).add(items[400:])
    assert index.n_items == 500

    def exact(q: int, rows: np.ndarray) -> np.ndarray:
        return users[q] @ items[rows].T

    rows, _ = index.search(users, 10, exact=exact)
    assert recall_at_k(rows, _exact_top(items, users, 10)) >= 0.95
