"""A model's view of an event log: the log's events in the model's own rows.

The log numbers users and items once and forever; a model numbers them its own way (it may
evict ids and reuse their rows). :class:`ModelView` translates the log's events into the
model's rows on read, dropping events of ids the model does not map, so a model reads its
history from the log instead of keeping a copy. The view ends at the model's cursor (what it
learned from the log); events the model was given directly (``partial_fit``, not from the
log) follow as ``pending``. It offers what a model reads of its history, the interface of
:class:`~freshrec.data.interactions.InteractionLog`: ``arrays``, ``to_csr`` and ``len``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from freshrec.data.batch import ids_array
from freshrec.data.idmap import IdMap
from freshrec.data.interactions import InteractionLog, events_csr
from freshrec.log.cursor import Cursor
from freshrec.log.log import EventLog

__all__ = ["ModelView"]


class ModelView:
    """The events of ``log`` up to ``until`` (the head when ``None``), then the ``pending``
    ones, whose user and item the model maps, in the model's rows.

    Read-only: events enter through :meth:`EventLog.append`. Results are cached until the
    log, the pending events or the model's id maps change.

    Examples
    --------
    >>> from freshrec.data import EventBatch
    >>> from freshrec.log import open_log
    >>> log = open_log("memory://")
    >>> _ = log.append(EventBatch(np.array(["ann", "bob", "ann"]), np.array(["x", "y", "y"]),
    ...                           np.array([5.0, 1.0, 2.0])))
    >>> users, items = IdMap(["bob", "ann"]), IdMap(["y", "x"])   # the model's own order
    >>> view = ModelView(log, users, items)
    >>> [column.tolist() for column in view.arrays()]
    [[1, 0, 1], [1, 0, 0], [5.0, 1.0, 2.0]]
    >>> view.to_csr(2, 2, threshold=2.0).toarray().tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    >>> _ = users.evict(["ann"]); len(view)          # evicted users' events leave the view
    1
    >>> ModelView(log, users, items, until=log.read().cursors[0]).to_csr(2, 2).nnz
    0
    """

    def __init__(
        self,
        log: EventLog,
        user_map: IdMap,
        item_map: IdMap,
        *,
        until: Cursor | None = None,
        pending: InteractionLog | None = None,
    ) -> None:
        self.log = log
        self.user_map = user_map
        self.item_map = item_map
        self.until = until
        self.pending = pending if pending is not None else InteractionLog()
        self._arrays: tuple[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] | None
        self._arrays = None
        self._csr: dict[tuple[object, ...], sp.csr_matrix] = {}

    def _state(self) -> tuple[int, ...]:
        """What the view depends on: the log's length and the model's id maps."""
        return (
            len(self.log) if self.until is None else self.log.position(self.until),
            len(self.pending),
            len(self.user_map),
            self.user_map.n_active,
            len(self.item_map),
            self.item_map.n_active,
        )

    def __len__(self) -> int:
        return len(self.arrays()[0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(user_idx, item_idx, value)`` in the model's rows, in log order."""
        state = self._state()
        if self._arrays is not None and self._arrays[0] == state:
            return self._arrays[1]
        users, items, values = (column[: state[0]] for column in self.log.arrays())
        user_rows = self.user_map.encode(ids_array(self.log.users.ids))
        item_rows = self.item_map.encode(ids_array(self.log.items.ids))
        users, items = user_rows[users], item_rows[items]
        known = (users >= 0) & (items >= 0)
        pending_users, pending_items, pending_values = self.pending.arrays()
        arrays = (
            np.concatenate([users[known], pending_users]),
            np.concatenate([items[known], pending_items]),
            np.concatenate([np.asarray(values[known], np.float32), pending_values]),
        )
        self._arrays = (state, arrays)
        self._csr.clear()
        return arrays

    def to_csr(
        self, n_users: int, n_items: int, *, threshold: float | None = None, how: str = "binary"
    ) -> sp.csr_matrix:
        """User x item matrix of the view (see :func:`~freshrec.data.interactions.events_csr`)."""
        key = (n_users, n_items, threshold, how)
        users, items, values = self.arrays()  # first: a change of the view clears the cache
        if key not in self._csr:
            self._csr[key] = events_csr(
                users, items, values, (n_users, n_items), threshold=threshold, how=how
            )
        return self._csr[key]
