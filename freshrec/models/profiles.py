"""User profiles as learned state: the user x item matrix that neighbourhood models score with.

For ItemKNN, UserKNN and ContentKNN the matrix of each user's positives *is* the model (its
scores are this matrix times item similarities), so they keep and save it, instead of reading
it from the events.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from freshrec.base import RecommenderBase
from freshrec.data.batch import EventBatch

__all__ = [
    "PositivesModel",
    "add_to_profiles",
    "latest_items",
    "profiles_from_arrays",
    "profiles_to_arrays",
]


class PositivesModel(RecommenderBase):
    """A model whose state includes each user's positives (``positives_``: binary ``float32``
    CSR, users x items), learned from the events and saved with the model.

    Subclasses call :meth:`_learn_positives` in ``_learn`` and ``super()._grow`` in ``_grow``.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models import ItemKNN
    >>> model = ItemKNN().fit([Event("ann", "a"), Event("ann", "b", 0.0), Event("bob", "b")])
    >>> isinstance(model, PositivesModel), model.positives_.toarray().tolist()
    (True, [[1.0, 0.0], [0.0, 1.0]])
    """

    positives_: sp.csr_matrix

    def _grow(self, n_users: int, n_items: int) -> None:
        if hasattr(self, "positives_"):
            self.positives_.resize((n_users, n_items))

    def _learn_positives(self, batch: EventBatch) -> sp.csr_matrix:
        """Add ``batch``'s positives to ``positives_``; return the binary ``int32`` matrix of
        the pairs that became positive for the first time."""
        positive = batch.value >= self.threshold
        user_idx, item_idx = batch.indices()
        self.positives_, fresh = add_to_profiles(
            getattr(self, "positives_", None),
            user_idx[positive],
            item_idx[positive],
            np.ones(int(positive.sum()), np.float32),
            (self.n_users, self.n_items),
        )
        self.positives_.data[:] = 1.0
        return fresh

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), **profiles_to_arrays("positives", self.positives_)}

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._set_arrays(arrays)
        self.positives_ = profiles_from_arrays("positives", arrays, (self.n_users, self.n_items))


def add_to_profiles(
    before: sp.csr_matrix | None,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``before`` (grown to ``shape``) plus the events' ``values`` summed per pair, and the
    binary ``int32`` matrix of the pairs that were not in ``before``.

    Examples
    --------
    >>> after, fresh = add_to_profiles(None, np.array([0, 0]), np.array([1, 1]),
    ...                                np.array([2.0, 3.0]), (1, 2))
    >>> after.toarray().tolist(), fresh.toarray().tolist()
    ([[0.0, 5.0]], [[0, 1]])
    >>> after, fresh = add_to_profiles(after, np.array([0, 1]), np.array([1, 0]),
    ...                                np.ones(2), (2, 2))
    >>> after.toarray().tolist(), fresh.toarray().tolist()
    ([[0.0, 6.0], [1.0, 0.0]], [[0, 0], [1, 0]])
    """
    added = sp.csr_matrix(
        (np.asarray(values, np.float32), (user_idx, item_idx)), shape=shape, dtype=np.float32
    )
    added.sum_duplicates()
    if before is None:
        old = sp.csr_matrix(shape, dtype=np.float32)
    else:
        old = before.copy()
        old.resize(shape)
    fresh = (added != 0).astype(np.int32) - (added != 0).multiply(old != 0).astype(np.int32)
    fresh.eliminate_zeros()
    after = old + added
    after.sort_indices()
    return sp.csr_matrix(after, dtype=np.float32), sp.csr_matrix(fresh, dtype=np.int32)


def profiles_to_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """The arrays that save ``matrix`` under ``name`` (its shape comes from the id maps).

    Examples
    --------
    >>> m = sp.csr_matrix(np.array([[0.0, 2.0], [1.0, 0.0]], np.float32))
    >>> profiles_from_arrays("p", profiles_to_arrays("p", m), (2, 2)).toarray().tolist()
    [[0.0, 2.0], [1.0, 0.0]]
    """
    return {
        f"{name}.data": matrix.data,
        f"{name}.indices": matrix.indices.astype(np.int32),
        f"{name}.indptr": matrix.indptr.astype(np.int64),
    }


def profiles_from_arrays(
    name: str, arrays: Mapping[str, np.ndarray], shape: tuple[int, int]
) -> sp.csr_matrix:
    """The matrix saved by :func:`profiles_to_arrays`.

    Examples
    --------
    >>> arrays = {"p.data": np.ones(1), "p.indices": np.array([1]), "p.indptr": np.array([0, 1])}
    >>> profiles_from_arrays("p", arrays, (1, 2)).toarray().tolist()
    [[0.0, 1.0]]
    """
    return sp.csr_matrix(
        (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
        shape=shape,
        dtype=np.float32,
    )


def latest_items(
    before: np.ndarray | None,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    length: int,
) -> np.ndarray:
    """Each user's ``length`` latest items, (n_users, length), oldest first, right-aligned and
    ``-1``-padded: ``before`` (an earlier result) followed by the events, in their order.

    Examples
    --------
    >>> first = latest_items(None, np.array([0, 1, 0]), np.array([5, 6, 7]), 2, 2)
    >>> first.tolist()
    [[5, 7], [-1, 6]]
    >>> latest_items(first, np.array([0, 2]), np.array([8, 9]), 3, 2).tolist()
    [[7, 8], [-1, 6], [-1, 9]]
    """
    old = np.full((n_users, length), -1, np.int64)
    if before is not None and length and before.shape[1]:
        width = min(length, before.shape[1])
        old[: len(before), length - width :] = before[:, before.shape[1] - width :]
    if not len(user_idx) or not length:
        return old
    old_users, old_positions = np.nonzero(old >= 0)
    users = np.concatenate([old_users, np.asarray(user_idx, np.int64)])
    items = np.concatenate([old[old_users, old_positions], np.asarray(item_idx, np.int64)])
    rank = np.concatenate([old_positions, length + np.arange(len(user_idx))])
    order = np.lexsort((rank, users))
    users, items = users[order], items[order]
    ends = np.cumsum(np.bincount(users, minlength=n_users))
    back = ends[users] - 1 - np.arange(len(users))  # 0 = the user's latest item
    take = back < length
    out = np.full((n_users, length), -1, np.int64)
    out[users[take], length - 1 - back[take]] = items[take]
    return out
