"""In-memory storage for an event log (``memory://``): fast, private to the process."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.log.backend import (
    Commit,
    CommitOutcome,
    Side,
    block_index,
    read_numbered,
    sequence_number,
)
from freshrec.log.cursor import Cursor, Cursors

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Blocks of events in a list; nothing survives the process.

    :meth:`close` keeps the data, so an :class:`~freshrec.log.EventLog` opened again over
    the same backend object sees the same events, cursors and ids. Safe to share between
    threads. Cursors count events: the k-th event's cursor is ``Cursor((k,))``.

    Examples
    --------
    >>> from freshrec.log import EventLog
    >>> backend = MemoryBackend()
    >>> log = EventLog(backend)
    >>> log.append(EventBatch(np.array([1]), np.array([2]), np.ones(1), event_id=["a"])).accepted
    1
    >>> log.close(); len(EventLog(backend))
    1
    """

    def __init__(self) -> None:
        self._firsts: list[int] = []
        self._blocks: list[EventBatch] = []
        self._keys: set[int | str] = set()
        self._ids: dict[Side, list[Any]] = {"user": [], "item": []}
        self._count = 0
        self._lock = threading.Lock()

    def commit(self, commit: Commit) -> CommitOutcome:
        """Store the block unless a key is known or the id lists grew (see LogBackend)."""
        with self._lock:
            previous = self._head()
            users, items = self._ids["user"], self._ids["item"]
            if len(users) != commit.n_users or len(items) != commit.n_items:
                return CommitOutcome(None, previous, stale=True)
            keys = commit.keys.tolist()
            dupes = [i for i, key in enumerate(keys) if key in self._keys]
            if dupes:
                return CommitOutcome(None, previous, duplicates=np.asarray(dupes, np.int64))
            self._keys.update(keys)
            users.extend(commit.new_users)
            items.extend(commit.new_items)
            first = self._count + 1
            self._firsts.append(first)
            self._blocks.append(_read_only(commit.events))
            self._count += len(commit.events)
            numbers = np.arange(first, self._count + 1, dtype=np.int64)
            return CommitOutcome(Cursors(numbers[:, None]), previous)

    def ids_since(self, side: Side, start: int) -> list[Any]:
        """Stored ids of ``side`` from index ``start`` on."""
        with self._lock:
            return self._ids[side][start:]

    def read(self, after: Cursor, max_events: int) -> tuple[EventBatch, Cursors]:
        """Up to ``max_events`` events after ``after``."""
        number = sequence_number(after)
        blocks: list[tuple[int, EventBatch]] = []
        with self._lock:
            index, got = block_index(self._firsts, number), 0
            while index < len(self._blocks) and got < max_events:
                first, events = self._firsts[index], self._blocks[index]
                blocks.append((first, events))
                got += first + len(events) - 1 - max(number, first - 1)
                index += 1
        return read_numbered(blocks, number, max_events)

    def head(self) -> Cursor:
        """The last event's cursor."""
        with self._lock:
            return self._head()

    def _head(self) -> Cursor:
        return Cursor((self._count,)) if self._count else Cursor.START

    def close(self) -> None:
        """Nothing to release: the events stay for the next log opened on this backend."""

    def __repr__(self) -> str:
        return f"MemoryBackend(n_events={self._count})"


def _read_only(batch: EventBatch) -> EventBatch:
    """``batch`` with copies of its columns that nobody can write: reads return views."""
    columns: dict[str, Any] = {}
    for name in ("user", "item", "value", "timestamp", "propensity", "event_id"):
        columns[name] = _frozen(getattr(batch, name))
    columns["user_idx"], columns["item_idx"] = (_frozen(c) for c in batch.indices())
    if batch.context is not None:
        columns["context"] = {k: _frozen(v) for k, v in batch.context.items()}
    return EventBatch(**columns)


def _frozen(column: np.ndarray | None) -> np.ndarray | None:
    if column is None:
        return None
    out = np.array(column, copy=True)
    out.flags.writeable = False
    return out
