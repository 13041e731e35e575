"""A popularity prior for factor and sequential models, strongest for short histories.

A user first seen after the last retrain has a vector learned from a burst of a few events;
on ML-1M such users scored worse with BPR than with item popularity (and with SASRec reading
their first few items). Models that mix in :class:`PopularityPrior` add to each score

    ``popularity_prior * log(1 + n_i) / (1 + n_u)``

(``n_i``: the item's positive events, ``n_u``: the user's positive events the model learned,
or for a sequential model the length of the sequence it reads):
for a user with one event the prior counts half, after 20 events a twentieth, and the
scores stay inner products (:meth:`PopularityPrior.prior_columns`: one more column for the
retrieval index). ``popularity_prior=0`` (the default) leaves the model as it was.
:func:`choose_popularity_prior` picks its weight on validation: a clone is fitted once on
all but the last events, then every weight of a grid is scored on those (the prior is added
at scoring time, so one fit serves the whole grid).

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.bpr import BPR
>>> events = checkerboard_events()
>>> plain = BPR(n_factors=4, n_epochs=5).fit(events)
>>> blended = BPR(n_factors=4, n_epochs=5, popularity_prior=1.0).fit(events)
>>> bool(np.allclose(plain.score_batch([0]), blended.score_batch([0])))
False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.data.batch import Events, as_batch

__all__ = ["PopularityPrior", "PriorChoice", "choose_popularity_prior"]

GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


class PopularityPrior:
    """Mixin: the popularity prior of the module doc, for a model with ``popularity_prior``.

    The user lengths (:meth:`history_lengths`) are recounted from the model's history when
    it learned something since the last count (``n_events_`` or the log cursor changed).

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.bpr import BPR
    >>> model = BPR(n_factors=4, n_epochs=2, popularity_prior=0.5).fit(checkerboard_events())
    >>> users, items = model.prior_columns(np.array([0, 1]))
    >>> users.shape, items.shape == (model.n_items,)
    ((2,), True)
    """

    popularity_prior: float
    item_counts_: np.ndarray
    _lengths: tuple[Any, np.ndarray] | None = None

    def prior_columns(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The prior as a product: per user ``popularity_prior / (1 + n_u)``, per item
        ``log(1 + n_i)``."""
        lengths = self.history_lengths()[np.asarray(user_idx, dtype=np.int64)]
        return self.popularity_prior / (1.0 + lengths), np.log1p(self.item_counts_)

    def history_lengths(self) -> np.ndarray:
        """``n_u`` of every user: their positive events in the model's history."""
        assert isinstance(self, RecommenderBase)
        key = (self.n_events_, getattr(self, "cursor_", None), self.n_users)
        if self._lengths is None or self._lengths[0] != key:
            indptr = self.positives_csr().indptr
            self._lengths = (key, np.diff(indptr).astype(np.float64))
        return self._lengths[1]

    def _with_prior(
        self, scores: np.ndarray, user_idx: np.ndarray, item_idx: np.ndarray | None
    ) -> np.ndarray:
        """``scores`` (users x items) plus the prior (unchanged when the weight is 0)."""
        if not self.popularity_prior:
            return scores
        users, items = self.prior_columns(user_idx)
        return scores + np.outer(users, items if item_idx is None else items[item_idx])


@dataclass(frozen=True)
class PriorChoice:
    """The weight :func:`choose_popularity_prior` picked and the hit rate of each weight tried.

    Examples
    --------
    >>> PriorChoice(0.3, {0.0: 0.10, 0.3: 0.12}).weight
    0.3
    """

    weight: float
    tried: dict[float, float]


def choose_popularity_prior(
    model: RecommenderBase,
    events: Events,
    *,
    validation: float = 0.1,
    grid: tuple[float, ...] = GRID,
    k: int = 10,
) -> PriorChoice:
    """The ``popularity_prior`` of ``model`` that hits the most of the last ``validation``
    share of ``events`` (time order) in the users' top-``k``, their earlier items masked.

    A clone of ``model`` is fitted on the earlier events; ties go to the smaller weight.

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> from freshrec.models.bpr import BPR
    >>> events = synthetic_stream(n_users=60, n_items=50, n_events=3000, seed=0).events
    >>> choice = choose_popularity_prior(BPR(n_factors=4, n_epochs=5), events)
    >>> choice.weight in GRID and len(choice.tried) == len(GRID)
    True
    """
    from freshrec.drift.signals import miss_stream

    if "popularity_prior" not in model.get_params():
        raise ValueError(f"{type(model).__name__} has no popularity_prior")
    if not 0.0 < validation < 1.0:
        raise ValueError(f"validation must be a share in (0, 1), got {validation}")
    batch = as_batch(events)
    cut = int(round(len(batch) * (1.0 - validation)))
    train, held = batch[:cut], batch[cut:]
    if not len(train) or not len(held):
        raise ValueError(f"{len(batch)} events are too few to hold out {validation:.0%}")
    seen = train.take(np.isin(train.user, np.unique(held.user)))
    fitted = model.clone().set_params(popularity_prior=0.0).fit(train)
    tried: dict[float, float] = {}
    for weight in grid:
        fitted.set_params(popularity_prior=weight)
        tried[weight] = float(1.0 - miss_stream(fitted, held, k, seen=seen).mean())
    best = max(tried, key=lambda weight: (tried[weight], -weight))
    return PriorChoice(best, tried)
