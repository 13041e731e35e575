"""evaluate_ranking / evaluate_rating / summarize_seeds on tiny models with known scores."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats

from freshrec.base import RecommenderBase
from freshrec.data import Event, EventBatch
from freshrec.data.batch import as_batch
from freshrec.errors import NotFittedError
from freshrec.evaluation import metrics
from freshrec.evaluation.protocols import (
    _layout,
    _sample_negatives,
    evaluate_ranking,
    evaluate_rating,
    summarize_seeds,
)
from freshrec.models.popular import MostPopular


class TableModel(RecommenderBase):
    """Scores from a fixed table indexed by *external* ids: ``table[user][item]``.

    Users and items are integers ``0..n-1``; an unknown user gets ``fallback`` (by external
    item id). Learning does nothing, so the scores are known exactly.
    """

    prior_score = -5.0

    def __init__(self, table: list[list[float]], fallback: list[float]) -> None:
        self.table = table
        self.fallback = fallback

    def _grow(self, n_users: int, n_items: int) -> None:
        pass

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        pass

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        items = np.arange(self.n_items) if item_idx is None else item_idx
        external = np.array([-1 if v is None else v for v in self.item_map_.ids])[items]
        table = np.asarray(self.table, dtype=float)
        scores = table[np.ix_(self.user_map_.decode(user_idx), np.maximum(external, 0))]
        scores[:, external < 0] = 100.0  # evicted slots score highest: they must be masked
        return scores

    def _fallback_scores(self, item_idx: np.ndarray | None) -> np.ndarray:
        items = np.arange(self.n_items) if item_idx is None else item_idx
        return np.asarray(self.fallback, dtype=float)[self.item_map_.decode(items)]


def events(pairs: list[tuple[int | str, int | str]], value: float = 1.0) -> list[Event]:
    return [Event(u, i, value) for u, i in pairs]


# 3 users x 6 items. User 0 prefers low item ids, user 1 high ones, user 2 item 3 first.
TABLE = [
    [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    [1.0, 2.0, 3.0, 9.0, 5.0, 4.0],
]
FALLBACK = [0.0, 0.0, 0.0, 0.0, 0.0, 7.0]  # unknown users: item 5 first
# every user and item appears once, in id order, so the model knows all of them
TRAIN = events([(0, 0), (1, 5), (2, 1), (0, 2), (1, 3), (2, 4)])
# ids the model never saw (integers too: an IdMap cannot sort a mix of ints and strings)
NEW_USER, NEVER_SEEN = 99, 98


@pytest.fixture
def model() -> TableModel:
    return TableModel(TABLE, FALLBACK).fit(TRAIN)


# -- full ranking ---------------------------------------------------------------------------
def test_train_and_exclude_items_are_masked(model: TableModel) -> None:
    # user 0 ranks 0 > 1 > 2 > 3; item 0 and 2 are in train, item 1 in the validation split
    test = events([(0, 3)])
    valid = events([(0, 1)])
    masked = evaluate_ranking(model, TRAIN, test, k=1, exclude=[valid], metrics=("hit",))
    assert masked["hit@1"] == 1.0  # 0, 1, 2 masked -> item 3 first
    unmasked = evaluate_ranking(model, TRAIN, test, k=1, metrics=("hit",))
    assert unmasked["hit@1"] == 0.0  # item 1 comes first
    assert evaluate_ranking(model, TRAIN, test, k=2, metrics=("mrr",))["mrr@2"] == 0.5


def test_test_item_also_in_train_cannot_be_hit(model: TableModel) -> None:
    # user 0 had item 0 in train; a repeat of it in test is masked like every train item
    result = evaluate_ranking(model, TRAIN, events([(0, 0)]), k=6, metrics=("hit",))
    assert result["hit@6"] == 0.0


def test_unknown_user_is_scored_by_fallback(model: TableModel) -> None:
    # NEW_USER is unknown to the model: fallback puts item 5 first
    result = evaluate_ranking(model, TRAIN, events([(NEW_USER, 5)]), k=1, metrics=("hit", "ndcg"))
    assert result == pytest.approx(
        {
            "hit@1": 1.0,
            "ndcg@1": 1.0,
            "coverage@1": 1 / 6,
            "novelty@1": -math.log2(1 / 3),
            "gini@1": 5 / 6,
            "n_users": 1,
        }
    )


def test_unknown_user_train_items_are_masked(model: TableModel) -> None:
    # a test user unknown to the model but present in the given train batch: masked too
    train = TRAIN + events([(NEW_USER, 5)])
    result = evaluate_ranking(model, train, events([(NEW_USER, 4)]), k=1, metrics=("hit",))
    assert result["hit@1"] == 0.0  # item 5 masked; fallback ties at 0 -> lowest index 0


def test_unknown_test_items_count_in_denominator(model: TableModel) -> None:
    # user 1 ranks 5 (train, masked) > 4 > 3 ...; test items: 4 and an item the model never saw
    test = events([(1, 4), (1, NEVER_SEEN)])
    result = evaluate_ranking(model, TRAIN, test, k=1, metrics=("recall", "precision", "ndcg"))
    assert result["recall@1"] == 0.5  # 1 hit / 2 test items
    assert result["precision@1"] == 1.0
    assert result["ndcg@1"] == 1.0  # ideal over min(2, 1) = 1 position


def test_every_distinct_test_user_counts_once(model: TableModel) -> None:
    test = events([(0, 1), (0, 4), (2, 3), (NEW_USER, 0)])
    result = evaluate_ranking(model, TRAIN, test, k=(1, 3))
    assert result["n_users"] == 3
    # user 0: 0, 2 masked -> 1 first (hit); user 2: 3 first (hit); new: 5 first (miss)
    assert result["hit@1"] == pytest.approx(2 / 3)
    assert set(result) >= {"recall@1", "ndcg@3", "map@3", "coverage@3", "novelty@3", "gini@3"}


def test_threshold_filters_test_events(model: TableModel) -> None:
    test = [Event(2, 3, 5.0), Event(0, 1, 1.0)]  # only user 2's event is kept
    result = evaluate_ranking(model, TRAIN, test, k=1, metrics=("hit",), threshold=4.0)
    assert result["n_users"] == 1 and result["hit@1"] == 1.0


def test_evicted_items_are_never_recommended(model: TableModel) -> None:
    model.item_map_.evict([3])  # user 2's favourite
    test = events([(2, 5)])
    result = evaluate_ranking(model, TRAIN, test, k=1, metrics=("hit",))
    assert result["hit@1"] == 1.0  # 3 gone, 4 masked (train) -> 5
    assert result["coverage@1"] == pytest.approx(1 / 5)  # 5 active items


def test_matches_recommend_batch_and_metrics(checkerboard: EventBatch) -> None:
    # MostPopular on the checkerboard: hold out each user's last event
    order = np.argsort(checkerboard.timestamp)
    batch = checkerboard.take(order)
    last = np.zeros(len(batch), dtype=bool)
    _, first_from_end = np.unique(batch.user[::-1], return_index=True)
    last[len(batch) - 1 - first_from_end] = True
    train, test = batch.take(~last), batch.take(last)
    model = MostPopular().fit(train)
    result = evaluate_ranking(model, train, test, k=(5, 10))
    # the same by hand: recommend_batch with the train matrix excluded, then the metrics
    user_idx = model.user_map_.encode(test.user)
    seen = model.positives_csr()[user_idx]
    ranked = model.recommend_batch(user_idx, 10, exclude=seen)
    relevant = sp.csr_matrix(
        (np.ones(len(test)), (np.arange(len(test)), model.item_map_.encode(test.item))),
        shape=(len(test), model.n_items),
    )
    for k in (5, 10):
        assert result[f"ndcg@{k}"] == pytest.approx(metrics.ndcg_at_k(ranked, relevant, k))
        assert result[f"recall@{k}"] == pytest.approx(metrics.recall_at_k(ranked, relevant, k))
        assert result[f"map@{k}"] == pytest.approx(metrics.map_at_k(ranked, relevant, k))
    assert result["n_users"] == 20


def test_batch_size_does_not_change_results(checkerboard: EventBatch) -> None:
    model = MostPopular().fit(checkerboard[:100])
    train, test = checkerboard[:100], checkerboard[100:]
    for protocol in ("full", "sampled"):
        small = evaluate_ranking(model, train, test, protocol=protocol, n_negatives=5, batch_size=1)
        large = evaluate_ranking(model, train, test, protocol=protocol, n_negatives=5)
        assert small == large


def test_nan_scores_fail_loudly(model: TableModel) -> None:
    model.table = [[math.nan] * 6] * 3
    with pytest.raises(ValueError, match="NaN"):
        evaluate_ranking(model, TRAIN, events([(0, 3)]))


def test_bad_arguments_raise(model: TableModel) -> None:
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_ranking(model, TRAIN, events([(0, 3)]), metrics=("auc",))
    with pytest.raises(ValueError, match="protocol"):
        evaluate_ranking(model, TRAIN, events([(0, 3)]), protocol="loo")
    with pytest.raises(ValueError, match="k must"):
        evaluate_ranking(model, TRAIN, events([(0, 3)]), k=0)
    with pytest.raises(NotFittedError):
        evaluate_ranking(TableModel(TABLE, FALLBACK), TRAIN, events([(0, 3)]))


# -- sampled ranking ------------------------------------------------------------------------
def test_sampled_is_deterministic_per_seed(checkerboard: EventBatch) -> None:
    train, test = checkerboard[:110], checkerboard[110:]
    model = MostPopular().fit(train)
    first = evaluate_ranking(model, train, test, protocol="sampled", n_negatives=4, seed=7)
    again = evaluate_ranking(model, train, test, protocol="sampled", n_negatives=4, seed=7)
    assert first == again
    others = [
        evaluate_ranking(model, train, test, protocol="sampled", n_negatives=4, seed=s)
        for s in range(5)
    ]
    assert any(o != first for o in others)
    assert "coverage@10" not in first  # list metrics belong to full ranking only


def test_sampled_negatives_avoid_every_interacted_item() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 25
    pairs = [(u, int(i)) for u in range(n_users) for i in rng.choice(n_items, 15, replace=False)]
    train = as_batch(events(pairs[::3] + [(0, i) for i in range(n_items)]))  # all items known
    valid = as_batch(events(pairs[1::3]))
    test = as_batch(events(pairs[2::3]))
    model = MostPopular().fit(train)
    split = _layout(model, test, [model.encode(train), model.encode(valid)])
    relevant = split.relevant
    pair_rows = np.repeat(np.arange(relevant.shape[0]), np.diff(relevant.indptr))
    negatives = _sample_negatives(split, pair_rows, 50, np.random.default_rng(1))
    interacted = (split.seen + relevant[:, :n_items]).tolil().rows
    for pair, row in enumerate(pair_rows):
        valid_negs = negatives[pair][negatives[pair] >= 0]
        assert not set(valid_negs) & set(interacted[row])
        assert relevant.indices[pair] not in valid_negs  # the target is never a negative
    # user 0 saw the whole catalogue in train: no candidate, so no negative at all
    assert (negatives[pair_rows == 0] == -1).all()


def test_sampled_ranks_target_against_negatives(model: TableModel) -> None:
    # user 2's test item is 3, its favourite: rank 0 whatever the negatives
    top = evaluate_ranking(model, TRAIN, events([(2, 3)]), k=1, protocol="sampled", n_negatives=20)
    assert top["hit@1"] == 1.0 and top["ndcg@1"] == 1.0
    # user 0's test item is 5, its least liked; candidates are 1, 3, 4 (0, 2 train, 5 test):
    # every negative scores higher, so the rank is n_negatives and HR@k is 1 only for k > n
    low = evaluate_ranking(
        model,
        TRAIN,
        events([(0, 5)]),
        k=(3, 4),
        protocol="sampled",
        n_negatives=3,
        metrics=("hit", "mrr"),
    )
    assert low["hit@3"] == 0.0 and low["hit@4"] == 1.0 and low["mrr@4"] == 0.25


def test_sampled_unknown_test_item_is_a_miss(model: TableModel) -> None:
    result = evaluate_ranking(
        model,
        TRAIN,
        events([(2, 3), (1, NEVER_SEEN)]),
        k=5,
        protocol="sampled",
        n_negatives=2,
        metrics=("hit",),
    )
    assert result["hit@5"] == 0.5  # user 2 hits; user 1's only pair can never be hit


# -- ratings --------------------------------------------------------------------------------
def test_evaluate_rating_matches_per_event_scores(model: TableModel) -> None:
    test = [
        Event(0, 1, 4.0),
        Event(1, 4, 3.0),
        Event(2, 3, 5.0),
        Event(NEW_USER, 5, 6.0),
        Event(0, NEVER_SEEN, 1.0),
    ]
    result = evaluate_rating(model, test, batch_size=2)
    # predictions 5, 5, 9, 7 (fallback), -5 (prior): errors -1, 2, 4, -1, -6
    errors = np.array([-1.0, 2.0, 4.0, -1.0, -6.0])
    assert result["rmse"] == pytest.approx(math.sqrt((errors**2).mean()))
    assert result["mae"] == pytest.approx(np.abs(errors).mean())
    by_score = [model.score(e.user, [e.item])[0] for e in test]
    assert by_score == [5.0, 5.0, 9.0, 7.0, -5.0]


# -- seeds ----------------------------------------------------------------------------------
def test_summarize_seeds_t_interval() -> None:
    values = [0.30, 0.34, 0.29, 0.33]
    mean, (low, high) = summarize_seeds(values)
    sem = np.std(values, ddof=1) / 2.0
    half = scipy.stats.t.ppf(0.975, 3) * sem
    assert mean == pytest.approx(0.315)
    assert (low, high) == pytest.approx((0.315 - half, 0.315 + half))
    assert summarize_seeds([0.2]) == (0.2, (0.2, 0.2))
    with pytest.raises(ValueError):
        summarize_seeds([])


# -- speed ----------------------------------------------------------------------------------
class RandomFactors(RecommenderBase):
    """Random user/item factors; scores are a matrix product."""

    def __init__(self, n_factors: int = 32, seed: int | None = 0) -> None:
        self.n_factors = n_factors
        self.seed = seed

    def _grow(self, n_users: int, n_items: int) -> None:
        rng = np.random.default_rng(self.seed)
        self.user_factors_ = rng.normal(size=(n_users, self.n_factors))
        self.item_factors_ = rng.normal(size=(n_items, self.n_factors))

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        pass

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        items = self.item_factors_ if item_idx is None else self.item_factors_[item_idx]
        return self.user_factors_[user_idx] @ items.T


@pytest.mark.slow
def test_full_ranking_is_fast_at_movielens_1m_size() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, n_events = 6040, 3706, 1_000_000
    users = rng.integers(0, n_users, n_events)
    items = rng.integers(0, n_items, n_events)
    users[:n_users], items[:n_items] = np.arange(n_users), np.arange(n_items)
    train = EventBatch(users, items, np.ones(n_events))
    test = EventBatch(np.arange(n_users), rng.integers(0, n_items, n_users), np.ones(n_users))
    model = RandomFactors().fit(train)
    start = time.perf_counter()
    result = evaluate_ranking(model, train, test, k=(10, 20))
    assert time.perf_counter() - start < 15.0
    assert result["n_users"] == n_users
    # a random model hits about k / n_items of the time
    assert result["hit@10"] < 0.01
