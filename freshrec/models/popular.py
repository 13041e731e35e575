"""MostPopular: rank items by how often they were interacted with, optionally time-decayed."""

from __future__ import annotations

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch
from freshrec.tables import grow_rows

__all__ = ["MostPopular"]


class MostPopular(RecommenderBase):
    """Recommend the items with the most positive events, the same list for every user.

    With ``half_life_s`` each event's weight halves every ``half_life_s`` seconds before
    the latest timestamp seen: ``score(i) = sum_e 0.5 ** ((t_latest - t_e) / half_life_s)``.
    Updates are exact and incremental: on newer events all scores decay by one factor.

    Parameters
    ----------
    half_life_s
        Seconds after which an event counts half; ``None`` disables decay.
    threshold
        Events with ``value >= threshold`` count as positives.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> model = MostPopular().fit([Event("ann", "a"), Event("bob", "a"), Event("bob", "b")])
    >>> [s.item for s in model.recommend("zoe", k=2)]
    ['a', 'b']
    >>> decayed = MostPopular(half_life_s=10.0).fit(
    ...     [Event("ann", "a", timestamp=0.0), Event("bob", "b", timestamp=10.0)])
    >>> decayed.score("ann", ["a", "b"]).tolist()
    [0.5, 1.0]
    """

    _state_arrays = ("popularity_",)
    _state_values = ("latest_time_",)
    _check_skips = {"check_learns_checkerboard": "not personalised: one list for every user"}

    def __init__(self, half_life_s: float | None = None, threshold: float = 1.0) -> None:
        self.half_life_s = half_life_s
        self.threshold = threshold

    def _grow(self, n_users: int, n_items: int) -> None:
        if not hasattr(self, "popularity_"):
            self.popularity_ = np.zeros(0)
            self.latest_time_: float | None = None
        self.popularity_ = grow_rows(self.popularity_, n_items)

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        positive = batch.value >= self.threshold
        if self.half_life_s is None or batch.timestamp is None:
            np.add.at(self.popularity_, batch.indices()[1][positive], 1.0)
            return
        times = batch.timestamp[positive]
        if len(times) == 0:
            return
        latest = float(times.max())
        if self.latest_time_ is not None and latest < self.latest_time_:
            latest = self.latest_time_
        if self.latest_time_ is not None:
            self.popularity_ *= 0.5 ** ((latest - self.latest_time_) / self.half_life_s)
        self.latest_time_ = latest
        weights = 0.5 ** ((latest - times) / self.half_life_s)
        np.add.at(self.popularity_, batch.indices()[1][positive], weights)

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        row = self.popularity_ if item_idx is None else self.popularity_[item_idx]
        return np.broadcast_to(row, (len(user_idx), len(row))).copy()

    def _fallback_scores(self, item_idx: np.ndarray | None) -> np.ndarray:
        return self.popularity_ if item_idx is None else self.popularity_[item_idx]
