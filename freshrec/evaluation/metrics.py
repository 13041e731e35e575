"""Evaluation metrics: pure, vectorized functions over ranked lists and test matrices.

Ranking metrics take

- ``ranked``: an ``int`` array of shape (n_users, >= k) of item indices, best first; ``-1``
  is padding (a slot the model could not fill) and is never a hit;
- ``relevant``: a ``scipy.sparse`` CSR matrix of shape (n_users, n_items) whose stored
  non-zero entries are each user's test items (binary relevance).

They average over the users with at least one test item; rows without any are ignored.
With ``reduce=False`` they return the per-user values of those counted users instead.
When no user counts, the mean is ``nan``.

Beyond-accuracy metrics (coverage, novelty, diversity, Gini) describe the recommended lists
themselves and need no test items; rating metrics compare predicted with true ratings.

References
----------
.. [1] Zhao et al., "RecBole: Towards a Unified, Comprehensive and Efficient Framework for
   Recommendation Algorithms", CIKM 2021 (``recbole/evaluator/metrics.py``: ``MAP``).
.. [2] Zhou et al., "Solving the apparent diversity-accuracy dilemma of recommender systems",
   PNAS 2010 (self-information novelty).
.. [3] Ziegler et al., "Improving recommendation lists through topic diversification",
   WWW 2005 (intra-list diversity).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "auc",
    "gauc",
    "gini_index",
    "hit_rate_at_k",
    "hits_at_k",
    "impression_auc",
    "impression_metrics",
    "impression_mrr",
    "impression_ndcg_at_k",
    "intra_list_diversity",
    "item_coverage",
    "log_loss",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]


# -- helpers --------------------------------------------------------------------------------
def _as_relevant(relevant: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """CSR with sorted, unique, explicitly non-zero entries (copied only when needed)."""
    matrix = sp.csr_matrix(relevant)
    if matrix.nnz and (not matrix.has_canonical_format or (matrix.data == 0).any()):
        matrix = matrix.copy()
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
    return matrix


def _top(ranked: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of ``ranked`` as ``int64``, padded with ``-1`` when narrower."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be 2-D (n_users, k), got shape {ranked.shape}")
    if ranked.dtype.kind not in "iu":
        raise TypeError(f"ranked must hold integer item indices, got dtype {ranked.dtype}")
    top = ranked[:, :k].astype(np.int64, copy=False)
    if top.shape[1] < k:
        pad = np.full((top.shape[0], k - top.shape[1]), -1, dtype=np.int64)
        top = np.hstack([top, pad])
    return top


def _reduce(values: np.ndarray, reduce: bool) -> float | np.ndarray:
    if not reduce:
        return values
    return float(values.mean()) if len(values) else float("nan")


def _hits_and_counts(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hit matrix and number of test items, both restricted to users with test items."""
    matrix = _as_relevant(relevant)
    hits = hits_at_k(ranked, matrix, k)
    n_relevant = np.diff(matrix.indptr)
    counted = n_relevant > 0
    return hits[counted], n_relevant[counted]


_DISCOUNT_CACHE: dict[int, np.ndarray] = {}


def _discounts(k: int) -> np.ndarray:
    """``1 / log2(j + 2)`` for 0-based positions ``j < k``."""
    if k not in _DISCOUNT_CACHE:
        _DISCOUNT_CACHE[k] = 1.0 / np.log2(np.arange(k) + 2.0)
    return _DISCOUNT_CACHE[k]


# -- ranking accuracy -----------------------------------------------------------------------
def hits_at_k(ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Which of the first ``k`` recommended items are test items: ``bool`` (n_users, k).

    Entry ``[u, j]`` is true when ``ranked[u, j]`` is a stored non-zero of row ``u`` of
    ``relevant``. Padding (``-1``) is never a hit. Vectorized: every (user, item) pair is
    turned into the key ``user * n_items + item`` and looked up with ``searchsorted`` in the
    sorted keys of the CSR matrix.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]]))
    >>> hits_at_k(np.array([[3, 0, 1], [2, -1, -1]]), relevant, k=3).astype(int).tolist()
    [[1, 0, 1], [0, 0, 0]]
    """
    matrix = _as_relevant(relevant)
    top = _top(ranked, k)
    n_users, n_items = matrix.shape
    if top.shape[0] != n_users:
        raise ValueError(f"ranked has {top.shape[0]} rows but relevant has {n_users}")
    if top.size and (top.min() < -1 or top.max() >= n_items):
        raise ValueError(f"ranked holds item indices outside [-1, {n_items}) ")
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(matrix.indptr))
    keys = rows * n_items + matrix.indices.astype(np.int64)
    query = np.arange(n_users, dtype=np.int64)[:, None] * n_items + top
    if len(keys) == 0:
        return np.zeros(top.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hits: np.ndarray = (keys[pos] == query) & (top >= 0)
    return hits


def precision_at_k(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int = 10, *, reduce: bool = True
) -> float | np.ndarray:
    """Precision@k = (number of hits in the top ``k``) / ``k``.

    Padding slots count in the denominator: a model that returns fewer than ``k`` items is
    not rewarded for it.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]]))
    >>> precision_at_k(np.array([[3, 0], [0, 1]]), relevant, k=2)  # (1/2 + 1/2) / 2
    0.5
    """
    hits, _ = _hits_and_counts(ranked, relevant, k)
    return _reduce(hits.sum(axis=1) / k, reduce)


def recall_at_k(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int = 10, *, reduce: bool = True
) -> float | np.ndarray:
    """Recall@k = (number of hits in the top ``k``) / (number of the user's test items).

    The denominator is all of the user's test items, not ``min(k, n)``, so a user with more
    than ``k`` test items can never reach 1.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 1]]))
    >>> recall_at_k(np.array([[0, 3], [3, 0]]), relevant, k=2)  # (1/3 + 1/1) / 2
    0.666...
    """
    hits, n_relevant = _hits_and_counts(ranked, relevant, k)
    return _reduce(hits.sum(axis=1) / n_relevant, reduce)


def hit_rate_at_k(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int = 10, *, reduce: bool = True
) -> float | np.ndarray:
    """HR@k = 1 if any of the top ``k`` items is a test item, else 0.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1]]))
    >>> hit_rate_at_k(np.array([[2, 0], [0, 1]]), relevant, k=2)  # (1 + 0) / 2
    0.5
    """
    hits, _ = _hits_and_counts(ranked, relevant, k)
    return _reduce(np.asarray(hits.any(axis=1), dtype=np.float64), reduce)


def ndcg_at_k(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int = 10, *, reduce: bool = True
) -> float | np.ndarray:
    """NDCG@k with binary relevance.

    ``DCG = sum_{j<k} hit_j / log2(j + 2)`` (``j`` 0-based) and the ideal DCG places the
    user's test items at the top: ``IDCG = sum_{j < min(n_test, k)} 1 / log2(j + 2)``.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[1, 1, 0, 0]]))
    >>> # hits at positions 1 and 2: (1/log2(3) + 1/log2(4)) / (1/log2(2) + 1/log2(3))
    >>> round(ndcg_at_k(np.array([[2, 0, 1]]), relevant, k=3), 4)
    0.6934
    """
    hits, n_relevant = _hits_and_counts(ranked, relevant, k)
    discounts = _discounts(k)
    dcg = hits @ discounts
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    return _reduce(dcg / idcg, reduce)


def mrr_at_k(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int = 10, *, reduce: bool = True
) -> float | np.ndarray:
    """MRR@k = 1 / (1-based rank of the first hit within the top ``k``), 0 without a hit.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[0, 0, 1], [1, 1, 0]]))
    >>> mrr_at_k(np.array([[0, 2], [2, 1]]), relevant, k=2)  # (1/2 + 1/2) / 2
    0.5
    """
    hits, _ = _hits_and_counts(ranked, relevant, k)
    first = hits.argmax(axis=1)
    return _reduce(np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0), reduce)


def map_at_k(
    ranked: np.ndarray, relevant: sp.spmatrix | sp.sparray, k: int = 10, *, reduce: bool = True
) -> float | np.ndarray:
    """MAP@k as defined by RecBole [1]_.

    ``AP@k = sum_{j=1..k} precision@j * hit_j / min(n_test, k)``, averaged over users.

    Examples
    --------
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 1, 0, 1]]))
    >>> # hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 3)
    >>> round(map_at_k(np.array([[0, 1, 2]]), relevant, k=3), 4)
    0.5556
    """
    hits, n_relevant = _hits_and_counts(ranked, relevant, k)
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return _reduce((precision * hits).sum(axis=1) / np.minimum(n_relevant, k), reduce)


# -- beyond accuracy ------------------------------------------------------------------------
def _recommended(ranked: np.ndarray) -> np.ndarray:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be 2-D (n_users, k), got shape {ranked.shape}")
    return ranked[ranked >= 0].astype(np.int64, copy=False)


def item_coverage(ranked: np.ndarray, n_items: int) -> float:
    """Share of the catalogue (``n_items``) that appears in at least one list of ``ranked``.

    Examples
    --------
    >>> item_coverage(np.array([[0, 1], [1, -1]]), n_items=4)  # {0, 1} of 4 items
    0.5
    """
    if n_items <= 0:
        return float("nan")
    return len(np.unique(_recommended(ranked))) / n_items


def gini_index(ranked: np.ndarray, n_items: int) -> float:
    """Gini index of how often each catalogue item is recommended across all lists.

    With ``x_1 <= ... <= x_n`` the recommendation counts of the ``n = n_items`` items,
    ``G = sum_i (2 i - n - 1) x_i / (n * sum_i x_i)``: 0 when every item is recommended
    equally often, ``(n - 1) / n`` (close to 1) when one item takes every slot. ``nan``
    when nothing is recommended.

    Examples
    --------
    >>> gini_index(np.array([[0, 1], [2, 3]]), n_items=4)  # counts (1, 1, 1, 1)
    0.0
    >>> gini_index(np.array([[0], [0]]), n_items=4)  # counts (0, 0, 0, 2): 3 * 2 / (4 * 2)
    0.75
    """
    items = _recommended(ranked)
    if len(items) == 0 or n_items <= 0:
        return float("nan")
    counts = np.sort(np.bincount(items, minlength=n_items)).astype(np.float64)
    n = len(counts)
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    return float(weights @ counts / (n * counts.sum()))


def novelty(
    ranked: np.ndarray,
    item_popularity: np.ndarray,
    n_users: int,
    *,
    reduce: bool = True,
) -> float | np.ndarray:
    """Mean self-information of the recommended items, in bits [2]_.

    ``novelty(i) = -log2(max(pop(i), 1) / n_users)`` where ``pop(i)`` is the number of
    training users who interacted with item ``i`` and ``n_users`` the number of training
    users. An item no training user saw is smoothed to ``pop = 1`` (the highest finite
    value, ``log2(n_users)``); ``pop`` is capped at ``n_users`` so the value is never
    negative. Each list's mean over its non-padding items is averaged over the lists with
    at least one item (``reduce=False`` returns those per-list means).

    Examples
    --------
    >>> pop = np.array([4, 2, 1, 0])  # 4 training users
    >>> # user 0: (-log2(4/4) - log2(2/4)) / 2 = 0.5 ; user 1: (-log2(1/4) - log2(1/4)) / 2 = 2
    >>> novelty(np.array([[0, 1], [2, 3]]), pop, n_users=4)
    1.25
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be 2-D (n_users, k), got shape {ranked.shape}")
    if n_users <= 0:
        raise ValueError(f"n_users must be positive, got {n_users}")
    pop = np.clip(np.asarray(item_popularity, dtype=np.float64), 1.0, float(n_users))
    info = -np.log2(pop / n_users)
    valid = ranked >= 0
    per_slot = np.where(valid, info[np.where(valid, ranked, 0)], 0.0)
    n_valid = valid.sum(axis=1)
    counted = n_valid > 0
    return _reduce(per_slot.sum(axis=1)[counted] / n_valid[counted], reduce)


def intra_list_diversity(
    ranked: np.ndarray,
    item_vectors: np.ndarray | None = None,
    *,
    item_categories: np.ndarray | None = None,
    reduce: bool = True,
) -> float | np.ndarray:
    """Mean pairwise dissimilarity ``1 - cos(v_i, v_j)`` within each recommended list [3]_.

    Give either ``item_vectors`` (n_items, n_dims), e.g. embeddings or a multi-hot genre
    matrix, or ``item_categories`` (n_items,) with one category label per item (then two
    items are similar (cosine 1) exactly when they share the category). Zero vectors have
    cosine 0 with everything. Each list averages over its ``m (m - 1) / 2`` pairs of
    non-padding items; lists with fewer than two items are not counted.

    Examples
    --------
    >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> # list 0: 1 - cos(e1, e2) = 1 ; list 1: 1 - cos(e1, e1) = 0
    >>> intra_list_diversity(np.array([[0, 1], [0, 0]]), vectors)
    0.5
    >>> # pairs (a, a), (a, b), (a, b): dissimilarities 0, 1, 1
    >>> intra_list_diversity(np.array([[0, 1, 2]]), item_categories=np.array(["a", "a", "b"]))
    0.666...
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be 2-D (n_users, k), got shape {ranked.shape}")
    if (item_vectors is None) == (item_categories is None):
        raise ValueError("give exactly one of item_vectors or item_categories")
    valid = ranked >= 0
    safe = np.where(valid, ranked, 0)
    m = valid.sum(axis=1).astype(np.float64)
    if item_categories is not None:
        _, codes = np.unique(np.asarray(item_categories), return_inverse=True)
        codes = codes.ravel()
        n_codes = int(codes.max()) + 1 if len(codes) else 1
        keys = np.arange(len(ranked))[:, None] * n_codes + codes[safe]
        counts = np.bincount(keys[valid], minlength=len(ranked) * n_codes).reshape(-1, n_codes)
        similar_pairs = (counts * (counts - 1) / 2.0).sum(axis=1)
    else:
        vectors = np.asarray(item_vectors, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        gathered = unit[safe] * valid[..., None]
        total = gathered.sum(axis=1)
        # sum_{i<j} cos_ij = (|sum_i v_i|^2 - sum_i |v_i|^2) / 2 with unit vectors v_i
        similar_pairs = ((total**2).sum(axis=1) - (gathered**2).sum(axis=(1, 2))) / 2.0
    counted = m >= 2
    n_pairs = m[counted] * (m[counted] - 1) / 2.0
    return _reduce(1.0 - similar_pairs[counted] / n_pairs, reduce)


# -- rating accuracy ------------------------------------------------------------------------
def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {len(true)} values but y_pred has {len(pred)}")
    return true, pred


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error ``sqrt(mean((y_true - y_pred) ** 2))``; ``nan`` when empty.

    Examples
    --------
    >>> rmse(np.array([3.0, 4.0]), np.array([4.0, 2.0]))  # sqrt((1 + 4) / 2)
    1.58113...
    """
    true, pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((true - pred) ** 2))) if len(true) else float("nan")


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error ``mean(|y_true - y_pred|)``; ``nan`` when empty.

    Examples
    --------
    >>> mae(np.array([3.0, 4.0]), np.array([4.0, 2.0]))  # (1 + 2) / 2
    1.5
    """
    true, pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(true - pred))) if len(true) else float("nan")


# -- impression ranking (MIND) --------------------------------------------------------------
def _impression(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels (``> 0`` is a click) and float scores of one impression, checked."""
    clicked = np.asarray(labels).ravel() > 0
    values = np.asarray(scores, dtype=np.float64).ravel()
    if clicked.shape != values.shape:
        raise ValueError(f"labels has {len(clicked)} values but scores has {len(values)}")
    return clicked, values


def _clicks_in_score_order(clicked: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The labels sorted by descending score; ties keep their order in the impression."""
    return clicked[np.argsort(-values, kind="stable")]


def impression_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of one impression (shown items ranked by ``scores``).

    The share of (clicked, not clicked) pairs whose clicked item scores higher, a tie
    counting one half: ``(sum of the clicked items' mid-ranks - P (P + 1) / 2) / (P N)`` with
    ``P`` clicks and ``N`` non-clicks, as scikit-learn's ``roc_auc_score`` and the MIND
    leaderboard compute it. ``nan`` when the impression lacks a click or a non-click.

    Examples
    --------
    >>> impression_auc(np.array([0, 1, 0, 1]), np.array([0.4, 0.3, 0.2, 0.1]))  # 1 of 4 pairs
    0.25
    >>> impression_auc(np.array([1, 0]), np.array([0.5, 0.5]))  # a tie counts one half
    0.5
    """
    clicked, values = _impression(labels, scores)
    n_pos = int(clicked.sum())
    n_neg = len(clicked) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    import scipy.stats

    ranks = scipy.stats.rankdata(values)  # mid-ranks for ties
    return float((ranks[clicked].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def impression_mrr(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean reciprocal rank of the clicked items of one impression, MIND's ``mrr_score``.

    ``sum_{clicked i} 1 / rank_i / n_clicked``, ranks from 1 by descending score (ties keep
    their order in the impression). ``nan`` without any click.

    Examples
    --------
    >>> impression_mrr(np.array([0, 1, 0, 1]), np.array([0.4, 0.3, 0.2, 0.1]))  # (1/2 + 1/4) / 2
    0.375
    """
    clicked, values = _impression(labels, scores)
    if not clicked.any():
        return float("nan")
    ordered = _clicks_in_score_order(clicked, values)
    return float((ordered / np.arange(1, len(ordered) + 1)).sum() / ordered.sum())


def impression_ndcg_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """NDCG@k of one impression, MIND's ``ndcg_score``: gains ``2^label - 1``.

    ``DCG@k = sum_{r < k} gain_(r) / log2(r + 2)`` over the items in descending score order
    (ties keep their order in the impression), divided by the DCG@k of the ideal order.
    ``nan`` without any click.

    Examples
    --------
    >>> labels, scores = np.array([0, 1, 0, 1]), np.array([0.4, 0.3, 0.2, 0.1])
    >>> impression_ndcg_at_k(labels, scores, k=5)  # (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    0.65092...
    >>> impression_ndcg_at_k(labels, scores, k=1)
    0.0
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    clicked, values = _impression(labels, scores)
    if not clicked.any():
        return float("nan")
    ordered = _clicks_in_score_order(clicked, values)[:k]
    discounts = _discounts(k)
    ideal = np.sort(clicked)[::-1][:k]
    return float(
        (ordered * discounts[: len(ordered)]).sum() / (ideal * discounts[: len(ideal)]).sum()
    )


def impression_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    impressions: np.ndarray,
    ks: tuple[int, ...] = (5, 10),
) -> dict[str, float | int]:
    """AUC, MRR and NDCG@k averaged over impressions, as the MIND leaderboard reports them.

    Rows are shown items; ``impressions`` gives each row's impression id, and the rows of one
    impression are ranked among themselves (in their order in the arrays, which decides
    ties). Only impressions with at least one click and one non-click count; the result
    also holds their number as ``n_impressions``. Means are ``nan`` when none counts.

    Parameters
    ----------
    labels
        Shape (n_rows,): ``> 0`` for a click.
    scores
        Shape (n_rows,): the model's scores.
    impressions
        Shape (n_rows,): the impression id of each row.
    ks
        Cut-offs of ``ndcg@k``.

    Examples
    --------
    >>> labels = np.array([0, 1, 0, 1, 1, 0, 1])
    >>> scores = np.array([0.4, 0.3, 0.2, 0.1, 0.9, 0.1, 0.5])
    >>> impressions = np.array([7, 7, 7, 7, 8, 8, 9])  # impression 9 has no non-click
    >>> result = impression_metrics(labels, scores, impressions, ks=(5,))
    >>> result["auc"], result["mrr"], result["n_impressions"]  # means of (0.25, 1) and (0.375, 1)
    (0.625, 0.6875, 2)
    """
    clicked, values = _impression(labels, scores)
    groups = np.asarray(impressions).ravel()
    if groups.shape != clicked.shape:
        raise ValueError(f"impressions has {len(groups)} values but labels has {len(clicked)}")
    _, codes = np.unique(groups, return_inverse=True)
    codes = codes.ravel()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    names = ["auc", "mrr", *(f"ndcg@{k}" for k in ks)]
    per: dict[str, list[float]] = {name: [] for name in names}
    for rows in np.split(order, bounds) if len(order) else []:
        y, s = clicked[rows], values[rows]
        if y.all() or not y.any():
            continue
        per["auc"].append(impression_auc(y, s))
        per["mrr"].append(impression_mrr(y, s))
        for k in ks:
            per[f"ndcg@{k}"].append(impression_ndcg_at_k(y, s, k))
    out: dict[str, float | int] = {
        name: float(np.mean(v)) if v else float("nan") for name, v in per.items()
    }
    out["n_impressions"] = len(per["auc"])
    return out


# -- click prediction ---------------------------------------------------------------------------


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of click predictions over all events.

    The same rule as :func:`impression_auc`, applied to the whole set (``nan`` without both
    a click and a non-click).

    Examples
    --------
    >>> auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1]))
    0.75
    """
    return impression_auc(labels, scores)


def gauc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Group AUC: the AUC of each group (user), averaged with weights = the group's events.

    Groups with only clicks or only non-clicks have no AUC and are left out, as in the
    DIN paper (Zhou et al., KDD 2018). ``nan`` when no group has an AUC.

    Examples
    --------
    >>> groups = np.array(["a", "a", "b", "b", "b", "c"])
    >>> labels = np.array([1, 0, 1, 0, 0, 1])
    >>> scores = np.array([0.9, 0.1, 0.2, 0.5, 0.1, 0.3])
    >>> gauc(groups, labels, scores)  # a: 1.0 (2 events), b: 0.5 (3 events), c: none
    0.7
    """
    groups, labels, scores = np.asarray(groups), np.asarray(labels), np.asarray(scores)
    if not len(groups) == len(labels) == len(scores):
        raise ValueError("groups, labels and scores must have one entry per event")
    order = np.argsort(groups, kind="stable")
    _, starts = np.unique(groups[order], return_index=True)
    total = weight = 0.0
    for rows in np.split(order, starts[1:]):
        value = impression_auc(labels[rows], scores[rows])
        if np.isfinite(value):
            total += value * len(rows)
            weight += len(rows)
    return total / weight if weight else float("nan")


def log_loss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy of predicted click probabilities (clipped to [eps, 1 - eps]).

    Examples
    --------
    >>> round(log_loss(np.array([1, 0]), np.array([0.8, 0.4])), 4)  # -(ln 0.8 + ln 0.6) / 2
    0.3670
    """
    y, p = _pair(np.asarray(labels, dtype=float), np.asarray(probabilities, dtype=float))
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
