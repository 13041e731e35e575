"""EventBatch: many events as columns of numpy arrays."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from freshrec.data.events import Event

__all__ = ["EventBatch", "Events", "as_batch", "ids_array"]

_OPTIONAL_COLUMNS = ("timestamp", "propensity", "event_id", "user_idx", "item_idx")


def ids_array(ids: Iterable[Any] | np.ndarray) -> np.ndarray:
    """Return external ids as an ``int64`` array when all are integers, else an object array.

    Examples
    --------
    >>> ids_array([3, 1]).dtype
    dtype('int64')
    >>> ids_array(["a", 1]).dtype
    dtype('O')
    """
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind in "iu":
            return ids.astype(np.int64, copy=False)
        if ids.dtype.kind in "OUS":
            return ids.astype(object, copy=False)
        raise TypeError(f"ids must be integers or strings, got dtype {ids.dtype}")
    values = list(ids)
    if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass(frozen=True, eq=False)
class EventBatch:
    """Columnar form of many events: one numpy array per field, all of length ``n``.

    Parameters
    ----------
    user, item
        External ids, shape (n,): ``int64`` or ``object`` (strings).
    value
        ``float32`` ratings / clicks, shape (n,).
    timestamp
        ``float64`` seconds, shape (n,), or ``None`` (arrival order).
    context
        Feature table: column name -> array of shape (n,) (numeric or object).
    propensity
        ``float64`` logging-policy probabilities, shape (n,), or ``None``.
    event_id
        Unique event ids, shape (n,), or ``None``.
    user_idx, item_idx
        ``int64`` internal indices once encoded by an :class:`~freshrec.data.IdMap`.

    Examples
    --------
    >>> batch = EventBatch.from_events([Event("ann", "a", 4.0, 2.0), Event("bob", "b", 3.0, 1.0)])
    >>> len(batch), batch.value.tolist()
    (2, [4.0, 3.0])
    >>> [e.user for e in batch.sort_by_time()]
    ['bob', 'ann']
    """

    user: np.ndarray
    item: np.ndarray
    value: np.ndarray
    timestamp: np.ndarray | None = None
    context: Mapping[str, np.ndarray] | None = None
    propensity: np.ndarray | None = None
    event_id: np.ndarray | None = None
    user_idx: np.ndarray | None = None
    item_idx: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.user)
        object.__setattr__(self, "user", ids_array(self.user))
        object.__setattr__(self, "item", ids_array(self.item))
        object.__setattr__(self, "value", np.asarray(self.value, dtype=np.float32))
        if self.timestamp is not None:
            object.__setattr__(self, "timestamp", np.asarray(self.timestamp, dtype=np.float64))
        if self.propensity is not None:
            object.__setattr__(self, "propensity", np.asarray(self.propensity, dtype=np.float64))
        for name in ("user_idx", "item_idx"):
            column = getattr(self, name)
            if column is not None:
                object.__setattr__(self, name, np.asarray(column, dtype=np.int64))
        if self.event_id is not None:
            object.__setattr__(self, "event_id", np.asarray(self.event_id))
        for name, column in self._columns().items():
            if len(column) != n:
                raise ValueError(f"column {name!r} has length {len(column)}, expected {n}")

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventBatch:
        """Build a batch from :class:`Event` objects (context keys are unioned)."""
        events = list(events)

        def column(name: str) -> list[Any]:
            return [getattr(e, name) for e in events]

        timestamps = column("timestamp")
        propensities = column("propensity")
        event_ids = column("event_id")
        keys = sorted({k for e in events if e.context for k in e.context})
        context = None
        if keys:
            context = {}
            for key in keys:
                raw = [e.context.get(key) if e.context else None for e in events]
                numeric = all(isinstance(v, (int, float)) or v is None for v in raw)
                if numeric:
                    context[key] = np.array([np.nan if v is None else v for v in raw], float)
                else:
                    context[key] = np.array(raw, dtype=object)
        return cls(
            user=ids_array(column("user")),
            item=ids_array(column("item")),
            value=np.array(column("value"), dtype=np.float32),
            timestamp=None if any(t is None for t in timestamps) else np.array(timestamps, float),
            context=context,
            propensity=(
                None if any(p is None for p in propensities) else np.array(propensities, float)
            ),
            event_id=None if any(i is None for i in event_ids) else np.array(event_ids),
        )

    @classmethod
    def empty(cls) -> EventBatch:
        """A batch with no events."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    @classmethod
    def concat(cls, batches: Sequence[EventBatch]) -> EventBatch:
        """Concatenate batches; optional columns survive only if every batch has them."""
        batches = [b for b in batches if len(b)] or list(batches[:1])
        if not batches:
            return cls.empty()
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            parts = [getattr(b, f.name) for b in batches]
            if f.name == "context":
                keys = set.intersection(*(set(p or {}) for p in parts))
                kwargs["context"] = (
                    {k: np.concatenate([p[k] for p in parts]) for k in sorted(keys)}
                    if keys
                    else None
                )
            elif any(p is None for p in parts):
                kwargs[f.name] = None
            else:
                kwargs[f.name] = (
                    _concat_ids(parts) if f.name in ("user", "item") else (np.concatenate(parts))
                )
        return cls(**kwargs)

    # -- access -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.user)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.to_events())

    def __getitem__(self, index: slice | np.ndarray | Sequence[int]) -> EventBatch:
        """Rows selected by a slice, an integer index array or a boolean mask."""
        if not isinstance(index, slice):
            index = np.asarray(index)
        return self.take(index)

    def take(self, index: slice | np.ndarray) -> EventBatch:
        """A new batch with the rows at ``index`` (slice, int indices or boolean mask)."""
        kwargs: dict[str, Any] = {}
        for name, column in self._columns().items():
            kwargs[name] = column[index]
        if self.context is not None:
            kwargs["context"] = {k: v[index] for k, v in self.context.items()}
        return EventBatch(**kwargs)

    def indices(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_idx, item_idx)`` of an encoded batch (raises if it was never encoded)."""
        if self.user_idx is None or self.item_idx is None:
            raise ValueError("the batch is not encoded: encode it with a model or an IdMap first")
        return self.user_idx, self.item_idx

    def to_events(self) -> list[Event]:
        """The rows as :class:`Event` objects (slow for large batches; for tests and I/O)."""
        out = []
        for i in range(len(self)):
            out.append(
                Event(
                    user=self.user[i].item() if self.user.dtype != object else self.user[i],
                    item=self.item[i].item() if self.item.dtype != object else self.item[i],
                    value=float(self.value[i]),
                    timestamp=None if self.timestamp is None else float(self.timestamp[i]),
                    context=(
                        None
                        if self.context is None
                        else {k: _scalar(v[i]) for k, v in self.context.items()}
                    ),
                    propensity=None if self.propensity is None else float(self.propensity[i]),
                    event_id=None if self.event_id is None else _scalar(self.event_id[i]),
                )
            )
        return out

    def with_columns(self, **columns: Any) -> EventBatch:
        """A copy with some fields replaced (e.g. ``user_idx=...`` once encoded)."""
        return replace(self, **columns)

    def sort_by_time(self) -> EventBatch:
        """Events ordered by timestamp; ties keep their current (file) order."""
        if self.timestamp is None:
            return self
        order = np.argsort(self.timestamp, kind="stable")
        return self.take(order)

    def positives(self, threshold: float) -> EventBatch:
        """Only the events with ``value >= threshold``."""
        return self.take(self.value >= threshold)

    def _columns(self) -> dict[str, np.ndarray]:
        columns = {"user": self.user, "item": self.item, "value": self.value}
        for name in _OPTIONAL_COLUMNS:
            column = getattr(self, name)
            if column is not None:
                columns[name] = column
        return columns

    def __repr__(self) -> str:
        extra = [name for name in _OPTIONAL_COLUMNS if getattr(self, name) is not None]
        if self.context:
            extra.append(f"context[{', '.join(self.context)}]")
        columns = ", ".join(["user", "item", "value", *extra])
        return f"EventBatch(n={len(self)}, columns=[{columns}])"


Events = Iterable[Event] | EventBatch


def as_batch(events: Events) -> EventBatch:
    """Accept an :class:`EventBatch` or any iterable of :class:`Event` and return a batch.

    Examples
    --------
    >>> len(as_batch([Event(1, 2)]))
    1
    """
    if isinstance(events, EventBatch):
        return events
    return EventBatch.from_events(events)


def _concat_ids(parts: list[np.ndarray]) -> np.ndarray:
    if all(p.dtype.kind in "iu" for p in parts):
        return np.concatenate(parts).astype(np.int64)
    return np.concatenate([p.astype(object) for p in parts])


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
