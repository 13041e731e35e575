"""The synthetic stream: seeded, consistent with item arrivals, drifting, and learnable."""

from __future__ import annotations

import time

import numpy as np
import pytest

from freshrec.data import Dataset
from freshrec.data.splits import temporal_global_split
from freshrec.data.synthetic import synthetic_stream


@pytest.fixture(scope="module")
def stream() -> Dataset:
    return synthetic_stream(seed=0)


def test_same_seed_same_data(stream: Dataset) -> None:
    again = synthetic_stream(seed=0)
    for name in ("user", "item", "value", "timestamp"):
        assert np.array_equal(getattr(stream.events, name), getattr(again.events, name))
    for name, column in stream.items.columns.items():
        assert np.array_equal(column, again.items.columns[name])


def test_other_seed_other_data(stream: Dataset) -> None:
    other = synthetic_stream(seed=1)
    assert not np.array_equal(stream.events.item, other.events.item)


def test_sizes_are_as_requested() -> None:
    ds = synthetic_stream(n_users=50, n_items=40, n_events=900, n_categories=3, seed=2)
    assert len(ds.events) == 900
    assert ds.events.user.min() >= 0 and ds.events.user.max() < 50
    assert ds.items.ids.tolist() == list(range(40))
    assert set(ds.items.columns["category"]) <= {"action", "comedy", "drama"}
    assert ds.name == "synthetic"


def test_default_size_is_fast() -> None:
    start = time.perf_counter()
    synthetic_stream()
    assert time.perf_counter() - start < 2.0


def test_events_are_time_ordered_ratings_without_repeats(stream: Dataset) -> None:
    events = stream.events
    assert (np.diff(events.timestamp) > 0).all()
    assert np.array_equal(events.timestamp, np.round(events.timestamp))  # whole seconds
    assert set(np.unique(events.value).tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.0 < events.value.mean() < 4.2
    pairs = events.user * len(stream.items) + events.item
    assert len(np.unique(pairs)) == len(events)


def test_items_never_appear_before_arrival(stream: Dataset) -> None:
    arrival = stream.items.columns["arrival"]
    assert (stream.events.timestamp >= arrival[stream.events.item]).all()
    assert (np.diff(arrival) >= 0).all()  # item ids follow arrival order
    assert (arrival > stream.events.timestamp[0]).mean() >= 0.4  # many items arrive later


def test_popularity_shifts_over_time(stream: Dataset) -> None:
    items = stream.events.item
    quarter = len(items) // 4

    def top10(part: np.ndarray) -> set[int]:
        return set(np.argsort(-np.bincount(part, minlength=len(stream.items)))[:10].tolist())

    assert len(top10(items[:quarter]) & top10(items[-quarter:])) <= 3


def test_categories_carry_taste(stream: Dataset) -> None:
    category = stream.items.columns["category"][stream.events.item]
    top_share = []
    for user in range(50):
        _, counts = np.unique(category[stream.events.user == user], return_counts=True)
        top_share.append(counts.max() / counts.sum())
    assert np.mean(top_share) > 2.5 / 10  # far above an even spread over 10 categories


def recall_at_10(
    train_matrix: np.ndarray, test_users: np.ndarray, test_items: np.ndarray, scores: np.ndarray
) -> float:
    """Mean per-user recall@10 over users with history; seen items are never recommended."""
    recalls = []
    for user in np.unique(test_users):
        if train_matrix[user].sum() == 0:
            continue
        ranked = np.where(train_matrix[user] > 0, -np.inf, scores[user])
        top = np.argsort(-ranked, kind="stable")[:10]
        truth = set(test_items[test_users == user].tolist())
        recalls.append(len(truth & set(top.tolist())) / min(10, len(truth)))
    return float(np.mean(recalls))


def expected_random_recall(
    train_matrix: np.ndarray, test_users: np.ndarray, test_items: np.ndarray
) -> float:
    """Exact expected recall@10 of a uniform random ranking of the unseen known items."""
    known = train_matrix.sum(axis=0) > 0
    recalls = []
    for user in np.unique(test_users):
        if train_matrix[user].sum() == 0:
            continue
        candidates = known & (train_matrix[user] == 0)
        truth = set(test_items[test_users == user].tolist())
        hits = sum(bool(candidates[i]) for i in truth)
        recalls.append(min(10, candidates.sum()) * hits / candidates.sum() / min(10, len(truth)))
    return float(np.mean(recalls))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_structure_is_learnable_on_a_temporal_split(seed: int) -> None:
    # item-kNN > popularity > random, with a tiny co-occurrence scorer written here
    stream = synthetic_stream(seed=seed)
    split = temporal_global_split(stream.events, test_ratio=0.1)
    train, test = split.train, split.test
    matrix = np.zeros((stream.n_users, len(stream.items)))
    matrix[train.user, train.item] = 1.0
    popularity = matrix.sum(axis=0)
    norms = np.sqrt(np.maximum(popularity, 1.0))
    similarity = matrix.T @ matrix / norms[:, None] / norms[None, :]  # cosine co-occurrence
    np.fill_diagonal(similarity, 0.0)

    knn = recall_at_10(matrix, test.user, test.item, matrix @ similarity)
    pop = recall_at_10(matrix, test.user, test.item, np.tile(popularity, (len(matrix), 1)))
    rnd = expected_random_recall(matrix, test.user, test.item)
    assert knn > 1.5 * pop
    assert pop > 1.5 * rnd
