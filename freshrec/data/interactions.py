"""InteractionLog: the append-only record of encoded events a model has learned from."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["InteractionLog", "events_csr"]


class InteractionLog:
    """Encoded events, appended in arrival order, with a cached sparse-matrix view.

    Examples
    --------
    >>> log = InteractionLog()
    >>> log.append(np.array([0, 1, 0]), np.array([2, 0, 2]), np.array([1.0, 5.0, 3.0]))
    >>> log.to_csr(2, 3).toarray().tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    >>> log.to_csr(2, 3, how="sum").toarray()[0].tolist()
    [0.0, 0.0, 4.0]
    """

    def __init__(self) -> None:
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending: tuple[list[int], list[int], list[float]] = ([], [], [])
        # (threshold, how) -> (events covered, matrix); appends extend it, drops clear it
        self._cache: dict[tuple[object, ...], tuple[int, sp.csr_matrix]] = {}

    def __len__(self) -> int:
        return sum(len(c[0]) for c in self._chunks) + len(self._pending[0])

    def append_one(self, user_idx: int, item_idx: int, value: float) -> None:
        """Add one encoded event, cheaply: single events are joined into a chunk on next use.

        Examples
        --------
        >>> log = InteractionLog()
        >>> log.append_one(0, 2, 1.0); log.append_one(1, 0, 5.0)
        >>> len(log), log.arrays()[1].tolist()
        (2, [2, 0])
        """
        users, items, values = self._pending
        users.append(user_idx)
        items.append(item_idx)
        values.append(value)

    def _flush(self) -> None:
        """Move single events appended by :meth:`append_one` into a chunk."""
        users, items, values = self._pending
        if users:
            self._chunks.append(
                (np.array(users, np.int64), np.array(items, np.int64), np.array(values, np.float32))
            )
            self._pending = ([], [], [])

    def append(self, user_idx: np.ndarray, item_idx: np.ndarray, value: np.ndarray) -> None:
        """Add encoded events (all three arrays of shape (n,))."""
        self._flush()
        if len(user_idx):
            self._chunks.append(
                (
                    np.asarray(user_idx, np.int64),
                    np.asarray(item_idx, np.int64),
                    np.asarray(value, np.float32),
                )
            )

    def drop(self, *, users: np.ndarray | None = None, items: np.ndarray | None = None) -> int:
        """Remove every event of the given user and item indices; return how many went.

        Examples
        --------
        >>> log = InteractionLog()
        >>> log.append(np.array([0, 1, 2]), np.array([5, 6, 5]), np.ones(3))
        >>> log.drop(items=np.array([5])), log.arrays()[0].tolist()
        (2, [1])
        """
        user_idx, item_idx, values = self.arrays()
        gone = np.zeros(len(user_idx), dtype=bool)
        if users is not None and len(users):
            gone |= np.isin(user_idx, users)
        if items is not None and len(items):
            gone |= np.isin(item_idx, items)
        if gone.any():
            self._chunks = [(user_idx[~gone], item_idx[~gone], values[~gone])]
            self._cache.clear()
        return int(gone.sum())

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All events as ``(user_idx, item_idx, value)`` arrays, in arrival order."""
        self._flush()
        if not self._chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        if len(self._chunks) > 1:
            users, items, values = (
                np.concatenate(parts) for parts in zip(*self._chunks, strict=True)
            )
            self._chunks = [(users, items, values)]
        return self._chunks[0]

    def to_csr(
        self,
        n_users: int,
        n_items: int,
        *,
        threshold: float | None = None,
        how: str = "binary",
    ) -> sp.csr_matrix:
        """User x item matrix of the log.

        ``how``: ``"binary"`` (1 where any event), ``"sum"`` of values, or ``"last"`` value.
        With ``threshold``, only events with ``value >= threshold`` count. The matrix is
        cached; after an append, a ``"binary"`` or ``"sum"`` matrix is extended by the new
        events (and the new rows and columns) instead of being rebuilt.
        """
        if how not in ("binary", "sum", "last"):
            raise ValueError(f"how must be 'binary', 'sum' or 'last', got {how!r}")
        key = (threshold, how)
        n_events = len(self)
        covered, matrix = self._cache.get(key, (0, None))
        if matrix is not None and covered == n_events and matrix.shape == (n_users, n_items):
            return matrix
        extendable = (
            matrix is not None
            and how != "last"
            and covered <= n_events
            and matrix.shape[0] <= n_users
            and matrix.shape[1] <= n_items
        )
        if extendable:
            start = covered
            base = _resized(matrix, n_users, n_items)
        else:
            start, base = 0, None
        built = events_csr(
            *self._events_from(start), (n_users, n_items), threshold=threshold, how=how
        )
        if base is not None:
            built = base + built
            if how == "binary":
                built.data[:] = 1.0
        self._cache[key] = (n_events, built)
        return built

    def _events_from(self, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The events from position ``start`` on, without joining the older chunks."""
        self._flush()
        parts, offset = [], 0
        for chunk in self._chunks:
            end = offset + len(chunk[0])
            if end > start:
                parts.append(tuple(column[max(start - offset, 0) :] for column in chunk))
            offset = end
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        if len(parts) == 1:
            return parts[0]  # type: ignore[return-value]
        users, items, values = (np.concatenate(columns) for columns in zip(*parts, strict=True))
        return users, items, values


def events_csr(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    *,
    threshold: float | None = None,
    how: str = "binary",
) -> sp.csr_matrix:
    """``float32`` user x item matrix of encoded events: ``how`` is ``"binary"`` (1 where any
    event), ``"sum"`` of values or ``"last"`` value; with ``threshold``, only events with
    ``value >= threshold`` count.

    Examples
    --------
    >>> users, items, values = np.array([0, 0, 1]), np.array([1, 1, 0]), np.array([2.0, 3.0, 1.0])
    >>> events_csr(users, items, values, (2, 2), how="last").toarray().tolist()
    [[0.0, 3.0], [1.0, 0.0]]
    >>> events_csr(users, items, values, (2, 2), threshold=2.0).toarray().tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    if how not in ("binary", "sum", "last"):
        raise ValueError(f"how must be 'binary', 'sum' or 'last', got {how!r}")
    if threshold is not None:
        keep = values >= threshold
        users, items, values = users[keep], items[keep], values[keep]
    if how == "last":
        flat = users * shape[1] + items
        _, last = np.unique(flat[::-1], return_index=True)
        last = len(flat) - 1 - last
        users, items, values = users[last], items[last], values[last]
    elif how == "binary":
        values = np.ones(len(users), np.float32)
    matrix = sp.csr_matrix((values, (users, items)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    if how == "binary":
        matrix.data[:] = 1.0
    return matrix


def _resized(matrix: sp.csr_matrix, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """A copy-free view of ``matrix`` with empty rows and columns appended."""
    indptr = np.concatenate(
        [matrix.indptr, np.full(n_rows - matrix.shape[0], matrix.indptr[-1], matrix.indptr.dtype)]
    )
    return sp.csr_matrix((matrix.data, matrix.indices, indptr), shape=(n_rows, n_cols))
