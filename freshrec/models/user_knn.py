"""UserKNN: user-user cosine similarity with shrinkage over incrementally kept co-occurrences."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from freshrec.data.batch import EventBatch
from freshrec.models.item_knn import Cooccurrence, _rows_times
from freshrec.models.profiles import PositivesModel

__all__ = ["UserKNN"]


class UserKNN(PositivesModel):
    """User-based nearest neighbours: score an item by how similar users took to it.

    On the binary positive matrix ``X`` (users x items, ``value >= threshold``) with user
    co-occurrences ``G = XXᵀ`` (``G_uu`` is the number of positives ``|I_u|`` of user ``u``)::

        sim(u, v)   = G_uv / (sqrt(G_uu) * sqrt(G_vv) + shrink)        for u != v
        score(u, j) = sum over the kept neighbours v of u of sim(u, v) * X_vj

    where each row ``sim(u, .)`` keeps only its ``n_neighbors`` largest entries (ties go to
    the lower user index). ``partial_fit`` adds exactly the co-occurrences of the pairs that
    became positive for the first time (a repeated event counts once) and marks stale the
    similarity rows that depend on a changed count or degree; those rows are recomputed on
    the next scoring. A saved model stores the event log only, and ``G`` is rebuilt from it
    on first use after loading. Users with no positives score 0 everywhere; unknown users
    get item popularity.

    Parameters
    ----------
    n_neighbors
        Similar users kept per user; ``None`` or ``0`` keeps all.
    shrink
        Added to the cosine denominator; damps similarities built on few shared items.
    threshold
        Events with ``value >= threshold`` count as positives.

    Attributes
    ----------
    cooccurrence_
        :class:`~freshrec.models.item_knn.Cooccurrence` of users over items:
        ``cooccurrence_.counts`` is ``G = XXᵀ``, a sparse ``int32`` matrix of shape
        (n_users, n_users).

    Examples
    --------
    >>> from freshrec.data import Event
    >>> events = [Event("ann", "a"), Event("ann", "b"), Event("bob", "a"), Event("bob", "b"),
    ...           Event("bob", "c"), Event("cat", "c")]
    >>> model = UserKNN(shrink=0.0).fit(events)
    >>> model.cooccurrence_.counts.toarray().tolist()
    [[2, 2, 0], [2, 3, 1], [0, 1, 1]]
    >>> round(float(model.similarities()[0, 1]), 4)  # 2 / (sqrt(2) * sqrt(3))
    0.8165
    >>> [s.item for s in model.recommend("ann", k=1, exclude=["a", "b"])]
    ['c']
    >>> _ = model.partial_fit([Event("dan", "a"), Event("cat", "a"), Event("ann", "a")])
    >>> model.cooccurrence_.counts.toarray().tolist()
    [[2, 2, 1, 1], [2, 3, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1]]
    """

    def __init__(
        self, n_neighbors: int | None = 100, shrink: float = 10.0, threshold: float = 1.0
    ) -> None:
        self.n_neighbors = n_neighbors
        self.shrink = shrink
        self.threshold = threshold

    def _grow(self, n_users: int, n_items: int) -> None:
        if hasattr(self, "cooccurrence_"):
            self.cooccurrence_.grow(n_users)
        super()._grow(n_users, n_items)

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        fresh = self._learn_positives(batch)
        by_item = self.positives_.T.tocsr().astype(np.int32)
        if not hasattr(self, "cooccurrence_"):
            self.cooccurrence_ = Cooccurrence(by_item)
            return
        self.cooccurrence_.add(by_item, fresh.T.tocsr())

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        scores = _rows_times(self.similarities(), user_idx, self.positives_)
        return scores if item_idx is None else scores[:, item_idx]

    def similarities(self) -> sp.csr_matrix:
        """Kept similarities ``sim(u, v)``, shape (n_users, n_users), sorted indices."""
        self._check_fitted()
        if not hasattr(self, "cooccurrence_"):  # loaded models restore the positives only
            self.cooccurrence_ = Cooccurrence(self.positives_.T.tocsr().astype(np.int32))
        return self.cooccurrence_.similarity(self.shrink, self.n_neighbors)
