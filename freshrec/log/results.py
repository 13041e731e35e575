"""What :meth:`EventLog.append` and :meth:`EventLog.read` return."""

from __future__ import annotations

from dataclasses import dataclass

from freshrec.data.batch import EventBatch
from freshrec.log.cursor import Cursor, Cursors

__all__ = ["AppendResult", "ReadResult", "Rejection"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event the log refused, and why.

    Parameters
    ----------
    position
        The event's row in the appended batch (0-based).
    event_id
        Its ``event_id`` (``None`` when the batch had none or this one was missing).
    field
        The first field found invalid: ``event_id``, ``user``, ``item``, ``value``,
        ``timestamp``, ``propensity`` or ``context.<name>``.
    reason
        What is wrong, in words.

    Examples
    --------
    >>> Rejection(3, "e3", "value", "not finite: nan")
    Rejection(position=3, event_id='e3', field='value', reason='not finite: nan')
    """

    position: int
    event_id: str | int | None
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The outcome of one :meth:`EventLog.append`.

    ``accepted + duplicate + rejected`` is the length of the batch.

    Parameters
    ----------
    accepted
        Events written to the log.
    duplicate
        Events whose ``event_id`` was already in the log, or earlier in the same batch.
    rejections
        One :class:`Rejection` per invalid event, in batch order.
    head
        The log's last cursor after this append (:attr:`Cursor.START` if still empty).

    Examples
    --------
    >>> result = AppendResult(2, 1, (Rejection(0, None, "user", "empty id"),), Cursor.START)
    >>> result.rejected, result.accepted + result.duplicate + result.rejected
    (1, 4)
    """

    accepted: int
    duplicate: int
    rejections: tuple[Rejection, ...]
    head: Cursor

    @property
    def rejected(self) -> int:
        """How many events were refused (``len(rejections)``)."""
        return len(self.rejections)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Events read from a log, in log order, with their cursors.

    Parameters
    ----------
    events
        The events, with ``user_idx`` / ``item_idx`` from the log's id maps, ``timestamp``
        and ``event_id`` always set.
    cursors
        One cursor per event (``cursors[i]`` is the position just after ``events[i]``).
    next_cursor
        Pass it to the next ``read`` to go on: the last event's cursor, or the cursor read
        from when nothing new was there.

    Examples
    --------
    >>> import numpy as np
    >>> empty = ReadResult(EventBatch.empty(), Cursors.empty(), Cursor.START)
    >>> len(empty), empty.next_cursor
    (0, Cursor('0'))
    """

    events: EventBatch
    cursors: Cursors
    next_cursor: Cursor

    def __len__(self) -> int:
        return len(self.events)
