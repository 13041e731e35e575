"""Cursors: opaque, totally ordered positions in an event log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, overload

import numpy as np

__all__ = ["Cursor", "Cursors"]


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """A position in an :class:`~freshrec.log.EventLog`: "after this event".

    A cursor is opaque: compare, hash, print and parse it, but never do arithmetic on it.
    Backends choose its parts (SQLite and memory logs count events; a Redis log uses the
    stream entry id ``ms-seq`` plus the event's offset inside the entry), so the gap
    between two neighbouring events is not 1. Cursors of one log are totally ordered,
    and :attr:`START` comes before every event. ``str`` and :meth:`parse` round-trip.

    Examples
    --------
    >>> Cursor.START < Cursor.parse("3") < Cursor.parse("12")
    True
    >>> Cursor.parse(str(Cursor.parse("1712345678901-0-7")))
    Cursor('1712345678901-0-7')
    >>> str(Cursor.START)
    '0'
    """

    parts: tuple[int, ...] = ()

    START: ClassVar[Cursor]

    def __post_init__(self) -> None:
        if any(p < 0 for p in self.parts) or any(type(p) is not int for p in self.parts):
            raise ValueError(f"cursor parts must be non-negative ints, got {self.parts!r}")

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor that ``str(cursor)`` printed (``"0"`` is :attr:`START`).

        Examples
        --------
        >>> Cursor.parse("0") == Cursor.START
        True
        """
        text = text.strip()
        if text == "0":
            return cls.START
        try:
            parts = tuple(int(p) for p in text.split("-"))
        except ValueError:
            raise ValueError(f"not a cursor: {text!r}") from None
        if not parts or any(p < 0 for p in parts):
            raise ValueError(f"not a cursor: {text!r}")
        return cls(parts)

    def __str__(self) -> str:
        return "-".join(map(str, self.parts)) if self.parts else "0"

    def __repr__(self) -> str:
        return f"Cursor({str(self)!r})"


Cursor.START = Cursor()


@dataclass(frozen=True, eq=False)
class Cursors:
    """The cursors of a run of events, one per event, stored as an int array.

    Parameters
    ----------
    parts
        ``int64`` array of shape (n_events, n_parts): the parts of each event's cursor.

    Examples
    --------
    >>> cursors = Cursors(np.array([[4], [5], [9]]))
    >>> len(cursors), cursors[0], cursors[-1]
    (3, Cursor('4'), Cursor('9'))
    >>> [str(c) for c in cursors[1:]]
    ['5', '9']
    """

    parts: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        parts = np.asarray(self.parts, dtype=np.int64)
        if parts.ndim != 2:
            raise ValueError(f"cursor parts must be 2-d (n_events, n_parts), got {parts.shape}")
        object.__setattr__(self, "parts", parts)

    @classmethod
    def empty(cls, n_parts: int = 1) -> Cursors:
        """No cursors.

        Examples
        --------
        >>> len(Cursors.empty())
        0
        """
        return cls(np.zeros((0, n_parts), dtype=np.int64))

    @classmethod
    def concat(cls, runs: list[Cursors]) -> Cursors:
        """Join runs of cursors (all with the same number of parts).

        Examples
        --------
        >>> len(Cursors.concat([Cursors(np.array([[1]])), Cursors(np.array([[2], [3]]))]))
        3
        """
        runs = [r for r in runs if len(r)]
        if not runs:
            return cls.empty()
        if len(runs) == 1:
            return runs[0]
        return cls(np.concatenate([r.parts for r in runs]))

    def __len__(self) -> int:
        return len(self.parts)

    @overload
    def __getitem__(self, index: int) -> Cursor: ...

    @overload
    def __getitem__(self, index: slice | np.ndarray) -> Cursors: ...

    def __getitem__(self, index: int | slice | np.ndarray) -> Cursor | Cursors:
        if isinstance(index, (int, np.integer)):
            return Cursor(tuple(int(p) for p in self.parts[index]))
        return Cursors(self.parts[index])

    def __iter__(self) -> Iterator[Cursor]:
        for row in self.parts.tolist():
            yield Cursor(tuple(row))

    def __repr__(self) -> str:
        if not len(self):
            return "Cursors(n=0)"
        return f"Cursors(n={len(self)}, first={self[0]!r}, last={self[-1]!r})"
