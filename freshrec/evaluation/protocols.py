"""Offline evaluation of a fitted model on held-out events: ranking, rating, seeds.

:func:`evaluate_ranking` ranks the catalogue (``protocol="full"``) or a sampled candidate
set (``protocol="sampled"``) for every test user and returns a flat ``{"recall@10": ...}``
dict; :func:`evaluate_rating` scores held-out ratings; :func:`summarize_seeds` turns the
values of several seeds into a mean and a 95% t-interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.stats

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.idmap import IdMap
from freshrec.errors import NotFittedError
from freshrec.evaluation.metrics import (
    gini_index,
    hit_rate_at_k,
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
from freshrec.ranking import top_k

__all__ = [
    "BEYOND_ACCURACY_METRICS",
    "RANKING_METRICS",
    "evaluate_rating",
    "evaluate_ranking",
    "predicted_ratings",
    "summarize_seeds",
]

RankingMetric = Callable[..., "float | np.ndarray"]

RANKING_METRICS: dict[str, RankingMetric] = {
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "precision": precision_at_k,
    "hit": hit_rate_at_k,
    "mrr": mrr_at_k,
    "map": map_at_k,
}
"""Accuracy metrics by name, as used in ``metrics=`` and in result keys (``"ndcg@10"``)."""

BEYOND_ACCURACY_METRICS = ("coverage", "novelty", "gini", "diversity")
"""Names of the list metrics reported by the full protocol (``diversity`` needs vectors)."""

_DEFAULT_METRICS = ("recall", "ndcg", "precision", "hit", "mrr", "map")


@dataclass(frozen=True)
class _Split:
    """Test events laid out per evaluated user (one row per distinct external test user)."""

    model_user_idx: np.ndarray  # (n_rows,) model index of each row's user, -1 if unknown
    relevant: sp.csr_matrix  # (n_rows, n_items + n_unknown_items) binary test items
    seen: sp.csr_matrix  # (n_rows, n_items) binary train + exclude items
    active: np.ndarray  # (n_items,) bool: item slot is mapped (not evicted)
    n_items: int


# -- ranking --------------------------------------------------------------------------------
def evaluate_ranking(
    model: RecommenderBase,
    train: Events,
    test: Events,
    *,
    k: int | Sequence[int] = (10,),
    exclude: Sequence[Events] = (),
    metrics: Sequence[str] = _DEFAULT_METRICS,
    protocol: str = "full",
    n_negatives: int = 100,
    seed: int | None = 0,
    batch_size: int = 1024,
    item_popularity: np.ndarray | None = None,
    threshold: float | None = None,
    item_vectors: np.ndarray | None = None,
) -> dict[str, float | int]:
    """Ranking metrics of a fitted ``model`` on the users of ``test``.

    Every distinct user of ``test`` is one evaluated user; users unknown to the model are
    scored through its fallback (``user_idx = -1``). Each user's test items are the
    relevant ones; test items unknown to the model can never be hit but still count in
    the denominators (recall, NDCG, MAP).

    ``protocol="full"`` ranks every catalogue item. The user's items in ``train`` and in
    every batch of ``exclude`` (e.g. the validation split) are set to ``-inf`` before
    :func:`~freshrec.ranking.top_k`, so a test item the user also has in ``train`` cannot be
    hit. It also reports ``coverage@k``, ``novelty@k`` and ``gini@k`` over the evaluated
    users' lists (and ``diversity@k`` when ``item_vectors`` is given).

    ``protocol="sampled"`` ranks each (user, test item) pair against ``n_negatives`` items
    drawn uniformly, with replacement, from the active items the user never interacted
    with (train, exclude and test), as in SASRec's protocol (Kang & McAuley, ICDM 2018).
    The rank of the target is the number of negatives that score higher, or equally with
    a lower item index (the tie rule of :func:`~freshrec.ranking.top_k`). Pair metrics are
    averaged per user, then over users. Results depend only on ``seed``, not on
    ``batch_size``.

    Parameters
    ----------
    model
        A fitted recommender (``encode``, ``score_batch``, ``user_map_``/``item_map_``).
    train
        Events the model learned from; their items are masked for their users.
    test
        Held-out events; with ``threshold``, only events with ``value >= threshold``.
    k
        Cut-off(s); each gives its own ``name@k`` keys.
    exclude
        Further event batches whose items are masked (full) or never sampled (sampled).
    metrics
        Names from :data:`RANKING_METRICS`; the list metrics of the full protocol are
        always added.
    protocol
        ``"full"`` or ``"sampled"``.
    n_negatives
        Negatives per (user, test item) pair in the sampled protocol.
    seed
        Seed of the ``np.random.Generator`` that samples negatives.
    batch_size
        Users scored per call to ``model.score_batch``.
    item_popularity
        For ``novelty@k``: training users per item, shape (n_items,) in the model's item
        indices. Computed from ``train`` when ``None``.
    threshold
        Keep only test events with ``value >= threshold`` (``None`` keeps all).
    item_vectors
        Item vectors (n_items, n_dims) for ``diversity@k`` (intra-list diversity).

    Returns
    -------
    dict
        ``{"recall@10": ..., "ndcg@10": ..., ..., "coverage@10": ..., "novelty@10": ...,
        "gini@10": ..., "n_users": int}``; metric values are ``nan`` when no user counts.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models.popular import MostPopular
    >>> train = [Event("ann", "a"), Event("bob", "a"), Event("bob", "b"), Event("cy", "c")]
    >>> model = MostPopular().fit(train)
    >>> test = [Event("ann", "b"), Event("cy", "a")]
    >>> result = evaluate_ranking(model, train, test, k=1, metrics=("hit", "ndcg"))
    >>> result["hit@1"], result["n_users"]  # ann: a masked, gets b (hit); cy: gets a (hit)
    (1.0, 2)
    """
    ks = _as_ks(k)
    unknown = [m for m in metrics if m not in RANKING_METRICS and m not in BEYOND_ACCURACY_METRICS]
    if unknown:
        valid = [*RANKING_METRICS, *BEYOND_ACCURACY_METRICS]
        raise ValueError(f"unknown metrics {unknown}; valid: {valid}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    accuracy = [m for m in dict.fromkeys(metrics) if m in RANKING_METRICS]
    _check_model(model)
    train_batch = as_batch(train)
    test_batch = as_batch(test)
    if threshold is not None:
        test_batch = test_batch.positives(threshold)
    train_batch = model.encode(train_batch)
    seen_batches = [train_batch, *(model.encode(as_batch(b)) for b in exclude)]
    split = _layout(model, test_batch, seen_batches)
    if protocol == "full":
        ranked = _rank_full(model, split, max(ks), batch_size)
        result = _accuracy(ranked, split.relevant, ks, accuracy)
        popularity, n_train_users = _popularity(model, train_batch, item_popularity)
        result.update(_beyond(ranked, split, ks, popularity, n_train_users, item_vectors))
    elif protocol == "sampled":
        if n_negatives < 1:
            raise ValueError(f"n_negatives must be >= 1, got {n_negatives}")
        rng = np.random.default_rng(seed)
        result = _evaluate_sampled(model, split, ks, accuracy, n_negatives, rng, batch_size)
    else:
        raise ValueError(f"protocol must be 'full' or 'sampled', got {protocol!r}")
    result["n_users"] = int((np.diff(split.relevant.indptr) > 0).sum())
    return result


def _as_ks(k: int | Sequence[int]) -> list[int]:
    ks = [int(k)] if isinstance(k, (int, np.integer)) else [int(v) for v in k]
    if not ks or min(ks) < 1:
        raise ValueError(f"k must be a positive int or a non-empty sequence of them, got {k!r}")
    return list(dict.fromkeys(ks))


def _check_model(model: RecommenderBase) -> None:
    if not getattr(model, "is_fitted", True):
        raise NotFittedError(f"{type(model).__name__} has not seen any event; call fit first")


def _layout(model: RecommenderBase, test: EventBatch, seen_batches: list[EventBatch]) -> _Split:
    """Lay out the test users and items, and the items already seen, one row per test user.

    ``seen_batches`` are already encoded by the model (``user_idx``/``item_idx`` set).
    """
    n_items = model.n_items
    test_users, test_items = model.encode(test).indices()
    users = IdMap()
    rows = users.encode(test.user, grow=True)
    n_rows = len(users)
    model_user_idx = np.full(n_rows, -1, dtype=np.int64)
    model_user_idx[rows] = test_users
    # test items unknown to the model get columns after the catalogue: never ranked, so
    # never hit, but counted in each user's number of test items
    item_idx = test_items.copy()
    unknown = item_idx < 0
    extra = IdMap()
    item_idx[unknown] = n_items + extra.encode(test.item[unknown], grow=True)
    relevant = _binary_csr(rows, item_idx, (n_rows, n_items + len(extra)))
    # row of each model user among the test users (-1: not a test user)
    known = model_user_idx >= 0
    row_of_user = np.full(max(model.n_users, 1), -1, dtype=np.int64)
    row_of_user[model_user_idx[known]] = np.flatnonzero(known)
    seen_rows, seen_items = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for batch in seen_batches:
        user_idx, batch_items = batch.indices()
        batch_rows = np.full(len(batch), -1, dtype=np.int64)
        by_index = user_idx >= 0
        batch_rows[by_index] = row_of_user[user_idx[by_index]]
        if not by_index.all():  # users the model does not know may still be test users
            batch_rows[~by_index] = users.encode(batch.user[~by_index])
        keep = (batch_rows >= 0) & (batch_items >= 0)
        seen_rows.append(batch_rows[keep])
        seen_items.append(batch_items[keep])
    seen = _binary_csr(np.concatenate(seen_rows), np.concatenate(seen_items), (n_rows, n_items))
    active = np.ones(n_items, dtype=bool)
    item_map = getattr(model, "item_map_", None)
    if item_map is not None and item_map.n_active < n_items:
        active = np.array([v is not None for v in item_map.ids], dtype=bool)
    return _Split(model_user_idx, relevant, seen, active, n_items)


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape, dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _scores(model: RecommenderBase, user_idx: np.ndarray, n_items: int) -> np.ndarray:
    """A private, finite-checked float64 copy of the model's scores for ``user_idx``."""
    scores = np.array(model.score_batch(user_idx), dtype=np.float64)
    if scores.shape != (len(user_idx), n_items):
        raise ValueError(
            f"{type(model).__name__}.score_batch returned shape {scores.shape}, "
            f"expected {(len(user_idx), n_items)}"
        )
    if np.isnan(scores).any():
        raise ValueError(f"{type(model).__name__}.score_batch returned NaN scores")
    return scores


def _rank_full(model: RecommenderBase, split: _Split, k: int, batch_size: int) -> np.ndarray:
    """Top-``k`` item indices per evaluated user, train/exclude/evicted items masked."""
    n_rows, n_items = len(split.model_user_idx), split.n_items
    ranked = np.full((n_rows, k), -1, dtype=np.int64)
    inactive = np.flatnonzero(~split.active)
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        scores = _scores(model, split.model_user_idx[start:stop], n_items)
        seen = split.seen[start:stop]
        scores[np.repeat(np.arange(stop - start), np.diff(seen.indptr)), seen.indices] = -np.inf
        if len(inactive):
            scores[:, inactive] = -np.inf
        best = top_k(scores, k)
        ranked[start:stop, : best.shape[1]] = best
    return ranked


def _accuracy(
    ranked: np.ndarray, relevant: sp.csr_matrix, ks: list[int], names: list[str]
) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for k in ks:
        for name in names:
            out[f"{name}@{k}"] = float(RANKING_METRICS[name](ranked, relevant, k))
    return out


def _popularity(
    model: RecommenderBase, train: EventBatch, item_popularity: np.ndarray | None
) -> tuple[np.ndarray, int]:
    """Training users per model item and the number of training users (``train`` encoded)."""
    user_idx, item_idx = train.indices()
    user_codes = user_idx.copy()
    unknown = user_codes < 0
    if unknown.any():  # training users the model does not know: rows after the model's users
        user_codes[unknown] = model.n_users + IdMap().encode(train.user[unknown], grow=True)
    n_codes = int(user_codes.max()) + 1 if len(user_codes) else 0
    n_train_users = int(np.count_nonzero(np.bincount(user_codes))) if len(user_codes) else 0
    if item_popularity is not None:
        return np.asarray(item_popularity, dtype=np.float64), n_train_users
    known = item_idx >= 0
    matrix = _binary_csr(user_codes[known], item_idx[known], (n_codes, model.n_items))
    pop = np.bincount(matrix.indices, minlength=model.n_items)
    return pop.astype(np.float64), n_train_users


def _beyond(
    ranked: np.ndarray,
    split: _Split,
    ks: list[int],
    popularity: np.ndarray,
    n_train_users: int,
    item_vectors: np.ndarray | None,
) -> dict[str, float | int]:
    """Coverage, novelty, Gini (and diversity) of the lists, over the active catalogue."""
    counted = np.diff(split.relevant.indptr) > 0
    ranked = ranked[counted]
    active_ranked = ranked
    if not split.active.all():
        position = np.cumsum(split.active) - 1
        active_ranked = np.where(ranked >= 0, position[np.maximum(ranked, 0)], -1)
    n_active = int(split.active.sum())
    out: dict[str, float | int] = {}
    for k in ks:
        top = ranked[:, :k]
        out[f"coverage@{k}"] = item_coverage(active_ranked[:, :k], n_active)
        out[f"novelty@{k}"] = (
            float(novelty(top, popularity, n_train_users)) if n_train_users else float("nan")
        )
        out[f"gini@{k}"] = gini_index(active_ranked[:, :k], n_active)
        if item_vectors is not None:
            out[f"diversity@{k}"] = float(intra_list_diversity(top, item_vectors))
    return out


# -- sampled ranking ------------------------------------------------------------------------
def _evaluate_sampled(
    model: RecommenderBase,
    split: _Split,
    ks: list[int],
    names: list[str],
    n_negatives: int,
    rng: np.random.Generator,
    batch_size: int,
) -> dict[str, float | int]:
    relevant = split.relevant
    pair_rows = np.repeat(np.arange(relevant.shape[0]), np.diff(relevant.indptr))
    targets = relevant.indices.astype(np.int64)
    negatives = _sample_negatives(split, pair_rows, n_negatives, rng)
    ranks = np.full(len(targets), np.inf)
    known_target = targets < split.n_items
    bounds = np.searchsorted(pair_rows, np.arange(0, relevant.shape[0] + batch_size, batch_size))
    for chunk, start in enumerate(range(0, relevant.shape[0], batch_size)):
        stop = min(start + batch_size, relevant.shape[0])
        lo, hi = bounds[chunk], bounds[chunk + 1]
        if lo == hi:
            continue
        scores = _scores(model, split.model_user_idx[start:stop], split.n_items)
        local = pair_rows[lo:hi] - start
        target = np.where(known_target[lo:hi], targets[lo:hi], 0)
        target_score = scores[local, target][:, None]
        negs = negatives[lo:hi]
        neg_score = scores[local[:, None], np.maximum(negs, 0)]
        tied_before = (neg_score == target_score) & (negs < target[:, None])
        ahead = (neg_score > target_score) | tied_before
        rank = (ahead & (negs >= 0)).sum(axis=1).astype(np.float64)
        ranks[lo:hi] = np.where(known_target[lo:hi], rank, np.inf)
    out: dict[str, float | int] = {}
    n_rows = relevant.shape[0]
    pairs_per_user = np.bincount(pair_rows, minlength=n_rows)
    counted = pairs_per_user > 0
    for k in ks:
        for name in names:
            per_pair = _single_target_metric(name, ranks, k)
            per_user = np.bincount(pair_rows, weights=per_pair, minlength=n_rows)[counted]
            values = per_user / pairs_per_user[counted]
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else float("nan")
    return out


def _single_target_metric(name: str, ranks: np.ndarray, k: int) -> np.ndarray:
    """A ranking metric for one relevant item at 0-based rank ``ranks`` (``inf`` = missed)."""
    hit = ranks < k
    finite = np.where(hit, ranks, 0.0)
    if name in ("hit", "recall"):
        return hit.astype(np.float64)
    if name == "precision":
        return hit / k
    if name == "ndcg":
        return np.where(hit, 1.0 / np.log2(finite + 2.0), 0.0)
    # mrr and map coincide with one relevant item: 1 / rank
    return np.where(hit, 1.0 / (finite + 1.0), 0.0)


def _sample_negatives(
    split: _Split, pair_rows: np.ndarray, n_negatives: int, rng: np.random.Generator
) -> np.ndarray:
    """Uniform item indices the pair's user never interacted with, shape (n_pairs, n_negatives).

    Rejection sampling over the whole catalogue; a user with no candidate item gets ``-1``.
    """
    n_items = split.n_items
    dtype = np.int32 if n_items < 2**31 else np.int64
    if n_items == 0 or len(pair_rows) == 0:
        return np.full((len(pair_rows), n_negatives), -1, dtype=dtype)
    known = split.relevant[:, :n_items]
    interacted = (split.seen + known).tocsr()
    interacted.sum_duplicates()
    n_rows = interacted.shape[0]
    keys = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(interacted.indptr)) * n_items
    keys += interacted.indices
    inactive = ~split.active

    def forbidden(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        query = rows * n_items + items
        blocked: np.ndarray = inactive[items]
        if len(keys):
            pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
            blocked |= keys[pos] == query
        return blocked

    negatives = rng.integers(0, n_items, size=(len(pair_rows), n_negatives), dtype=dtype)
    rows = np.broadcast_to(pair_rows[:, None], negatives.shape)
    bad = forbidden(rows, negatives)
    for _ in range(64):
        if not bad.any():
            return negatives
        redraw = rng.integers(0, n_items, size=int(bad.sum()), dtype=dtype)
        negatives[bad] = redraw
        bad[bad] = forbidden(rows[bad], redraw)
    # users who interacted with nearly the whole catalogue: draw from their complement
    for pair in np.flatnonzero(bad.any(axis=1)):
        row = pair_rows[pair]
        taken = interacted.indices[interacted.indptr[row] : interacted.indptr[row + 1]]
        allowed = np.setdiff1d(np.flatnonzero(split.active), taken)
        holes = bad[pair]
        negatives[pair, holes] = rng.choice(allowed, size=int(holes.sum())) if len(allowed) else -1
    return negatives


# -- ratings --------------------------------------------------------------------------------
def evaluate_rating(
    model: RecommenderBase, test: Events, *, batch_size: int = 1024
) -> dict[str, float]:
    """RMSE and MAE of the model's scores as predicted ratings of the ``test`` events (see
    :func:`predicted_ratings`).

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models.popular import MostPopular
    >>> model = MostPopular(threshold=0.0).fit([Event("ann", "a", 2.0), Event("bob", "b", 4.0)])
    >>> evaluate_rating(model, [Event("ann", "a", 3.0), Event("bob", "b", 1.0)])  # scores 1, 1
    {'rmse': 1.41421..., 'mae': 1.0}
    """
    actual, predicted = predicted_ratings(model, test, batch_size=batch_size)
    return {"rmse": rmse(actual, predicted), "mae": mae(actual, predicted)}


def predicted_ratings(
    model: RecommenderBase, test: Events, *, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """The ``test`` events' values and the model's scores of them, as two arrays in event
    order (for per-event comparisons).

    Known items are scored through ``model.score_batch`` (unknown users get the model's
    fallback), ``batch_size`` distinct users at a time; items unknown to the model are
    scored with ``model.score(user, [item])`` (the model's prior).

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models.popular import MostPopular
    >>> model = MostPopular(threshold=0.0).fit([Event("ann", "a", 2.0), Event("bob", "b", 4.0)])
    >>> [a.tolist() for a in predicted_ratings(model, [Event("ann", "a", 3.0)])]
    [[3.0], [1.0]]
    """
    _check_model(model)
    batch = model.encode(as_batch(test))
    user_idx, item_idx = batch.indices()
    predicted = np.empty(len(batch), dtype=np.float64)
    known = item_idx >= 0
    users, inverse = np.unique(user_idx[known], return_inverse=True)
    inverse = inverse.ravel()
    items = item_idx[known]
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(0, len(users) + batch_size, batch_size))
    values = np.empty(len(items), dtype=np.float64)
    for chunk, start in enumerate(range(0, len(users), batch_size)):
        pairs = order[starts[chunk] : starts[chunk + 1]]
        scores = model.score_batch(users[start : start + batch_size])
        values[pairs] = scores[inverse[pairs] - start, items[pairs]]
    predicted[known] = values
    for i in np.flatnonzero(~known):
        predicted[i] = model.score(batch.user[i], [batch.item[i]])[0]
    return np.asarray(batch.value, dtype=np.float64), predicted


# -- seeds ----------------------------------------------------------------------------------
def summarize_seeds(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Mean over seeds and its 95% confidence interval (Student's t, ``n - 1`` dof).

    ``mean ± t_{0.975, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation; one
    value gives ``(v, (v, v))``.

    Examples
    --------
    >>> mean, (low, high) = summarize_seeds([0.1641, 0.1662, 0.1647])
    >>> round(mean, 4), round(low, 4), round(high, 4)
    (0.165, 0.1623, 0.1677)
    >>> summarize_seeds([0.5])
    (0.5, (0.5, 0.5))
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if len(data) == 0:
        raise ValueError("summarize_seeds needs at least one value")
    mean = float(data.mean())
    if len(data) == 1:
        return mean, (mean, mean)
    half = float(scipy.stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data)))
    return mean, (mean - half, mean + half)
