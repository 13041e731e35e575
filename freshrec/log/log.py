"""EventLog: the one durable, append-only log that owns events, ids and history."""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from types import TracebackType
from typing import Any

import numpy as np
import scipy.sparse as sp

from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.log.backend import Commit, LogBackend, Side
from freshrec.log.cursor import Cursor, Cursors
from freshrec.log.ids import LogIdMap, encode_new
from freshrec.log.results import AppendResult, ReadResult
from freshrec.log.validate import event_keys, validate
from freshrec.log.views import LogViews, Sequences

__all__ = ["EventLog"]

BLOCK_SIZE = 65_536  # events per stored block at most
_MAX_TRIES = 1_000  # commits retried when other writers keep growing the id maps


class EventLog:
    """An append-only event log over a storage backend, with the id maps and views.

    **Append** validates each event, refuses the invalid ones with a reason, drops resends
    (an ``event_id`` already in the log, or earlier in the same batch) and stores the rest,
    in batch order, in blocks of at most 65,536 events.

    - *Events without ids.* A batch with no ``event_id`` column gets fresh random ids
      (``"<uuid4 hex>-<row>"``), so its events are always new: appending it twice stores
      it twice. Give ids to make appends idempotent. Within a batch that has the column, a
      ``None`` or empty id is refused like any other invalid field.
    - *Event ids are compared as text*: ``7`` and ``"7"`` are the same event.
    - *Events without timestamps* (no ``timestamp`` column) get the append time,
      ``time.time()``, so every stored event has one.

    **Ids.** :attr:`users` and :attr:`items` are the log's one :class:`LogIdMap` per side,
    shared by every consumer: an id gets the next index when it first appears in the log,
    and indices are stored with the events, never recycled, the same after a reopen and in
    every process. Read them; never grow them outside the log.

    **Views** (:meth:`seen`, :meth:`positives`, :meth:`sequences`, :meth:`window`,
    :meth:`window_by_time`, ``len``) first bring themselves up to date (:meth:`refresh`),
    reading only events they have not seen, so they include other processes' appends.

    Parameters
    ----------
    backend
        Where events are stored: :class:`~freshrec.log.memory.MemoryBackend`,
        :class:`~freshrec.log.sqlite.SQLiteBackend`,
        :class:`~freshrec.log.redis_streams.RedisBackend`, or any :class:`LogBackend`.
        :func:`~freshrec.log.open_log` picks one from a URL.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.log import open_log
    >>> log = open_log("memory://")
    >>> batch = EventBatch.from_events([
    ...     Event("ann", "heat", 5.0, 1.0, event_id="e1"),
    ...     Event("bob", "up", 2.0, 2.0, event_id="e2"),
    ...     Event("ann", "up", float("nan"), 3.0, event_id="e3"),
    ... ])
    >>> result = log.append(batch)
    >>> result.accepted, result.duplicate, [(r.position, r.field) for r in result.rejections]
    (2, 0, [(2, 'value')])
    >>> log.append(batch[:2]).duplicate        # a resend changes nothing
    2
    >>> read = log.read(Cursor.START, max_events=1)
    >>> read.events.user.tolist(), read.events.user_idx.tolist(), read.next_cursor
    (['ann'], [0], Cursor('1'))
    >>> log.read(read.next_cursor).events.item.tolist()
    ['up']
    >>> log.positives(threshold=4.0).toarray().tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    """

    def __init__(self, backend: LogBackend) -> None:
        self.backend = backend
        self.users = LogIdMap()
        self.items = LogIdMap()
        self._synced: dict[Side, int] = {"user": 0, "item": 0}
        self._views = LogViews()
        self._lock = threading.RLock()
        self._sync_ids()

    # -- writing ----------------------------------------------------------------------
    def append(self, events: Events) -> AppendResult:
        """Store the valid, new events of ``events``; see the class docstring for the rules.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> batch = EventBatch(np.array([1, 1]), np.array([7, 8]), np.ones(2), event_id=["a", "a"])
        >>> log.append(batch)
        AppendResult(accepted=1, duplicate=1, rejections=(), head=Cursor('1'))
        """
        batch = as_batch(events)
        with self._lock:
            ok, rejections = validate(batch)
            rows = np.flatnonzero(ok)
            event_id = batch.event_id
            if event_id is None:  # fresh ids: these events are new whatever they hold
                token = uuid.uuid4().hex
                event_id = np.empty(len(batch), dtype=object)
                event_id[:] = [f"{token}-{i}" for i in range(len(batch))]
                batch = batch.with_columns(event_id=event_id)
            keys = event_keys(event_id[rows])
            first = _first_occurrences(keys)
            rows, keys = rows[first], keys[first]
            if batch.timestamp is None:
                batch = batch.with_columns(timestamp=np.full(len(batch), time.time()))
            accepted, head = 0, None
            for start in range(0, len(rows), BLOCK_SIZE):
                stored, cursors = self._commit(
                    batch, rows[start : start + BLOCK_SIZE], keys[start : start + BLOCK_SIZE]
                )
                accepted += stored
                head = cursors[-1] if len(cursors) else head
            duplicate = len(batch) - len(rejections) - accepted
            head = head if head is not None else self.head()
            return AppendResult(accepted, duplicate, tuple(rejections), head)

    def _commit(self, batch: EventBatch, rows: np.ndarray, keys: np.ndarray) -> tuple[int, Cursors]:
        """Commit ``batch[rows]``, retrying while other writers change the log under it."""
        for _ in range(_MAX_TRIES):
            if not len(rows):
                return 0, Cursors.empty()
            self._sync_ids()
            block = batch.take(rows)
            user_idx, new_users = encode_new(block.user, self.users)
            item_idx, new_items = encode_new(block.item, self.items)
            block = block.with_columns(user_idx=user_idx, item_idx=item_idx)
            outcome = self.backend.commit(
                Commit(block, keys, len(self.users), len(self.items), new_users, new_items)
            )
            if outcome.stale:
                continue
            if len(outcome.duplicates):  # a concurrent resend got there first
                keep = np.ones(len(rows), dtype=bool)
                keep[outcome.duplicates] = False
                rows, keys = rows[keep], keys[keep]
                continue
            if outcome.cursors is None:
                raise RuntimeError(f"{self.backend!r} neither stored the block nor said why")
            self._grow("user", self.users, new_users)
            self._grow("item", self.items, new_items)
            if self._views.last == outcome.previous:
                self._extend_views(outcome.cursors, block)
            return len(rows), outcome.cursors
        raise RuntimeError(f"could not append after {_MAX_TRIES} tries: too many writers")

    # -- reading ----------------------------------------------------------------------
    def read(self, cursor: Cursor = Cursor.START, max_events: int = 100_000) -> ReadResult:
        """Up to ``max_events`` events after ``cursor`` in log order, encoded with the log's
        id maps; ``next_cursor`` resumes exactly after the last one.

        ``timestamp`` and ``event_id`` are always set; ``propensity`` and context columns
        are kept when every event read has them (as in :meth:`EventBatch.concat`).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 2, 3]), np.array([9, 9, 8]), np.ones(3),
        ...                           event_id=[1, 2, 3]))
        >>> first = log.read(max_events=2)
        >>> first.events.event_id.tolist(), log.read(first.next_cursor).events.event_id.tolist()
        ([1, 2], [3])
        """
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        with self._lock:
            events, cursors = self.backend.read(cursor, max_events)
            self._sync_ids()
            if len(cursors) and self._views.last == cursor:
                self._extend_views(cursors, events)
            return ReadResult(events, cursors, cursors[-1] if len(cursors) else cursor)

    def head(self) -> Cursor:
        """The cursor of the last event in the log (:attr:`Cursor.START` when empty).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> open_log("memory://").head()
        Cursor('0')
        """
        with self._lock:
            return self.backend.head()

    def refresh(self) -> int:
        """Bring the id maps and views up to date with the backend; return how many events
        were new to the views (other processes' appends, or all events after a reopen).

        Examples
        --------
        >>> from freshrec.log.memory import MemoryBackend
        >>> backend = MemoryBackend()
        >>> writer, reader = EventLog(backend), EventLog(backend)
        >>> _ = writer.append(EventBatch(np.array([1]), np.array([2]), np.ones(1), event_id=[1]))
        >>> reader.refresh(), len(reader.users)
        (1, 1)
        """
        with self._lock:
            before = len(self._views)
            if self.backend.head() == self._views.last:  # nothing new: read nothing
                self._sync_ids()
                return 0
            while True:
                events, cursors = self.backend.read(self._views.last, 1 << 20)
                if not len(cursors):
                    break
                self._extend_views(cursors, events)
            self._sync_ids()
            return len(self._views) - before

    def _extend_views(self, cursors: Cursors, events: EventBatch) -> None:
        """Feed events that follow the views' last cursor to the views."""
        if events.timestamp is None:
            raise RuntimeError(f"{self.backend!r} returned events without timestamps")
        user_idx, item_idx = events.indices()
        self._views.extend(cursors, user_idx, item_idx, events.value, events.timestamp)

    def __len__(self) -> int:
        """Number of events in the log."""
        with self._lock:
            self.refresh()
            return len(self._views)

    # -- views ------------------------------------------------------------------------
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every event's ``(user_idx, item_idx, value)`` in log order, in the log's ids.
        Shared and read-only.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([7, 8, 7]), np.array([1, 1, 2]), np.ones(3)))
        >>> [column.tolist() for column in log.arrays()]
        [[0, 1, 0], [0, 0, 1], [1.0, 1.0, 1.0]]
        """
        with self._lock:
            self.refresh()
            _, users, items, values, _ = self._views.columns()
            return users, items, values

    def events_of(self, users: np.ndarray) -> EventBatch:
        """The events of ``users`` (external ids; unknown ones have none), in log order,
        as ``user``, ``item`` and ``value`` (for masking what they have seen).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 2, 1]), np.array([5, 6, 7]), np.ones(3)))
        >>> log.events_of(np.array([1, 9])).item.tolist()
        [5, 7]
        """
        user_idx, item_idx, values = self.arrays()
        wanted = self.users.encode(np.unique(users))
        keep = np.isin(user_idx, wanted[wanted >= 0])
        return EventBatch(
            self.users.decode(user_idx[keep]), self.items.decode(item_idx[keep]), values[keep]
        )

    def position(self, cursor: Cursor) -> int:
        """How many events of the log are at or before ``cursor``.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.arange(3), np.arange(3), np.ones(3)))
        >>> second = log.read().cursors[1]
        >>> log.position(Cursor.START), log.position(second), log.position(log.head())
        (0, 2, 3)
        """
        with self._lock:
            self.refresh()
            parts = self._views.columns()[0]
            if cursor == Cursor.START or not len(parts):
                return 0
            cursors = Cursors(parts)
            return bisect.bisect_right(range(len(cursors)), cursor, key=lambda i: cursors[i])

    def cursor_at(self, position: int) -> Cursor:
        """The cursor after the first ``position`` events (:attr:`Cursor.START` for 0):
        the inverse of :meth:`position`.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.arange(3), np.arange(3), np.ones(3)))
        >>> log.cursor_at(0), log.cursor_at(2) == log.read().cursors[1]
        (Cursor('0'), True)
        """
        with self._lock:
            self.refresh()
            parts = self._views.columns()[0]
            if not 0 <= position <= len(parts):
                raise IndexError(f"position {position} is outside the log's {len(parts)} events")
            return Cursor.START if position == 0 else Cursors(parts)[position - 1]

    def follows(self, cursor: Cursor, events: EventBatch) -> Cursor | None:
        """The cursor after ``events`` when they are the log's next events after ``cursor``
        (the same event ids, in order), else ``None``: how a consumer given a batch knows
        that a cursor can stand for it.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.arange(3), np.arange(3), np.ones(3), event_id=[1, 2, 3]))
        >>> first, rest = log.read(max_events=1), log.read(log.read(max_events=1).next_cursor)
        >>> log.follows(Cursor.START, first.events), log.follows(Cursor.START, rest.events)
        (Cursor('1'), None)
        """
        if events.event_id is None or not len(events):
            return None
        read = self.read(cursor, len(events))
        if len(read) != len(events) or read.events.event_id is None:
            return None
        stored, given = read.events.event_id, events.event_id
        same = np.array_equal(stored, given) or [str(a) for a in stored.tolist()] == [
            str(b) for b in given.tolist()
        ]  # ids compare as text: 7 and "7" are one event
        return read.next_cursor if same else None

    def take(self, positions: np.ndarray) -> EventBatch:
        """The events at ``positions`` (0-based, in log order), in the order given, as
        ``user``, ``item``, ``value`` and ``timestamp`` (for sampling the past).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 2, 3]), np.array([7, 8, 9]), np.ones(3)))
        >>> log.take(np.array([2, 0])).item.tolist()
        [9, 7]
        """
        with self._lock:
            self.refresh()
            _, users, items, values, times = self._views.columns()
            rows = np.asarray(positions, dtype=np.int64)
            return EventBatch(
                self.users.decode(users[rows]),
                self.items.decode(items[rows]),
                values[rows],
                timestamp=times[rows],
            )

    def seen(self) -> sp.csr_matrix:
        """Binary ``float32`` CSR of shape (n_users, n_items): 1 where the user has any event
        (for masking seen items). Shared and read-only.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 2]), np.array([5, 6]), np.zeros(2)))
        >>> log.seen().toarray().tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        """
        with self._lock:
            self.refresh()
            return self._views.seen(len(self.users), len(self.items))

    def positives(self, threshold: float = 1.0) -> sp.csr_matrix:
        """Binary ``float32`` CSR of shape (n_users, n_items): 1 where the user has an event
        with ``value >= threshold``. Shared and read-only.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 1]), np.array([5, 6]), np.array([4.0, 2.0])))
        >>> log.positives(threshold=3.0).toarray().tolist()
        [[1.0, 0.0]]
        """
        with self._lock:
            self.refresh()
            return self._views.positives(threshold, len(self.users), len(self.items))

    def user_items(self, user_idx: int) -> np.ndarray:
        """The items (log indices) of user ``user_idx`` (a log index), in log order, repeats
        kept: what ``sequences()[user_idx]`` holds, without rebuilding every user's
        sequence after each append (for a request path).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 2, 1]), np.array([5, 6, 7]), np.ones(3)))
        >>> log.user_items(0).tolist()
        [0, 2]
        """
        with self._lock:
            self.refresh()
            return self._views.user_items(user_idx, len(self.users))

    def sequences(self) -> Sequences:
        """Each user's items (and timestamps) in log order, repeats kept (for sequential
        models). Shared and read-only.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.array([1, 2, 1]), np.array([5, 6, 7]), np.ones(3)))
        >>> seq = log.sequences(); seq[0].tolist(), seq[1].tolist()
        ([0, 2], [1])
        """
        with self._lock:
            self.refresh()
            return self._views.sequences(len(self.users))

    def window(self, start: Cursor, end: Cursor | None = None) -> EventBatch:
        """The events after ``start`` up to and including ``end`` (the head when ``None``),
        in log order.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.arange(4), np.arange(4), np.ones(4)))
        >>> cursors = log.read().cursors
        >>> log.window(cursors[0], cursors[2]).user.tolist()
        [1, 2]
        """
        with self._lock:
            parts: list[EventBatch] = []
            cursor = start
            while end is None or cursor < end:
                result = self.read(cursor, 1 << 20)
                if not len(result):
                    break
                n = len(result)
                if end is not None and result.next_cursor > end:
                    n = bisect.bisect_right(range(n), end, key=lambda i: result.cursors[i])
                parts.append(result.events if n == len(result) else result.events[:n])
                cursor = result.next_cursor
            return EventBatch.concat(parts) if parts else EventBatch.empty()

    def window_by_time(self, start_s: float, end_s: float) -> EventBatch:
        """The events with ``start_s <= timestamp < end_s``, in log order.

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> log = open_log("memory://")
        >>> _ = log.append(EventBatch(np.arange(4), np.arange(4), np.ones(4),
        ...                           timestamp=[10.0, 30.0, 20.0, 40.0]))
        >>> log.window_by_time(15.0, 35.0).timestamp.tolist()
        [30.0, 20.0]
        """
        with self._lock:
            self.refresh()
            span = self._views.time_span(start_s, end_s)
            if span is None:
                return EventBatch.empty()
            events = self.window(*span)
            times = events.timestamp if events.timestamp is not None else np.zeros(0)
            return events.take((times >= start_s) & (times < end_s))

    # -- ids --------------------------------------------------------------------------
    def _sync_ids(self) -> None:
        """Grow the id maps with ids other writers stored."""
        self._grow("user", self.users, self.backend.ids_since("user", self._synced["user"]))
        self._grow("item", self.items, self.backend.ids_since("item", self._synced["item"]))

    def _grow(self, side: Side, idmap: LogIdMap, new: list[Any]) -> None:
        if len(idmap) != self._synced[side]:
            raise RuntimeError(f"the log's {side} id map was grown outside the log")
        if new:
            idmap.grow(new)
            if len(idmap) != self._synced[side] + len(new):
                raise RuntimeError(f"stored {side} ids repeat an id: the log is corrupt")
        self._synced[side] = len(idmap)

    # -- life cycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the backend (the stored log stays; open it again to go on).

        Examples
        --------
        >>> from freshrec.log import open_log
        >>> with open_log("memory://") as log:
        ...     _ = log.append(EventBatch(np.array([1]), np.array([2]), np.ones(1)))
        """
        with self._lock:
            self.backend.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"EventLog({self.backend!r}, users={len(self.users)}, items={len(self.items)}, "
            f"head={self.backend.head()!r})"
        )


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each key, in order."""
    if keys.dtype.kind == "i":
        _, first = np.unique(keys, return_index=True)
        return np.arange(len(keys)) if len(first) == len(keys) else np.sort(first)
    seen: dict[int | str, int] = {}
    for i, key in enumerate(keys.tolist()):
        seen.setdefault(key, i)
    if len(seen) == len(keys):
        return np.arange(len(keys))
    return np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
