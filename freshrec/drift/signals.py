"""Signals a drift detector watches: per-event model error or top-k miss, popularity shift,
new-id rate."""

from __future__ import annotations

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import LearnsPredict
from freshrec.data.batch import Events, as_batch

__all__ = ["error_stream", "miss_stream", "new_id_rate", "popularity_shift"]


def error_stream(model: RecommenderBase, events: Events) -> np.ndarray:
    """Absolute error of each event's rating, predicted before it is learned (test-then-train).

    Needs a model with ``learn_predict`` (e.g. :class:`~freshrec.models.biased_mf.BiasedMF`).

    Examples
    --------
    >>> from freshrec.data.drifting import drifting_stream
    >>> from freshrec.models.biased_mf import BiasedMF
    >>> events = drifting_stream(n_events=500).events
    >>> errors = error_stream(BiasedMF(n_factors=4), events)
    >>> errors.shape, bool((errors >= 0).all())
    ((500,), True)
    """
    if not isinstance(model, LearnsPredict):
        raise ValueError(f"{type(model).__name__} has no learn_predict (test-then-train)")
    batch = as_batch(events)
    errors: np.ndarray = np.abs(np.asarray(model.learn_predict(batch)) - batch.value)
    return errors


def popularity_shift(events: Events, window: int) -> np.ndarray:
    """Per window, the total variation distance between its item distribution and the last's.

    The first window has no predecessor: 0.

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> batch = EventBatch(np.zeros(6, int), np.array([1, 1, 2, 2, 3, 3]), np.ones(6))
    >>> popularity_shift(batch, 2).tolist()
    [0.0, 1.0, 1.0]
    """
    batch = as_batch(events)
    _, codes = np.unique(batch.item, return_inverse=True)
    codes = codes.ravel()
    n_items = int(codes.max()) + 1 if len(codes) else 0
    out, previous = [], None
    for start in range(0, len(codes), window):
        share = np.bincount(codes[start : start + window], minlength=n_items).astype(float)
        share /= share.sum()
        out.append(0.0 if previous is None else 0.5 * float(np.abs(share - previous).sum()))
        previous = share
    return np.asarray(out)


def new_id_rate(events: Events, window: int, *, column: str = "user") -> np.ndarray:
    """Per window, the share of its events whose ``column`` id was never seen before.

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> batch = EventBatch(np.array([1, 1, 2, 1]), np.zeros(4, int), np.ones(4))
    >>> new_id_rate(batch, 2).tolist()
    [0.5, 0.5]
    """
    ids = np.asarray(getattr(as_batch(events), column))
    _, first = np.unique(ids, return_index=True)
    is_new = np.zeros(len(ids), dtype=bool)
    is_new[first] = True
    return np.asarray(
        [is_new[start : start + window].mean() for start in range(0, len(ids), window)]
    )


def miss_stream(
    model: RecommenderBase,
    events: Events,
    k: int = 10,
    *,
    exclude_seen: bool = False,
    seen: Events | None = None,
) -> np.ndarray:
    """Per positive event (``value >= model.threshold``): 1 if its item is not in the user's top-k.

    The ranking is the model's as it stands (test before learning), over all items; with
    ``exclude_seen`` the items the user already has in the model's log are masked, and with
    ``seen`` the items each user has in those events (for streams where users do not come
    back to an item). Unknown users are ranked by the model's fallback, each with their own
    mask; an unknown item is always a miss. The events' order is kept.

    Examples
    --------
    >>> from freshrec.data.batch import EventBatch
    >>> from freshrec.models.popular import MostPopular
    >>> model = MostPopular().fit(EventBatch(np.array([1, 2, 2]), np.array([7, 7, 8]), np.ones(3)))
    >>> miss_stream(model, EventBatch(np.array([3, 3]), np.array([7, 9]), np.ones(2)), k=1).tolist()
    [0.0, 1.0]
    >>> earlier = EventBatch(np.array([3]), np.array([7]), np.ones(1))
    >>> probe = EventBatch(np.array([3]), np.array([8]), np.ones(1))
    >>> miss_stream(model, probe, k=1, seen=earlier).tolist()  # 7 masked: 8 is user 3's top-1
    [0.0]
    """
    batch = as_batch(events).positives(model.threshold)
    if not len(batch):
        return np.zeros(0)
    users, first, rows = np.unique(batch.user, return_index=True, return_inverse=True)
    rows = rows.ravel()
    user_idx, item_idx = model.encode(batch).indices()
    scores = model.score_batch(user_idx[first])  # one row per user, unknown ones too
    known = np.flatnonzero(user_idx[first] >= 0)
    if exclude_seen and len(known):
        seen_rows, seen_cols = model.positives_csr()[user_idx[first][known]].nonzero()
        scores[known[seen_rows], seen_cols] = -np.inf
    if seen is not None:
        earlier = as_batch(seen)
        _, earlier_items = model.encode(earlier).indices()
        keep = (earlier_items >= 0) & np.isin(earlier.user, users)
        scores[np.searchsorted(users, earlier.user[keep]), earlier_items[keep]] = -np.inf
    cut = min(k, scores.shape[1])
    top = np.argpartition(-scores, cut - 1, axis=1)[:, :cut]
    hit = (top[rows] == item_idx[:, None]).any(axis=1) & (item_idx >= 0)
    misses: np.ndarray = (~hit).astype(np.float64)
    return misses
