"""Metrics: agreement with scikit-learn, hand-worked cases, multi-positive and edge cases."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from freshrec.evaluation.metrics import (
    gini_index,
    hit_rate_at_k,
    hits_at_k,
    intra_list_diversity,
    item_coverage,
    mae,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    rmse,
)

ACCURACY = [precision_at_k, recall_at_k, hit_rate_at_k, ndcg_at_k, mrr_at_k, map_at_k]


def csr(rows: list[list[int]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


# -- scikit-learn ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 5, 10, 30])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    truth = (rng.random((n_users, n_items)) < rng.uniform(0.05, 0.5)).astype(int)
    truth[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1  # >= 1 test item each
    scores = rng.permuted(np.tile(np.arange(n_items, dtype=float), (n_users, 1)), axis=1)
    ranked = np.argsort(-scores, axis=1)  # every item ranked, no ties
    expected = sklearn_metrics.ndcg_score(truth, scores, k=k)
    assert ndcg_at_k(ranked, csr(truth.tolist()), k) == pytest.approx(expected, abs=1e-12)
    per_user = ndcg_at_k(ranked, csr(truth.tolist()), k, reduce=False)
    for u in range(0, n_users, 7):
        one = sklearn_metrics.ndcg_score(truth[u : u + 1], scores[u : u + 1], k=k)
        assert per_user[u] == pytest.approx(one, abs=1e-12)


# -- hand-worked cases ----------------------------------------------------------------------
# Two users, 6 items. user 0: test items {1, 3, 4}; user 1: test item {0}.
RELEVANT = csr([[0, 1, 0, 1, 1, 0], [1, 0, 0, 0, 0, 0]])
# user 0 ranks 3 (hit), 2, 1 (hit), 5; user 1 ranks 5, 4, 3, 0 (hit at rank 4)
RANKED = np.array([[3, 2, 1, 5], [5, 4, 3, 0]])


def test_hits_at_k_hand_worked() -> None:
    hits = hits_at_k(RANKED, RELEVANT, k=4)
    assert hits.tolist() == [[True, False, True, False], [False, False, False, True]]


def test_precision_hand_worked() -> None:
    # k=3: user 0 has 2 hits -> 2/3; user 1 has 0 -> 0; mean = 1/3
    assert precision_at_k(RANKED, RELEVANT, k=3) == pytest.approx(1 / 3)
    # k=4: 2/4 and 1/4 -> 3/8
    assert precision_at_k(RANKED, RELEVANT, k=4) == pytest.approx(3 / 8)


def test_recall_hand_worked() -> None:
    # k=3: user 0: 2 hits / 3 test items; user 1: 0 / 1 -> (2/3 + 0) / 2 = 1/3
    assert recall_at_k(RANKED, RELEVANT, k=3) == pytest.approx(1 / 3)
    # k=4: 2/3 and 1/1 -> 5/6
    assert recall_at_k(RANKED, RELEVANT, k=4) == pytest.approx(5 / 6)


def test_hit_rate_hand_worked() -> None:
    # k=1: user 0 hits at rank 1, user 1 does not -> 1/2; k=4: both hit -> 1
    assert hit_rate_at_k(RANKED, RELEVANT, k=1) == 0.5
    assert hit_rate_at_k(RANKED, RELEVANT, k=4) == 1.0


def test_ndcg_hand_worked() -> None:
    # k=4, user 0: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG over min(3, 4) = 3 positions
    #   = 1 + 1/log2(3) + 1/log2(4) = 2.1309...; NDCG = 1.5 / 2.1309 = 0.7039...
    # user 1: DCG = 1/log2(5); IDCG = 1 -> 0.4307...
    user0 = 1.5 / (1 + 1 / math.log2(3) + 0.5)
    user1 = 1 / math.log2(5)
    per_user = ndcg_at_k(RANKED, RELEVANT, k=4, reduce=False)
    assert per_user == pytest.approx([user0, user1])
    assert ndcg_at_k(RANKED, RELEVANT, k=4) == pytest.approx((user0 + user1) / 2)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # 3 test items, k=2: the ideal DCG uses min(3, 2) = 2 positions, so a perfect top-2 = 1
    relevant = csr([[1, 1, 1, 0]])
    assert ndcg_at_k(np.array([[2, 0]]), relevant, k=2) == pytest.approx(1.0)


def test_mrr_hand_worked() -> None:
    # user 0: first hit at rank 1 -> 1; user 1: first hit at rank 4 -> 1/4; mean 5/8
    assert mrr_at_k(RANKED, RELEVANT, k=4) == pytest.approx(5 / 8)
    # k=3: user 1 has no hit in the top 3 -> (1 + 0) / 2
    assert mrr_at_k(RANKED, RELEVANT, k=3) == pytest.approx(0.5)


def test_map_hand_worked() -> None:
    # user 0, k=4: hits at ranks 1 and 3: P@1 = 1, P@3 = 2/3 -> (1 + 2/3) / min(3, 4) = 5/9
    # user 1, k=4: hit at rank 4: P@4 = 1/4 -> (1/4) / min(1, 4) = 1/4
    assert map_at_k(RANKED, RELEVANT, k=4, reduce=False) == pytest.approx([5 / 9, 1 / 4])
    # k=2: user 0: P@1 = 1 -> 1 / min(3, 2) = 1/2; user 1: 0 -> mean 1/4
    assert map_at_k(RANKED, RELEVANT, k=2) == pytest.approx(0.25)


# -- multi-positive, ignored users, padding -------------------------------------------------
def test_multi_positive_perfect_ranking() -> None:
    relevant = csr([[1, 1, 1, 0, 0]])
    ranked = np.array([[0, 1, 2, 3, 4]])
    # 3 of 3 test items in the top 3
    assert precision_at_k(ranked, relevant, k=3) == 1.0
    assert recall_at_k(ranked, relevant, k=3) == 1.0
    assert ndcg_at_k(ranked, relevant, k=3) == pytest.approx(1.0)
    assert map_at_k(ranked, relevant, k=3) == pytest.approx(1.0)
    # k=5: precision 3/5; NDCG and MAP stay 1 (the ideal has only 3 hits)
    assert precision_at_k(ranked, relevant, k=5) == pytest.approx(0.6)
    assert ndcg_at_k(ranked, relevant, k=5) == pytest.approx(1.0)
    assert map_at_k(ranked, relevant, k=5) == pytest.approx(1.0)


def test_recall_denominator_is_all_test_items() -> None:
    # 5 test items, k=2, both recommended items are hits: recall = 2/5, not 2/min(2, 5) = 1
    relevant = csr([[1, 1, 1, 1, 1, 0]])
    assert recall_at_k(np.array([[0, 1]]), relevant, k=2) == pytest.approx(0.4)


@pytest.mark.parametrize("metric", ACCURACY)
def test_users_without_test_items_are_ignored(metric: Callable[..., Any]) -> None:
    with_empty = csr([[0, 1, 0], [0, 0, 0], [1, 0, 0]])
    without = csr([[0, 1, 0], [1, 0, 0]])
    ranked_with = np.array([[1, 0], [2, 1], [2, 1]])
    ranked_without = ranked_with[[0, 2]]
    assert metric(ranked_with, with_empty, k=2) == pytest.approx(
        metric(ranked_without, without, k=2)
    )
    assert len(metric(ranked_with, with_empty, k=2, reduce=False)) == 2


@pytest.mark.parametrize("metric", ACCURACY)
def test_padding_is_never_a_hit(metric: Callable[..., Any]) -> None:
    # a user whose test item is 0 gets no hit from padding, even though -1 could wrap to
    # the last column or a naive lookup could match index 0
    relevant = csr([[1, 0, 1]])
    padded = np.array([[-1, -1, -1]])
    assert metric(padded, relevant, k=3) == 0.0


def test_padding_keeps_positions() -> None:
    # hit after a padding slot still counts at its position (rank 2)
    relevant = csr([[0, 1, 0]])
    assert mrr_at_k(np.array([[-1, 1]]), relevant, k=2) == pytest.approx(0.5)


def test_no_user_with_test_items_gives_nan() -> None:
    relevant = csr([[0, 0, 0]])
    assert math.isnan(recall_at_k(np.array([[0, 1]]), relevant, k=2))
    assert len(recall_at_k(np.array([[0, 1]]), relevant, k=2, reduce=False)) == 0


def test_ranked_narrower_than_k_is_padded() -> None:
    # only 2 items could be ranked; precision@5 still divides by 5
    relevant = csr([[1, 1, 0]])
    assert precision_at_k(np.array([[0, 1]]), relevant, k=5) == pytest.approx(0.4)


def test_non_canonical_csr_is_accepted() -> None:
    # duplicates, unsorted indices and an explicit zero (which is not relevant)
    matrix = sp.csr_matrix(
        (np.array([1.0, 1.0, 1.0, 0.0]), np.array([2, 0, 2, 1]), np.array([0, 4])), shape=(1, 3)
    )
    hits = hits_at_k(np.array([[2, 1, 0]]), matrix, k=3)
    assert hits.tolist() == [[True, False, True]]
    assert recall_at_k(np.array([[2]]), matrix, k=1) == pytest.approx(0.5)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="outside"):
        hits_at_k(np.array([[5]]), csr([[1, 0]]), k=1)
    with pytest.raises(ValueError, match="rows"):
        hits_at_k(np.array([[0], [1]]), csr([[1, 0]]), k=1)
    with pytest.raises(ValueError, match="k must"):
        recall_at_k(np.array([[0]]), csr([[1, 0]]), k=0)


# -- beyond accuracy ------------------------------------------------------------------------
def test_item_coverage() -> None:
    # items {0, 2, 3} of 5 are recommended, padding ignored -> 3/5
    assert item_coverage(np.array([[0, 2], [3, -1], [0, 3]]), n_items=5) == pytest.approx(0.6)


def test_gini_index_extremes_and_hand_worked() -> None:
    assert gini_index(np.array([[0, 1], [2, 3]]), n_items=4) == pytest.approx(0.0)
    # all 3 slots on item 0 of 3 items: counts sorted (0, 0, 3):
    # sum (2i - n - 1) x_i = (2*3 - 4) * 3 = 6; / (n * sum x) = 6 / 9 = 2/3 = (n - 1) / n
    assert gini_index(np.array([[0], [0], [0]]), n_items=3) == pytest.approx(2 / 3)
    # counts (1, 3) over 2 items: ((2 - 3) * 1 + (4 - 3) * 3) / (2 * 4) = 2/8
    assert gini_index(np.array([[0, 1], [1, -1], [1, -1]]), n_items=2) == pytest.approx(0.25)
    assert math.isnan(gini_index(np.array([[-1]]), n_items=2))


def test_novelty_hand_worked() -> None:
    # 8 training users; pop = (8, 4, 1, 0): self-information 0, 1, 3 and (0 -> 1 user) 3 bits
    pop = np.array([8, 4, 1, 0])
    ranked = np.array([[0, 1], [2, 3], [1, -1]])
    # user 0: (0 + 1) / 2 = 0.5; user 1: (3 + 3) / 2 = 3; user 2: 1 (padding skipped)
    assert novelty(ranked, pop, n_users=8, reduce=False) == pytest.approx([0.5, 3.0, 1.0])
    assert novelty(ranked, pop, n_users=8) == pytest.approx(4.5 / 3)


def test_intra_list_diversity_vectors() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # list [0, 1, 2]: cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/sqrt(2)
    #   -> mean dissimilarity = (1 + 2 * (1 - 1/sqrt(2))) / 3
    expected = (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert intra_list_diversity(np.array([[0, 1, 2]]), vectors) == pytest.approx(expected)
    # a zero vector is dissimilar to everything; a list with one item is not counted
    ranked = np.array([[0, 3, -1], [2, -1, -1]])
    assert intra_list_diversity(ranked, vectors, reduce=False) == pytest.approx([1.0])


def test_intra_list_diversity_categories_match_one_hot_vectors() -> None:
    categories = np.array([0, 0, 1, 2, 1])
    one_hot = np.eye(3)[categories]
    ranked = np.array([[0, 1, 2, 3], [4, 2, -1, -1], [0, 2, 4, -1]])
    by_category = intra_list_diversity(ranked, item_categories=categories, reduce=False)
    by_vector = intra_list_diversity(ranked, one_hot, reduce=False)
    assert by_category == pytest.approx(by_vector)
    # list 0: 6 pairs, one similar (0, 1) -> 5/6; list 1: both category 1 -> 0;
    # list 2: pairs (0,2), (0,4) differ, (2,4) same -> 2/3
    assert by_category == pytest.approx([5 / 6, 0.0, 2 / 3])


def test_intra_list_diversity_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        intra_list_diversity(np.array([[0, 1]]))


# -- ratings --------------------------------------------------------------------------------
def test_rmse_and_mae_hand_worked() -> None:
    y_true = np.array([4.0, 2.0, 5.0])
    y_pred = np.array([3.0, 2.0, 3.0])
    # errors 1, 0, 2: RMSE = sqrt((1 + 0 + 4) / 3), MAE = (1 + 0 + 2) / 3
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(5 / 3))
    assert mae(y_true, y_pred) == pytest.approx(1.0)
    assert math.isnan(rmse(np.array([]), np.array([])))
    with pytest.raises(ValueError):
        mae(np.array([1.0]), np.array([1.0, 2.0]))


# -- impression metrics (MIND) --------------------------------------------------------------
def test_impression_metrics_hand_worked() -> None:
    from freshrec.evaluation.metrics import impression_auc, impression_mrr, impression_ndcg_at_k

    labels, scores = np.array([0, 1, 0, 1]), np.array([0.4, 0.3, 0.2, 0.1])
    # clicks at ranks 2 and 4; pairs (click > non-click): only 0.3 > 0.2 of 4
    assert impression_auc(labels, scores) == 0.25
    assert impression_mrr(labels, scores) == (1 / 2 + 1 / 4) / 2
    ideal = 1 + 1 / math.log2(3)
    assert impression_ndcg_at_k(labels, scores, 10) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / ideal
    )
    assert impression_ndcg_at_k(labels, scores, 2) == pytest.approx((1 / math.log2(3)) / ideal)
    perfect = np.array([0.1, 0.9, 0.2, 0.8])
    assert impression_auc(labels, perfect) == 1.0
    assert impression_mrr(labels, perfect) == (1 + 1 / 2) / 2
    assert impression_ndcg_at_k(labels, perfect, 5) == pytest.approx(1.0)


def test_impression_ties_and_degenerate_impressions() -> None:
    from freshrec.evaluation.metrics import impression_auc, impression_mrr, impression_ndcg_at_k

    assert impression_auc(np.array([1, 0, 0]), np.zeros(3)) == 0.5  # ties count one half
    assert impression_mrr(np.array([0, 1]), np.zeros(2)) == 0.5  # ties keep shown order
    assert math.isnan(impression_auc(np.array([1, 1]), np.array([0.1, 0.2])))
    assert math.isnan(impression_mrr(np.zeros(3), np.arange(3.0)))
    assert math.isnan(impression_ndcg_at_k(np.zeros(3), np.arange(3.0), 5))
    with pytest.raises(ValueError):
        impression_auc(np.array([1, 0]), np.array([0.1]))


@pytest.mark.parametrize("seed", range(3))
def test_impression_auc_matches_sklearn(seed: int) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    from freshrec.evaluation.metrics import impression_auc

    rng = np.random.default_rng(seed)
    labels = np.array([1, 0] + list(rng.integers(0, 2, 30)))
    scores = rng.integers(0, 5, len(labels)).astype(float)  # many ties
    assert impression_auc(labels, scores) == pytest.approx(
        sklearn_metrics.roc_auc_score(labels, scores)
    )


def test_impression_metrics_average_counted_impressions() -> None:
    from freshrec.evaluation.metrics import impression_metrics

    labels = np.array([1, 0, 0, 1, 1, 1, 0, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.5, 0.4, 0.3, 0.0])
    impressions = np.array([1, 1, 2, 2, 3, 3, 4, 4])  # 3: clicks only, 4: none: not counted
    result = impression_metrics(labels, scores, impressions, ks=(1, 5))
    assert result["n_impressions"] == 2
    assert result["auc"] == 0.5  # 1.0 and 0.0
    assert result["mrr"] == 0.75  # 1 and 1/2
    assert result["ndcg@1"] == 0.5
    empty = impression_metrics(np.array([1]), np.array([0.3]), np.array([5]))
    assert empty["n_impressions"] == 0 and math.isnan(empty["auc"])


# -- click prediction ---------------------------------------------------------------------------


def test_click_metrics_match_scikit_learn():
    from sklearn.metrics import log_loss as sk_log_loss
    from sklearn.metrics import roc_auc_score

    from freshrec.evaluation.metrics import auc, gauc, log_loss

    rng = np.random.default_rng(0)
    labels = rng.random(2000) < 0.3
    scores = np.round(rng.random(2000) + 0.3 * labels, 2)  # rounded: ties occur
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    probabilities = np.clip(scores / scores.max(), 0.01, 0.99)
    assert log_loss(labels, probabilities) == pytest.approx(sk_log_loss(labels, probabilities))
    groups = rng.integers(0, 50, 2000)
    expected, weight = 0.0, 0
    for group in np.unique(groups):
        rows = groups == group
        if labels[rows].any() and not labels[rows].all():
            expected += roc_auc_score(labels[rows], scores[rows]) * rows.sum()
            weight += rows.sum()
    assert gauc(groups, labels, scores) == pytest.approx(expected / weight)


def test_click_metrics_without_both_classes_are_nan():
    from freshrec.evaluation.metrics import auc, gauc

    assert np.isnan(auc(np.ones(3), np.arange(3.0)))
    assert np.isnan(gauc(np.array([1, 1, 2]), np.array([1, 1, 0]), np.array([0.1, 0.2, 0.3])))
    with pytest.raises(ValueError, match="one entry per event"):
        gauc(np.array([1]), np.array([1, 0]), np.array([0.1, 0.2]))
