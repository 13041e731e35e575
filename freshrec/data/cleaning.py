"""Cleaning steps on an EventBatch: pure functions that return ``(batch, n_removed)``.

Every step keeps the original order of the rows it keeps. :func:`clean` chains the usual steps
in the usual order: duplicates, then the rating threshold, then the k-core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from freshrec.data.batch import EventBatch

__all__ = ["clean", "dedupe", "drop_missing_ids", "filter_min_value", "k_core"]

Keep = Literal["first", "last"]
_EXACT = ("user", "item", "value", "timestamp")


def dedupe(
    batch: EventBatch, *, keep: Keep = "first", by: Sequence[str] | None = None
) -> tuple[EventBatch, int]:
    """Drop duplicate rows, keeping the first (or last) of each group in place.

    Parameters
    ----------
    batch
        The events.
    keep
        ``"first"`` or ``"last"`` row of each group of duplicates.
    by
        Columns that define a duplicate. ``None`` means an exact duplicate:
        same user, item, value and timestamp (when the batch has timestamps).
        ``("user", "item")`` keeps one event per pair, e.g. the latest rating with ``keep="last"``.

    Examples
    --------
    >>> batch = EventBatch(["a", "a", "a"], ["x", "x", "x"], [4.0, 4.0, 5.0], timestamp=[1, 1, 2])
    >>> clean_batch, removed = dedupe(batch)
    >>> removed, clean_batch.value.tolist()
    (1, [4.0, 5.0])
    >>> dedupe(batch, by=("user", "item"), keep="last")[0].value.tolist()
    [5.0]
    """
    if keep not in ("first", "last"):
        raise ValueError(f"keep must be 'first' or 'last', got {keep!r}")
    columns = _EXACT if by is None else tuple(by)
    arrays = []
    for name in columns:
        column = getattr(batch, name, None)
        if column is None and by is None and name == "timestamp":
            continue
        if column is None:
            raise ValueError(f"batch has no column {name!r} to deduplicate by")
        arrays.append(column)
    mask = _first_of_groups(_group_codes(arrays, len(batch)), keep)
    return _apply(batch, mask)


def drop_missing_ids(batch: EventBatch) -> tuple[EventBatch, int]:
    """Drop rows whose user or item id is missing (``None``, ``nan`` or ``""``).

    Examples
    --------
    >>> batch = EventBatch(["a", None, "b"], ["x", "y", ""], [1.0, 1.0, 1.0])
    >>> kept, removed = drop_missing_ids(batch)
    >>> removed, kept.user.tolist()
    (2, ['a'])
    """
    mask = ~(_missing(batch.user) | _missing(batch.item))
    return _apply(batch, mask)


def filter_min_value(batch: EventBatch, threshold: float) -> tuple[EventBatch, int]:
    """Keep the rows with ``value >= threshold`` (e.g. ratings of 3 and more).

    Examples
    --------
    >>> kept, removed = filter_min_value(EventBatch([1, 1, 2], [1, 2, 1], [2.0, 3.0, 5.0]), 3)
    >>> removed, kept.value.tolist()
    (1, [3.0, 5.0])
    """
    return _apply(batch, batch.value >= threshold)


def k_core(batch: EventBatch, *, min_user: int = 0, min_item: int = 0) -> tuple[EventBatch, int]:
    """Keep the largest subset where every user has ``>= min_user`` events and every item
    ``>= min_item`` events, removing rows until both hold at once.

    Counts are of events (rows), so deduplicate first if repeated pairs should count once.

    Examples
    --------
    >>> batch = EventBatch([1, 1, 2, 2, 3], [1, 2, 1, 2, 1], [1.0] * 5)
    >>> kept, removed = k_core(batch, min_user=2, min_item=2)
    >>> removed, kept.user.tolist()
    (1, [1, 1, 2, 2])
    """
    keep = np.ones(len(batch), dtype=bool)
    if len(batch) == 0 or (min_user <= 1 and min_item <= 1):
        return _apply(batch, keep)
    users = np.unique(batch.user, return_inverse=True)[1].ravel()
    items = np.unique(batch.item, return_inverse=True)[1].ravel()
    while True:
        user_counts = np.bincount(users[keep], minlength=users.max() + 1)
        item_counts = np.bincount(items[keep], minlength=items.max() + 1)
        still = keep & (user_counts[users] >= min_user) & (item_counts[items] >= min_item)
        if np.array_equal(still, keep):
            return _apply(batch, keep)
        keep = still


def clean(
    batch: EventBatch,
    *,
    dedupe: bool = True,
    min_value: float | None = None,
    user_core: int = 0,
    item_core: int = 0,
) -> tuple[EventBatch, dict[str, int]]:
    """Apply, in order: exact-duplicate removal, the value threshold, the k-core.

    Returns the cleaned batch and the rows removed by each step
    (keys ``"dedupe"``, ``"min_value"``, ``"k_core"``).

    Examples
    --------
    >>> batch = EventBatch([1, 1, 1, 2], [1, 1, 2, 1], [5.0, 5.0, 1.0, 4.0], timestamp=[0, 0, 1, 2])
    >>> cleaned, removed = clean(batch, min_value=3)
    >>> len(cleaned), removed
    (2, {'dedupe': 1, 'min_value': 1, 'k_core': 0})
    """
    removed = {"dedupe": 0, "min_value": 0, "k_core": 0}
    if dedupe:
        batch, removed["dedupe"] = _dedupe_exact(batch)
    if min_value is not None:
        batch, removed["min_value"] = filter_min_value(batch, min_value)
    if user_core or item_core:
        batch, removed["k_core"] = k_core(batch, min_user=user_core, min_item=item_core)
    return batch, removed


_dedupe_exact = dedupe  # ``clean`` has a parameter of the same name


def _group_codes(arrays: list[np.ndarray], n: int) -> np.ndarray:
    """One int64 code per row, equal exactly when all ``arrays`` agree on that row."""
    codes = np.zeros(n, dtype=np.int64)
    for array in arrays:
        uniques, inverse = np.unique(array, return_inverse=True)
        combined = codes * len(uniques) + inverse.ravel()
        codes = np.unique(combined, return_inverse=True)[1].ravel()
    return codes


def _first_of_groups(codes: np.ndarray, keep: Keep) -> np.ndarray:
    order = codes if keep == "first" else codes[::-1]
    first = np.unique(order, return_index=True)[1]
    if keep == "last":
        first = len(codes) - 1 - first
    mask = np.zeros(len(codes), dtype=bool)
    mask[first] = True
    return mask


def _missing(ids: np.ndarray) -> np.ndarray:
    if ids.dtype != object:
        return np.zeros(len(ids), dtype=bool)
    return np.fromiter(
        (v is None or v == "" or (isinstance(v, float) and v != v) for v in ids),
        dtype=bool,
        count=len(ids),
    )


def _apply(batch: EventBatch, mask: np.ndarray) -> tuple[EventBatch, int]:
    removed = int(len(mask) - np.count_nonzero(mask))
    return (batch if removed == 0 else batch.take(mask)), removed
