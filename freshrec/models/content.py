"""ContentKNN: content-based recommendation by cosine between user and item feature profiles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from freshrec.base import Scored
from freshrec.data.batch import EventBatch, Events
from freshrec.data.dataset import SideTable
from freshrec.features import FeatureEncoder
from freshrec.models.profiles import (
    PositivesModel,
    add_to_profiles,
    profiles_from_arrays,
    profiles_to_arrays,
)
from freshrec.tables import grow_rows
from freshrec.typing import ItemId

__all__ = ["ContentKNN"]


class ContentKNN(PositivesModel):
    """Content-based recommender: items are their side features, users the mean of their items.

    Item ``j`` has a feature row ``f_j`` (the ``features`` specs encoded by a
    :class:`~freshrec.features.FeatureEncoder`, l2-normalised). A user's profile is the
    (value-weighted) mean of the rows of their positive items, and::

        score(u, j) = cos(profile_u, f_j)

    (the mean and the sum give the same cosine), so an item that nobody has interacted with
    yet is recommended as soon as its features are known (cold start); items without
    features score 0. Unknown users get item popularity (the base fallback).

    **Passing item features.** The side table is data, not a hyperparameter, so it never
    goes to ``__init__``: give it as ``fit(events, items=table)`` /
    ``partial_fit(events, items=table)``, or at any time after fitting through
    :meth:`set_item_features`. Items of the table that no event mentions yet are added to
    the model's item index (the cold-start path). The encoder's vocabularies are learned from
    the first table after a reset and kept afterwards (new words or categories of later
    tables map to no column). ``clone()`` therefore copies only the specs, and ``save`` writes
    the vocabularies as JSON and the feature matrix as arrays, so a loaded model scores the
    same without the table.

    **Collaborative block.** Each item row can also carry its column of the positive matrix
    (the users who liked it, l2-normalised) scaled by ``collaborative``. When no side table
    was ever given, the rows are this block alone (weight 1), so the model degrades into an
    item-based cosine neighbour model instead of scoring 0 everywhere.

    Parameters
    ----------
    features
        Feature specs as ``"column:kind[:arg...]"`` strings (see
        :func:`freshrec.features.parse_spec`), e.g. ``("title:tfidf", "category:onehot")``.
    collaborative
        Weight of the collaborative block next to the content block (0: pure content).
    weight_by_value
        Weight each positive item of a user's profile by the event value instead of 1.
    threshold
        Events with ``value >= threshold`` count as positives.

    Attributes
    ----------
    encoder_state_
        The fitted encoder as JSON (``FeatureEncoder.to_dict``), ``None`` before any table.
    content_data_, content_indices_, content_indptr_
        CSR arrays of the content rows, shape (n_items, n_features_), in item index order.

    Examples
    --------
    >>> import numpy as np
    >>> from freshrec.data import Event, SideTable
    >>> items = SideTable(np.array(["a", "b", "c", "new"], dtype=object),
    ...     {"genre": np.array(["jazz", "rock", "jazz", "jazz"], dtype=object)})
    >>> model = ContentKNN(features=("genre:onehot",)).fit(
    ...     [Event("ann", "a"), Event("bob", "b")], items=items)
    >>> [s.item for s in model.recommend("ann", k=2, exclude=["a"])]
    ['c', 'new']
    >>> model.score("bob", ["new", "b"]).tolist()
    [0.0, 1.0]
    """

    _state_arrays = ("content_data_", "content_indices_", "content_indptr_")
    _state_values = ("encoder_state_", "n_features_")
    encoder_state_: dict[str, Any] | None
    n_features_: int

    def __init__(
        self,
        features: tuple[str, ...] = ("title:tfidf", "category:onehot"),
        collaborative: float = 0.0,
        weight_by_value: bool = False,
        threshold: float = 1.0,
    ) -> None:
        self.features = features
        self.collaborative = collaborative
        self.weight_by_value = weight_by_value
        self.threshold = threshold

    # -- learning -----------------------------------------------------------------------
    def fit(
        self, events: Events, *, valid: EventBatch | None = None, items: SideTable | None = None
    ) -> Self:
        """Forget everything, then learn from ``events`` and the item side table ``items``."""
        self.reset()
        return self.partial_fit(events, valid=valid, items=items)

    def partial_fit(
        self,
        events: Events,
        *,
        valid: EventBatch | None = None,
        replay: Events | None = None,
        items: SideTable | None = None,
    ) -> Self:
        """Learn from ``events``; with ``items``, also (re)set those items' features."""
        super().partial_fit(events, valid=valid, replay=replay)
        if items is not None:
            self.set_item_features(items)
        return self

    def set_item_features(self, items: SideTable) -> Self:
        """Set the features of the items in ``items``, adding unknown ones to the index.

        The first table after a reset fits the encoder; later ones reuse its vocabularies.
        Rows of items not in ``items`` are kept.
        """
        self._check_fitted()
        if self.encoder_state_ is None:
            encoder = FeatureEncoder(list(self.features)).fit(items)
            self.encoder_state_ = encoder.to_dict()
            self.n_features_ = encoder.n_features
        else:
            encoder = FeatureEncoder.from_dict(self.encoder_state_)
        ids = np.asarray(items.ids, dtype=object)
        item_idx = self.item_map_.encode(ids, grow=True)
        if self.n_items > len(self.item_counts_):
            self.item_counts_ = grow_rows(self.item_counts_, self.n_items)
            self._grow(self.n_users, self.n_items)
        rows = encoder.transform(items)
        _, last = np.unique(item_idx[::-1], return_index=True)  # a repeated id: last row wins
        keep = len(item_idx) - 1 - last
        scatter = sp.csr_matrix(
            (np.ones(len(keep)), (item_idx[keep], keep)), shape=(self.n_items, len(item_idx))
        )
        untouched = np.ones(self.n_items)
        untouched[item_idx] = 0.0
        content = sp.diags(untouched) @ self.content_matrix() + scatter @ rows
        self._set_content(sp.csr_matrix(content))
        return self

    def _grow(self, n_users: int, n_items: int) -> None:
        super()._grow(n_users, n_items)
        if hasattr(self, "value_sums_"):
            self.value_sums_.resize((n_users, n_items))
        if not hasattr(self, "content_indptr_"):
            self.content_data_ = np.zeros(0, np.float64)
            self.content_indices_ = np.zeros(0, np.int64)
            self.content_indptr_ = np.zeros(1, np.int64)
            self.encoder_state_ = None
            self.n_features_ = 0
        extra = n_items + 1 - len(self.content_indptr_)
        if extra > 0:
            tail = np.full(extra, self.content_indptr_[-1], np.int64)
            self.content_indptr_ = np.concatenate([self.content_indptr_, tail])

    def _learn(self, batch: EventBatch, valid: EventBatch | None = None) -> None:
        """Add the batch to the user profiles (item features are set by ``items``)."""
        self._learn_positives(batch)
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        self.value_sums_, _ = add_to_profiles(
            getattr(self, "value_sums_", None),
            user_idx[positive],
            item_idx[positive],
            batch.value[positive],
            (self.n_users, self.n_items),
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), **profiles_to_arrays("value_sums", self.value_sums_)}

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._set_arrays(arrays)
        self.value_sums_ = profiles_from_arrays("value_sums", arrays, (self.n_users, self.n_items))

    def _set_content(self, content: sp.csr_matrix) -> None:
        content.sum_duplicates()
        content.eliminate_zeros()
        content.sort_indices()
        self.content_data_ = content.data.astype(np.float64)
        self.content_indices_ = content.indices.astype(np.int64)
        self.content_indptr_ = content.indptr.astype(np.int64)

    # -- scoring ------------------------------------------------------------------------
    def content_matrix(self) -> sp.csr_matrix:
        """Content feature rows, shape (n_items, n_features_), as encoded (not normalised)."""
        self._check_fitted()
        return sp.csr_matrix(
            (self.content_data_, self.content_indices_, self.content_indptr_),
            shape=(len(self.content_indptr_) - 1, self.n_features_),
        )

    def item_features(self) -> sp.csr_matrix:
        """The l2-normalised item rows that scoring uses, shape (n_items, n_columns).

        Content block (normalised) next to ``collaborative`` times the normalised column of
        the positive matrix; the collaborative block alone when no table was ever given.
        """
        content = _l2_rows(self.content_matrix())
        weight = self.collaborative if self.encoder_state_ is not None else 1.0
        if weight == 0.0:
            return content
        collab = _l2_rows(sp.csr_matrix(self.positives_.T, dtype=np.float64)) * weight
        return _l2_rows(sp.csr_matrix(sp.hstack([content, collab], format="csr")))

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        history = self.value_sums_ if self.weight_by_value else self.positives_
        features = self.item_features()
        profiles = _l2_rows(sp.csr_matrix(history[user_idx], dtype=np.float64) @ features)
        if item_idx is not None:
            features = features[item_idx]
        return np.asarray((profiles @ features.T).toarray(), dtype=np.float64)

    def similar_items(self, item: ItemId, k: int = 10) -> list[Scored]:
        """The ``k`` items with the most similar feature rows (cosine), best first."""
        self._check_fitted()
        i = self.item_map_.encode_one(item)
        if i < 0:
            raise KeyError(f"unknown item {item!r}")
        features = self.item_features()
        sims = np.asarray((features @ features[i].T).toarray()).ravel()
        sims[i] = -np.inf
        order = np.lexsort((np.arange(len(sims)), -sims))[:k]
        names = self.item_map_.decode(order).tolist()
        return [Scored(n, float(sims[j])) for n, j in zip(names, order, strict=True)]


def _l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit l2 norm; all-zero rows stay zero."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)
