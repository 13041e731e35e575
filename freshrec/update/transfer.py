"""Transfer learning: start a target-domain model from what a source-domain model learned.

:func:`fine_tune_from` builds a target model whose rows for ids shared with the source
(users, in a cross-domain pair with shared users) start from the source's trained rows;
the rest start as usual; then it trains on the target events. Shared users with no target
event keep their source vectors, which the target's item vectors are trained to match,
so they get personal recommendations in a domain where they did nothing yet.
:func:`subsample_per_user` draws the "x% of the target data" of a data-scarce target.

Examples
--------
>>> from freshrec.data.batch import EventBatch
>>> from freshrec.models.bpr import BPR
>>> rng = np.random.default_rng(0)
>>> source_events = EventBatch(rng.integers(0, 30, 600), rng.integers(0, 40, 600), np.ones(600))
>>> target_events = EventBatch(rng.integers(0, 30, 200), rng.integers(0, 50, 200), np.ones(200))
>>> source = BPR(n_factors=8, n_epochs=10).fit(source_events)
>>> target = fine_tune_from(source, BPR(n_factors=8, n_epochs=5), target_events)
>>> target.n_users >= source.n_users  # every source user is known to the target
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import GrowsAndEvicts, Rehearses
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.update.structure import migrate_embeddings

__all__ = ["fine_tune_from", "subsample_per_user"]


def subsample_per_user(events: Events, fraction: float, seed: int = 0) -> EventBatch:
    """Keep about ``fraction`` of each user's events, drawn at random (row order kept).

    User ``u`` with ``n_u`` events keeps ``floor(fraction * n_u + U)`` of them, ``U`` uniform
    in [0, 1) (stochastic rounding), so the expected share is ``fraction`` for every user,
    and a user may keep none when ``fraction * n_u < 1``.

    Examples
    --------
    >>> batch = EventBatch(np.repeat([0, 1], 50), np.arange(100), np.ones(100))
    >>> kept = subsample_per_user(batch, 0.2, seed=0)
    >>> len(kept), np.bincount(kept.user).tolist()
    (20, [10, 10])
    >>> len(subsample_per_user(batch, 1.0)) == len(batch)
    True
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    batch = as_batch(events)
    if fraction == 1.0:
        return batch
    rng = np.random.default_rng(seed)
    _, user_codes = np.unique(batch.user, return_inverse=True)
    user_codes = user_codes.ravel()
    counts = np.bincount(user_codes)
    quota = np.floor(fraction * counts + rng.random(len(counts))).astype(np.int64)
    # a random rank of each event within its user; keep ranks below the user's quota
    order = np.lexsort((rng.random(len(batch)), user_codes))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(batch), np.int64)
    rank[order] = np.arange(len(batch)) - starts[user_codes[order]]
    return batch.take(rank < quota[user_codes])


def fine_tune_from(
    source: RecommenderBase,
    target: RecommenderBase,
    events: Events,
    *,
    tables: Sequence[str] = ("user_factors_",),
    users: Sequence[object] | np.ndarray | None = None,
) -> RecommenderBase:
    """Train ``target`` (unfitted) on ``events``, its shared-id rows starting from ``source``.

    ``tables`` names the numpy tables copied by id (BPR's ``user_factors_`` for a pair of
    domains with shared users; add ``item_factors_`` when items are shared too). ``users``
    are extra ids the target should know from the start (default: every source user), so
    that users with no target event are served from their transferred vectors. The target
    must be :class:`~freshrec.capabilities.Rehearses` (``partial_fit(..., replay=...)``) and
    :class:`~freshrec.capabilities.GrowsAndEvicts` (``add_ids``): it is first fitted with 0
    epochs to make its tables, the extra ids are added, the source rows are copied, then it
    learns ``events`` with its own ``n_epochs``.

    Examples
    --------
    >>> from freshrec.models.bpr import BPR
    >>> source = BPR(n_factors=4, n_epochs=5).fit(EventBatch(np.array([1, 2]), np.array([7, 8]),
    ...                                                       np.ones(2)))
    >>> target = fine_tune_from(source, BPR(n_factors=4, n_epochs=5),
    ...                         EventBatch(np.array([1]), np.array([30]), np.ones(1)))
    >>> bool(np.array_equal(target.user_factors_[target.user_map_.encode_one(2)],
    ...                     source.user_factors_[source.user_map_.encode_one(2)]))
    True
    """
    if not isinstance(target, Rehearses) or not isinstance(target, GrowsAndEvicts):
        raise ValueError(
            f"{type(target).__name__} cannot be fine-tuned from another model: it must be "
            "Rehearses and GrowsAndEvicts (BPR, NeuMF)"
        )
    batch = as_batch(events)
    epochs = target.get_params()["n_epochs"]
    target.set_params(n_epochs=0).fit(batch)
    extra = source.user_map_.ids if users is None else list(users)
    target.add_ids(users=np.asarray([u for u in extra if u is not None], dtype=object))
    migrate_embeddings(source, target, {name: name for name in tables})
    target.set_params(n_epochs=epochs)
    # learn the events already in the log once more, from the copied rows: a replay
    target.partial_fit(EventBatch.empty(), replay=batch)
    return target
