"""Views of an event log kept up to date as events arrive: seen items, positives, sequences.

:class:`LogViews` holds the encoded columns of every event (cursor, user and item index,
value, timestamp) in log order. The matrices and sequences it returns are cached and, when
events arrive, extended by the new events only instead of being recounted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from freshrec.log.cursor import Cursor, Cursors

__all__ = ["LogViews", "Sequences"]

_TAIL_SCAN = 10_000  # events a lookup scans before the cached sequences are rebuilt


@dataclass(frozen=True, eq=False)
class Sequences:
    """Each user's items in log order (repeats kept), stored like a CSR matrix.

    Parameters
    ----------
    indptr
        ``int64`` array of shape (n_users + 1,): user ``u``'s events are
        ``indptr[u]:indptr[u + 1]``.
    item_idx
        ``int64`` item indices of shape (n_events,), grouped by user, in log order.
    timestamp
        ``float64`` timestamps of shape (n_events,), aligned with ``item_idx``.

    Examples
    --------
    >>> seq = Sequences(np.array([0, 2, 3]), np.array([5, 4, 5]), np.array([1.0, 3.0, 2.0]))
    >>> len(seq), seq[0].tolist(), seq.times(0).tolist(), seq.lengths().tolist()
    (2, [5, 4], [1.0, 3.0], [2, 1])
    """

    indptr: np.ndarray
    item_idx: np.ndarray = field(repr=False)
    timestamp: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, user_idx: int) -> np.ndarray:
        """The items of one user, oldest first."""
        return self.item_idx[self.indptr[user_idx] : self.indptr[user_idx + 1]]

    def times(self, user_idx: int) -> np.ndarray:
        """The timestamps of one user's events, aligned with ``self[user_idx]``."""
        return self.timestamp[self.indptr[user_idx] : self.indptr[user_idx + 1]]

    def lengths(self) -> np.ndarray:
        """Events per user, shape (n_users,)."""
        return np.diff(self.indptr)


class LogViews:
    """Encoded events in log order, with incrementally maintained views over them.

    Returned matrices and sequences are shared caches: read them, do not modify them.

    Examples
    --------
    >>> views = LogViews()
    >>> views.extend(Cursors(np.array([[1], [2], [3]])), np.array([0, 1, 0]),
    ...              np.array([2, 0, 2]), np.array([5.0, 1.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    >>> views.seen(2, 3).toarray().tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    >>> views.positives(4.0, 2, 3).nnz, views.sequences(2)[0].tolist(), views.last
    (1, [2, 2], Cursor('3'))
    """

    def __init__(self) -> None:
        # the columns in buffers that double when full: appending n events costs O(n)
        # amortized, and a view handed out never changes (later events go past its end)
        self._buffers: tuple[np.ndarray, ...] | None = None
        self._n = 0
        self.last = Cursor.START
        # threshold (None: seen) -> (events covered, matrix)
        self._csr: dict[float | None, tuple[int, sp.csr_matrix]] = {}
        self._sequences: tuple[int, Sequences] | None = None

    def __len__(self) -> int:
        return self._n

    def extend(
        self,
        cursors: Cursors,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        value: np.ndarray,
        timestamp: np.ndarray,
    ) -> None:
        """Add the events that follow :attr:`last` (all arrays of shape (n,))."""
        m = len(cursors)
        if not m:
            return
        new: tuple[np.ndarray, ...] = (cursors.parts, user_idx, item_idx, value, timestamp)
        if self._buffers is None or self._n + m > len(self._buffers[0]):
            self._grow(self._n + m, cursors.parts.shape[1])
        assert self._buffers is not None
        for buffer, column in zip(self._buffers, new, strict=True):
            buffer[self._n : self._n + m] = column
        self._n += m
        self.last = cursors[-1]

    def _grow(self, at_least: int, n_parts: int) -> None:
        capacity = max(1024, at_least, 2 * (len(self._buffers[0]) if self._buffers else 0))
        grown: tuple[np.ndarray, ...] = (
            np.empty((capacity, n_parts), np.int64),
            np.empty(capacity, np.int64),
            np.empty(capacity, np.int64),
            np.empty(capacity, np.float32),
            np.empty(capacity, np.float64),
        )
        if self._buffers is not None:
            for old, buffer in zip(self._buffers, grown, strict=True):
                buffer[: self._n] = old[: self._n]
        self._buffers = grown

    def columns(
        self, start: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(cursor parts, user_idx, item_idx, value, timestamp)`` of events ``start:``
        (views that later events do not change)."""
        if self._buffers is None:
            empty = np.zeros(0, np.int64)
            return np.zeros((0, 1), np.int64), empty, empty, np.zeros(0, np.float32), np.zeros(0)
        parts, users, items, values, times = self._buffers
        n = self._n
        return parts[start:n], users[start:n], items[start:n], values[start:n], times[start:n]

    def seen(self, n_users: int, n_items: int) -> sp.csr_matrix:
        """Binary (n_users, n_items) ``float32`` CSR: 1 where the user has any event."""
        return self._binary(None, n_users, n_items)

    def positives(self, threshold: float, n_users: int, n_items: int) -> sp.csr_matrix:
        """Binary (n_users, n_items) CSR: 1 where the user has an event with
        ``value >= threshold``."""
        return self._binary(float(threshold), n_users, n_items)

    def _binary(self, threshold: float | None, n_users: int, n_items: int) -> sp.csr_matrix:
        covered, matrix = self._csr.get(threshold, (0, None))
        if matrix is not None and covered == self._n and matrix.shape == (n_users, n_items):
            return matrix
        _, users, items, values, _ = self.columns(covered if matrix is not None else 0)
        if threshold is not None:
            keep = values >= threshold
            users, items = users[keep], items[keep]
        ones = np.ones(len(users), np.float32)
        built = sp.csr_matrix((ones, (users, items)), shape=(n_users, n_items), dtype=np.float32)
        if matrix is not None:
            built = built + _resized(matrix, n_users, n_items)
        built.sum_duplicates()
        built.data[:] = 1.0
        self._csr[threshold] = (self._n, built)
        return built

    def sequences(self, n_users: int) -> Sequences:
        """Each user's items in log order, extended by the events since the last call."""
        covered, old = self._sequences if self._sequences is not None else (0, None)
        if old is not None and covered == self._n and len(old) == n_users:
            return old
        _, users, items, _, times = self.columns(covered)
        old_counts = np.zeros(n_users, np.int64)
        if old is not None:
            old_counts[: len(old)] = old.lengths()
        new_counts = np.bincount(users, minlength=n_users)
        indptr = np.zeros(n_users + 1, np.int64)
        np.cumsum(old_counts + new_counts, out=indptr[1:])
        out_items = np.empty(indptr[-1], np.int64)
        out_times = np.empty(indptr[-1], np.float64)
        if old is not None and len(old.item_idx):
            # an old event keeps its rank within its user; the user's run moves
            shift = np.repeat(indptr[: len(old)] - old.indptr[:-1], old.lengths())
            dest = np.arange(len(old.item_idx)) + shift
            out_items[dest], out_times[dest] = old.item_idx, old.timestamp
        order = np.argsort(users, kind="stable")
        sorted_users = users[order]
        starts = np.zeros(n_users, np.int64)
        np.cumsum(new_counts[:-1], out=starts[1:])
        rank = np.arange(len(order)) - starts[sorted_users]
        dest = indptr[sorted_users] + old_counts[sorted_users] + rank
        out_items[dest], out_times[dest] = items[order], times[order]
        built = Sequences(indptr, out_items, out_times)
        self._sequences = (self._n, built)
        return built

    def user_items(self, user_idx: int, n_users: int) -> np.ndarray:
        """One user's items in log order: the cached :meth:`sequences` and a scan of the
        events since, which are folded into the cache once they are a quarter of it (so a
        lookup after each append costs O(events since), not O(log)).

        Examples
        --------
        >>> views = LogViews()
        >>> views.extend(Cursors(np.array([[1], [2]])), np.array([0, 1]), np.array([4, 5]),
        ...              np.ones(2), np.ones(2))
        >>> views.user_items(0, 2).tolist()
        [4]
        """
        covered, cached = self._sequences if self._sequences is not None else (0, None)
        if (
            cached is None
            or len(cached) != n_users
            or self._n - covered > max(_TAIL_SCAN, covered // 4)
        ):
            return self.sequences(n_users)[user_idx]
        _, users, items, _, _ = self.columns(covered)
        return np.concatenate([cached[user_idx], items[users == user_idx]])

    def time_span(self, start_s: float, end_s: float) -> tuple[Cursor, Cursor] | None:
        """Cursors around the events with ``start_s <= timestamp < end_s``: the cursor
        before the first of them and the cursor of the last (``None`` when there are none)."""
        parts, _, _, _, times = self.columns()
        hits = np.flatnonzero((times >= start_s) & (times < end_s))
        if not len(hits):
            return None
        first, last = int(hits[0]), int(hits[-1])
        before = Cursors(parts)[first - 1] if first else Cursor.START
        return before, Cursors(parts)[last]


def _resized(matrix: sp.csr_matrix, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """``matrix`` with empty rows and columns appended (no copy of the data)."""
    indptr = np.concatenate(
        [matrix.indptr, np.full(n_rows - matrix.shape[0], matrix.indptr[-1], matrix.indptr.dtype)]
    )
    return sp.csr_matrix((matrix.data, matrix.indices, indptr), shape=(n_rows, n_cols))
