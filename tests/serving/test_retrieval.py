"""Approximate retrieval: exact re-scoring, exclusions, recall against exact search."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

from freshrec.data.synthetic import synthetic_stream  # noqa: E402
from freshrec.live import Registry  # noqa: E402
from freshrec.log import open_log  # noqa: E402
from freshrec.models import BPR, MostPopular  # noqa: E402
from freshrec.serving.content import ContentRows  # noqa: E402
from freshrec.serving.retrieval import ItemIndex, recall_at_k  # noqa: E402
from freshrec.serving.store import ModelStore  # noqa: E402


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


def test_for_keys_reuses_extends_or_rebuilds_and_never_changes_the_start() -> None:
    items, users = _data(n_items=300)
    start = ItemIndex("hnsw").build(items[:200])
    assert start.for_keys(items[:200]) == (start, "reused")
    extended, how = start.for_keys(items)
    assert how == "extended" and extended is not start
    assert (start.n_items, extended.n_items) == (200, 300)
    moved = items.copy()
    moved[5] += 1.0
    assert start.for_keys(moved[:200])[1] == "built"
    assert start.for_keys(items[:100])[1] == "built"  # rows were removed


def _indexed_store(tmp_path: Path, kind: str) -> ModelStore:
    log = open_log("memory://")
    log.append(synthetic_stream(n_users=60, n_items=400, n_events=3_000, seed=0).events)
    registry = Registry(tmp_path / kind)
    model = BPR(n_factors=8, n_epochs=5, seed=0).learn_from_log(log)
    registry.promote(registry.publish(model))
    store = ModelStore(registry, log, index=ItemIndex(kind, ef_search=200))
    assert store.refresh()
    return store


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_store_answers_from_the_index_as_exact_scoring_does(tmp_path: Path, kind: str) -> None:
    store = _indexed_store(tmp_path, kind)
    plain = ModelStore(store.registry, store.log)
    assert plain.refresh()
    served = store.current()
    assert served is not None and served.index is not None
    for user in range(0, 60, 7):
        got = store.recommend(user, 10).items
        want = plain.recommend(user, 10).items
        assert [s.item for s in got] == [s.item for s in want]
        assert np.allclose([s.score for s in got], [s.score for s in want])
        assert not set(s.item for s in got) & set(store.seen_items(user))


def test_store_reuses_the_index_for_a_version_with_the_same_items(tmp_path: Path) -> None:
    store = _indexed_store(tmp_path, "hnsw")
    first = store.current()
    model = store.registry.load("stable")
    model.user_factors_ *= 2.0  # a version whose item rows did not change
    store.registry.promote(store.registry.publish(model))
    assert store.refresh()
    second = store.current()
    assert first is not None and second is not None
    assert second.version != first.version and second.index is first.index
    assert store.index_builds == {"built": 1, "reused": 1}


def test_a_model_without_item_vectors_is_served_unindexed_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _indexed_store(tmp_path, "flat")
    popular = MostPopular().learn_from_log(store.log)
    with caplog.at_level(logging.WARNING, logger="freshrec.serving.store"):
        for _ in range(2):  # two versions of a model that scores every item
            store.registry.promote(store.registry.publish(popular))
            assert store.refresh()
            served = store.current()
            assert served is not None and served.index is None
    assert [r.getMessage() for r in caplog.records] == [
        "MostPopular does not rank items by an inner product: it scores every item, no index"
    ]
    assert len(store.recommend(3, 5).items) == 5


def test_a_deleted_item_is_never_retrieved(tmp_path: Path) -> None:
    store = _indexed_store(tmp_path, "hnsw")
    best = store.recommend(3, 1).items[0].item
    store.delete_item(best)
    assert best not in [s.item for s in store.recommend(3, 50).items]


def test_unknown_users_and_candidate_lists_are_scored_exactly(tmp_path: Path) -> None:
    store = _indexed_store(tmp_path, "hnsw")
    assert len(store.recommend("nobody", 5).items) == 5
    picked = store.recommend(1, 2, candidates=[10, 11, 12]).items
    assert {s.item for s in picked} <= {10, 11, 12}


def test_an_item_put_with_text_joins_the_serving_index(tmp_path: Path) -> None:
    store = _indexed_store(tmp_path, "flat")
    store.content = ContentRows(encoder=lambda texts: np.eye(2)[[len(t) % 2 for t in texts]])
    store.content.min_known = 4
    for item in range(8):
        store.put_item(item, "x" * item, {})
    store.put_item("fresh", "new", {})
    serving = store.current()
    assert serving is not None and serving.index is not None
    assert serving.index.n_items < serving.model.n_items  # the new row is not indexed yet
    store.sync_index()
    synced = store.current()
    assert synced is not None and synced.index is not None
    assert synced.index.n_items == synced.model.n_items and synced.model is serving.model
    assert store.index_builds == {"built": 1, "extended": 1}
    everything = store.recommend(0, synced.model.n_items, exclude_seen=False).items
    assert "fresh" in [s.item for s in everything]


def test_try_recommend_answers_only_when_quick_and_the_store_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import freshrec.serving.store as store_module

    indexed = _indexed_store(tmp_path, "hnsw")
    found = indexed.try_recommend(3, 5)
    assert found is not None and found.items == indexed.recommend(3, 5).items
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with indexed._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    assert indexed.try_recommend(3, 5) is None  # busy: the caller goes to a thread
    release.set()
    holder.join()
    exact = ModelStore(indexed.registry, indexed.log)
    exact.refresh()
    assert exact.try_recommend(3, 5) is not None
    monkeypatch.setattr(store_module, "INLINE_ITEMS", 10)
    assert exact.try_recommend(3, 5) is None  # every item of a large catalogue: a thread
    assert exact.try_recommend(3, 2, candidates=[1, 2, 3]) is not None
