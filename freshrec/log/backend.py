"""The storage protocol every event-log backend follows, and what a commit carries.

A backend stores blocks of events, the event ids and the id lists, nothing else:
validation, deduplication within a batch, id encoding and the views live in
:class:`~freshrec.log.EventLog`. The one thing a
backend must do atomically is :meth:`LogBackend.commit`: store a block only if none of its
event ids is stored yet and the id maps did not grow since the caller encoded it. That
makes appends idempotent under concurrent resends from many processes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.log.cursor import Cursor, Cursors

__all__ = [
    "Commit",
    "CommitOutcome",
    "LogBackend",
    "Side",
    "block_index",
    "read_numbered",
    "sequence_number",
]

Side = Literal["user", "item"]


@dataclass(frozen=True, eq=False)
class Commit:
    """A block of events to store, with the id-map state its encoding assumed.

    Parameters
    ----------
    events
        Validated events with ``event_id``, ``timestamp``, ``user_idx`` and ``item_idx``.
    keys
        Dedupe key of each event, all distinct: ``int64``, or ``object`` of ``int`` and
        ``str`` (see :func:`~freshrec.log.validate.event_keys`).
    n_users, n_items
        Sizes of the id maps the indices were computed against.
    new_users, new_items
        Ids first seen in this block, in order of first appearance: they get indices
        ``n_users``, ``n_users + 1``, ... (and likewise for items).

    Examples
    --------
    >>> events = EventBatch(np.array([1]), np.array([2]), np.ones(1), timestamp=[0.0],
    ...                     event_id=["e"], user_idx=[0], item_idx=[0])
    >>> Commit(events, np.array(["e"], object), 0, 0, [1], [2]).n_users
    0
    """

    events: EventBatch
    keys: np.ndarray
    n_users: int
    n_items: int
    new_users: Sequence[Any]
    new_items: Sequence[Any]


@dataclass(frozen=True, eq=False)
class CommitOutcome:
    """What :meth:`LogBackend.commit` did: stored the block, or stored nothing and why.

    Parameters
    ----------
    cursors
        The stored events' cursors (``None`` when nothing was stored).
    previous
        The log's last cursor before the block (meaningful when stored).
    duplicates
        Positions in the block whose event id was already stored (then nothing was stored).
    stale
        The id maps grew since the block was encoded (then nothing was stored).

    Examples
    --------
    >>> CommitOutcome(None, Cursor.START, stale=True).stored
    False
    """

    cursors: Cursors | None
    previous: Cursor
    duplicates: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stale: bool = False

    @property
    def stored(self) -> bool:
        """Whether the block was stored."""
        return self.cursors is not None


@runtime_checkable
class LogBackend(Protocol):
    """Storage of an event log: blocks of events, event-id keys and the id lists.

    Examples
    --------
    >>> from freshrec.log.memory import MemoryBackend
    >>> isinstance(MemoryBackend(), LogBackend)
    True
    """

    def commit(self, commit: Commit) -> CommitOutcome:
        """Atomically store ``commit.events`` as one block, persist the new ids and keys,
        unless a key is already stored (report which) or the id lists no longer have
        ``commit.n_users`` / ``commit.n_items`` entries (report stale)."""
        ...

    def ids_since(self, side: Side, start: int) -> list[Any]:
        """The stored external ids of ``side`` with index ``start`` and up, in index order."""
        ...

    def read(self, after: Cursor, max_events: int) -> tuple[EventBatch, Cursors]:
        """Up to ``max_events`` events after ``after``, in log order, with their cursors."""
        ...

    def head(self) -> Cursor:
        """The last event's cursor (:attr:`Cursor.START` when empty)."""
        ...

    def close(self) -> None:
        """Release connections and files; the stored log stays."""
        ...


def sequence_number(cursor: Cursor) -> int:
    """The event count a one-part cursor stands for (0 for :attr:`Cursor.START`).

    For backends whose cursors count events (memory, SQLite).

    Examples
    --------
    >>> sequence_number(Cursor.START), sequence_number(Cursor((7,)))
    (0, 7)
    """
    if not cursor.parts:
        return 0
    if len(cursor.parts) != 1:
        raise ValueError(f"{cursor!r} is not a cursor of this log")
    return cursor.parts[0]


def read_numbered(
    blocks: Iterable[tuple[int, EventBatch]], after: int, max_events: int
) -> tuple[EventBatch, Cursors]:
    """Cut ``max_events`` events after event number ``after`` out of numbered blocks.

    ``blocks`` yields ``(first, events)`` in order, ``first`` being the 1-based number of
    the block's first event, starting with the block that holds event ``after + 1`` (or a
    later one). The cursor of event number ``k`` is ``Cursor((k,))``.

    Examples
    --------
    >>> a = EventBatch(np.arange(3), np.arange(3), np.ones(3))
    >>> events, cursors = read_numbered([(1, a), (4, a)], after=2, max_events=3)
    >>> events.user.tolist(), [str(c) for c in cursors]
    ([2, 0, 1], ['3', '4', '5'])
    """
    parts: list[EventBatch] = []
    numbers: list[np.ndarray] = []
    want = max_events
    for first, events in blocks:
        if want <= 0:
            break
        begin = max(after + 1 - first, 0)
        end = min(len(events), begin + want)
        if end <= begin:
            continue
        parts.append(events if (begin, end) == (0, len(events)) else events[begin:end])
        numbers.append(np.arange(first + begin, first + end, dtype=np.int64))
        want -= end - begin
    if not parts:
        return EventBatch.empty(), Cursors.empty()
    batch = parts[0] if len(parts) == 1 else EventBatch.concat(parts)
    return batch, Cursors(np.concatenate(numbers)[:, None])


def block_index(firsts: Sequence[int], after: int) -> int:
    """Index of the block holding event ``after + 1`` in blocks starting at ``firsts``.

    Examples
    --------
    >>> block_index([1, 4, 9], 4), block_index([1, 4, 9], 0)
    (1, 0)
    """
    return max(bisect.bisect_right(firsts, after + 1) - 1, 0)
