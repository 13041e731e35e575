"""Per-event validation of a batch before it enters the log, and event-id keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.log.results import Rejection

__all__ = ["event_keys", "validate"]


def validate(batch: EventBatch) -> tuple[np.ndarray, list[Rejection]]:
    """Which events of ``batch`` the log accepts, and a :class:`Rejection` for the others.

    Refused: ``event_id``, ``user`` or ``item`` that is ``None``, empty or not a ``str`` /
    ``int``; a non-finite ``value``; a non-finite or negative ``timestamp``; a
    ``propensity`` outside ``(0, 1]``; an infinite numeric context value (``NaN`` marks a
    missing feature and is kept) or a context value that is neither number nor string.
    Each refused event names the first invalid field in that order.

    Returns
    -------
    ok
        Boolean mask of shape (n,): the valid events.
    rejections
        The invalid events, in batch order.

    Examples
    --------
    >>> batch = EventBatch(np.array(["ann", "", "bob"], object), np.array([1, 2, 3]),
    ...                    np.array([1.0, 2.0, np.inf]), timestamp=np.array([0.0, 1.0, 2.0]))
    >>> ok, rejections = validate(batch)
    >>> ok.tolist()
    [True, False, False]
    >>> [(r.position, r.field, r.reason) for r in rejections]
    [(1, 'user', 'empty id'), (2, 'value', 'not finite: inf')]
    """
    n = len(batch)
    reasons: list[tuple[str, np.ndarray, Callable[[int], str]]] = []
    if batch.event_id is not None:
        bad, why = _bad_ids(batch.event_id)
        reasons.append(("event_id", bad, why))
    for name in ("user", "item"):
        bad, why = _bad_ids(getattr(batch, name))
        reasons.append((name, bad, why))
    value = batch.value
    reasons.append(("value", ~np.isfinite(value), lambda i: f"not finite: {value[i]}"))
    if batch.timestamp is not None:
        ts = batch.timestamp
        reasons.append(("timestamp", ~np.isfinite(ts), lambda i: f"not finite: {ts[i]}"))
        with np.errstate(invalid="ignore"):
            reasons.append(("timestamp", ts < 0, lambda i: f"negative: {ts[i]}"))
    if batch.propensity is not None:
        p = batch.propensity
        with np.errstate(invalid="ignore"):
            bad_p = ~((p > 0) & (p <= 1))
        reasons.append(("propensity", bad_p, lambda i: f"not a probability in (0, 1]: {p[i]}"))
    for key, column in (batch.context or {}).items():
        bad, why = _bad_context(column)
        reasons.append((f"context.{key}", bad, why))

    rejected: dict[int, Rejection] = {}
    for name, bad, why in reasons:
        for i in np.flatnonzero(bad).tolist():
            if i not in rejected:
                rejected[i] = Rejection(i, _event_id(batch, i), name, why(i))
    ok = np.ones(n, dtype=bool)
    ok[list(rejected)] = False
    return ok, [rejected[i] for i in sorted(rejected)]


def event_keys(event_id: np.ndarray) -> np.ndarray:
    """The dedupe keys of event ids: ids are compared as text, so ``7`` and ``"7"`` are one
    event (and ``"007"`` another).

    A key is the id's text, except that the text of an integer in the int64 range written
    the canonical way (no sign ``+``, no leading zeros) becomes that ``int``: backends then
    index integer ids as integers. The result is ``int64`` when every key is an integer,
    else an ``object`` array of ``int`` and ``str``.

    Examples
    --------
    >>> event_keys(np.array([7, 8]))
    array([7, 8])
    >>> event_keys(np.array(["7", "007", "x"], dtype=object)).tolist()
    [7, '007', 'x']
    """
    if event_id.dtype.kind == "i" or (
        event_id.dtype.kind == "u" and (not len(event_id) or event_id.max() <= _INT64_MAX)
    ):
        return event_id.astype(np.int64)
    keys = [_key(v) for v in event_id.tolist()]
    if all(type(k) is int for k in keys):
        return np.asarray(keys, dtype=np.int64)
    out = np.empty(len(keys), dtype=object)
    out[:] = keys
    return out


_INT64_MAX = (1 << 63) - 1
_INT_TEXT = re.compile(r"0|-?[1-9][0-9]{0,18}")


def _key(value: Any) -> int | str:
    text = str(value)
    if _INT_TEXT.fullmatch(text):
        number = int(text)
        if -_INT64_MAX - 1 <= number <= _INT64_MAX:
            return number
    return text


def _bad_ids(ids: np.ndarray) -> tuple[np.ndarray, Callable[[int], str]]:
    """Mask of invalid external ids (``None``, empty, not ``str`` / ``int``) and why."""
    if ids.dtype.kind in "iu":
        return np.zeros(len(ids), dtype=bool), lambda i: ""
    if ids.dtype.kind == "U":
        return ids == "", lambda i: "empty id"
    if ids.dtype.kind != "O":
        return np.ones(len(ids), dtype=bool), lambda i: f"ids must be str or int, not {ids.dtype}"
    bad = np.fromiter((not _good_id(v) for v in ids.tolist()), dtype=bool, count=len(ids))
    return bad, lambda i: _id_reason(ids[i])


def _good_id(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _id_reason(value: Any) -> str:
    if value is None:
        return "missing id (None)"
    if isinstance(value, str):
        return "empty id"
    return f"ids must be str or int, got {type(value).__name__}: {value!r}"


def _bad_context(column: np.ndarray) -> tuple[np.ndarray, Callable[[int], str]]:
    if column.dtype.kind in "biu":
        return np.zeros(len(column), dtype=bool), lambda i: ""
    if column.dtype.kind == "f":
        return np.isinf(column), lambda i: f"not finite: {column[i]}"
    if column.dtype.kind == "U":
        return np.zeros(len(column), dtype=bool), lambda i: ""
    good = (str, int, float, np.integer, np.floating, type(None))
    bad = np.fromiter(
        (
            not isinstance(v, good) or (isinstance(v, (float, np.floating)) and np.isinf(v))
            for v in column.tolist()
        ),
        dtype=bool,
        count=len(column),
    )
    return bad, lambda i: f"must be a number or a string, got {column[i]!r}"


def _event_id(batch: EventBatch, i: int) -> str | int | None:
    if batch.event_id is None:
        return None
    value = batch.event_id[i]
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None
