"""Offline holdout splits of an :class:`EventBatch` into train, valid and test.

Every split works on external ids, never mutates its input and keeps each part in the
input's row order. Splits that look at time treat a batch without timestamps as ordered by
arrival (row order), and break ties between equal timestamps by row (file) order, so no
event ever counts as earlier than an event written before it with the same timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.cleaning import k_core

__all__ = [
    "PROTOCOLS",
    "five_core",
    "Split",
    "HSTU_WINDOW",
    "k_fold_splits",
    "latest_per_user",
    "leave_last_out",
    "random_split",
    "split_by_name",
    "temporal_global_split",
    "temporal_user_split",
]

_TRAIN, _VALID, _TEST = 0, 1, 2


@dataclass(frozen=True, eq=False)
class Split:
    """The parts of one holdout split.

    Parameters
    ----------
    train
        Events to learn from.
    valid
        Events for model selection, or ``None`` when the protocol has no validation part.
    test
        Held-out events to evaluate on.
    name
        The protocol that made the split (``"random"``, ``"loo"``, ...).

    Examples
    --------
    >>> from freshrec.data import Event
    >>> batch = EventBatch.from_events([Event("ann", "a", 1.0, 1.0), Event("ann", "b", 1.0, 2.0)])
    >>> split = leave_last_out(batch)
    >>> split.name, len(split.train), len(split.valid), split.test.item.tolist()
    ('loo', 1, 0, ['b'])
    """

    train: EventBatch
    valid: EventBatch | None
    test: EventBatch
    name: str


def random_split(
    batch: EventBatch, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> Split:
    """Per-user random split by ratios, as RecBole's ``RS`` split grouped by user.

    The events are shuffled once (seeded) and grouped by user with the shuffled order kept.
    A user with ``n`` events gets ``int(r_k * n)`` events in each part ``k >= 1`` (ratios
    normalised to sum 1) and the rest in train; then, from the last part backwards and while
    train keeps more than one event, every part whose share ``r_k * n`` lies strictly between
    0 and 1 gets one event from train. With the default 8:1:1 a user with 1 event is all
    train, 2 events give train/test 1/1, 3 give 1/1/1, 5 give 3/1/1 and 10 give 8/1/1.

    Parameters
    ----------
    batch
        The events to split.
    ratios
        ``(train, valid, test)`` or ``(train, test)`` weights; they need not sum to 1.
    seed
        Seed of the shuffle; the same seed gives the same split.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(10, np.int64), np.arange(10), np.ones(10))
    >>> split = random_split(batch, seed=1)
    >>> len(split.train), len(split.valid), len(split.test)
    (8, 1, 1)
    """
    shares = np.asarray(ratios, dtype=np.float64)
    if shares.ndim != 1 or len(shares) not in (2, 3) or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"ratios must be 2 or 3 non-negative weights, got {ratios!r}")
    shares = shares / shares.sum()
    codes, n_groups = _group_codes(batch.user)
    perm = np.random.default_rng(seed).permutation(len(batch))
    order = perm[np.argsort(codes[perm], kind="stable")]
    rank, size = _ranks(codes, order, n_groups)
    counts = _recbole_counts(size, shares)
    bounds = np.cumsum(counts, axis=1)[codes]
    part = np.full(len(batch), _TRAIN, dtype=np.int8)
    part[rank >= bounds[:, 0]] = _VALID if len(shares) == 3 else _TEST
    if len(shares) == 3:
        part[rank >= bounds[:, 1]] = _TEST
    return _make_split(batch, part, "random", has_valid=len(shares) == 3)


def k_fold_splits(batch: EventBatch, n_folds: int = 5, seed: int = 0) -> list[Split]:
    """Per-user random k-fold cross-validation: ``n_folds`` splits, each event tested once.

    Each user's events are shuffled (seeded) and dealt round-robin into the folds, so every
    user with at least ``n_folds`` events appears in every test fold and fold sizes differ by
    at most one event per user. Split ``f`` tests fold ``f`` and trains on the others; it
    has no validation part.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(6, np.int64), np.arange(6), np.ones(6))
    >>> folds = k_fold_splits(batch, n_folds=3, seed=0)
    >>> [len(f.test) for f in folds], sorted(np.concatenate([f.test.item for f in folds]).tolist())
    ([2, 2, 2], [0, 1, 2, 3, 4, 5])
    >>> folds[0].name
    'fold-1/3'
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    codes, n_groups = _group_codes(batch.user)
    perm = np.random.default_rng(seed).permutation(len(batch))
    order = perm[np.argsort(codes[perm], kind="stable")]
    rank, _ = _ranks(codes, order, n_groups)
    fold = rank % n_folds
    return [
        Split(batch.take(fold != f), None, batch.take(fold == f), f"fold-{f + 1}/{n_folds}")
        for f in range(n_folds)
    ]


def leave_last_out(batch: EventBatch) -> Split:
    """Per user, the last event is test and the one before it valid (leave one out).

    Each user's events are ordered by timestamp, ties in file order. A user with one event
    has it in train only; a user with two has the first in train and the last in test; a
    user with ``n >= 3`` has ``n - 2`` train events, one valid event and one test event.

    Examples
    --------
    >>> batch = EventBatch(np.array([7, 7, 7, 8]), np.array([1, 2, 3, 1]), np.ones(4),
    ...                    timestamp=np.array([3.0, 1.0, 2.0, 5.0]))
    >>> split = leave_last_out(batch)
    >>> split.train.item.tolist(), split.valid.item.tolist(), split.test.item.tolist()
    ([2, 1], [3], [1])
    """
    codes, n_groups = _group_codes(batch.user)
    rank, size = _ranks(codes, _time_order(batch, codes), n_groups)
    from_end = size[codes] - 1 - rank
    part = np.full(len(batch), _TRAIN, dtype=np.int8)
    part[(from_end == 0) & (size[codes] >= 2)] = _TEST
    part[(from_end == 1) & (size[codes] >= 3)] = _VALID
    return _make_split(batch, part, "loo", has_valid=True)


def temporal_user_split(
    batch: EventBatch, test_ratio: float = 0.2, valid_ratio: float = 0.0
) -> Split:
    """Per user, the latest ``test_ratio`` of their events are test (ties in file order).

    For a user with ``n`` events ordered by time, ``round(test_ratio * n)`` (halves rounded
    up) of the latest go to test, at least 1 and at most ``n - 1``; a user with one event is
    all train. With ``valid_ratio > 0``, ``round(valid_ratio * n)`` events just before the
    test ones go to valid, at least 1 as long as train keeps one event, else none.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(5, np.int64), np.arange(5), np.ones(5),
    ...                    timestamp=np.array([5.0, 4.0, 3.0, 2.0, 1.0]))
    >>> temporal_user_split(batch).test.item.tolist()
    [0]
    >>> temporal_user_split(batch, test_ratio=0.4, valid_ratio=0.2).valid.item.tolist()
    [2]
    """
    _check_ratios(test_ratio, valid_ratio)
    codes, n_groups = _group_codes(batch.user)
    rank, size = _ranks(codes, _time_order(batch, codes), n_groups)
    n_test = np.where(size >= 2, np.clip(_round_half_up(test_ratio * size), 1, size - 1), 0)
    room = size - n_test - 1
    n_valid = np.zeros_like(size)
    if valid_ratio > 0:
        n_valid = np.where(room >= 1, np.clip(_round_half_up(valid_ratio * size), 1, room), 0)
    from_end = size[codes] - 1 - rank
    part = np.full(len(batch), _TRAIN, dtype=np.int8)
    part[from_end < (n_test + n_valid)[codes]] = _VALID
    part[from_end < n_test[codes]] = _TEST
    return _make_split(batch, part, "temporal-user", has_valid=valid_ratio > 0)


def temporal_global_split(
    batch: EventBatch,
    test_ratio: float = 0.2,
    valid_ratio: float = 0.0,
    *,
    cut_time: float | None = None,
) -> Split:
    """One global time cut: every event at or after the cut time is test.

    The cut time is ``cut_time`` when given, else the timestamp of the event that starts
    the latest ``round(test_ratio * n)`` events (halves up, at least 1, at most ``n - 1``).
    Because the cut is a time, all events sharing the cut timestamp fall on the test side
    together, so no timestamp is on both sides and test can be a little larger than the
    ratio. With ``valid_ratio > 0`` a second cut is placed the same way
    ``round(valid_ratio * n)`` events before the test cut, and events between the two cuts
    are valid. A batch without timestamps is cut by row position.

    Examples
    --------
    >>> batch = EventBatch(np.array([1, 2, 1, 2, 3]), np.arange(5), np.ones(5),
    ...                    timestamp=np.array([1.0, 2.0, 3.0, 3.0, 4.0]))
    >>> temporal_global_split(batch, test_ratio=0.2).test.item.tolist()
    [4]
    >>> temporal_global_split(batch, test_ratio=0.4).test.item.tolist()
    [2, 3, 4]
    >>> temporal_global_split(batch, cut_time=2.0).train.item.tolist()
    [0]
    """
    _check_ratios(test_ratio, valid_ratio)
    n = len(batch)
    times = _times(batch)
    ordered = np.sort(times, kind="stable")
    if cut_time is None:
        n_test = int(np.clip(_round_half_up(test_ratio * n), 1, max(n - 1, 1)))
        cut_time = float(ordered[n - n_test]) if n else 0.0
    part = np.full(n, _TRAIN, dtype=np.int8)
    if valid_ratio > 0:
        start = int(np.searchsorted(ordered, cut_time, side="left"))
        n_valid = int(_round_half_up(valid_ratio * n))
        if n_valid and start > 0:
            part[times >= ordered[max(start - n_valid, 0)]] = _VALID
    part[times >= cut_time] = _TEST
    return _make_split(batch, part, "temporal-global", has_valid=valid_ratio > 0)


_SPLITTERS: dict[str, Callable[[EventBatch, int], Split]] = {
    "random": lambda batch, seed: random_split(batch, seed=seed),
    "temporal-user": lambda batch, seed: temporal_user_split(batch),
    "temporal-global": lambda batch, seed: temporal_global_split(batch),
    "loo-full": lambda batch, seed: leave_last_out(five_core(batch)),
    "loo-sampled": lambda batch, seed: leave_last_out(five_core(batch)),
    "loo-hstu": lambda batch, seed: leave_last_out(batch),
}

HSTU_WINDOW = 200
"""Items of each user's latest history masked under ``loo-hstu``: the input window of the
HSTU paper's public code (its ``max_sequence_length``)."""

PROTOCOLS: tuple[str, ...] = tuple(_SPLITTERS)
"""The protocol names of ``freshrec evaluate --protocol P``, in the order DESIGN.md lists them."""


def latest_per_user(batch: EventBatch, n: int) -> EventBatch:
    """Each user's latest ``n`` events (by timestamp, ties in file order), in ``batch``'s order.

    Examples
    --------
    >>> batch = EventBatch(np.array([1, 1, 1, 2]), np.array([5, 6, 7, 8]), np.ones(4),
    ...                    timestamp=np.array([3.0, 1.0, 2.0, 9.0]))
    >>> latest_per_user(batch, 2).item.tolist()
    [5, 7, 8]
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    codes, n_groups = _group_codes(batch.user)
    rank, size = _ranks(codes, _time_order(batch, codes), n_groups)
    return batch.take(size[codes] - rank <= n)


def five_core(batch: EventBatch) -> EventBatch:
    """The events of the largest subset where every user and every item has >= 5 events.

    The preprocessing of the SASRec paper's data, applied by the ``loo-*`` protocols (on
    ML-1M it removes the items with fewer than 5 ratings: 6,040 users and 3,416 items stay).

    Examples
    --------
    >>> batch = EventBatch(np.repeat(np.arange(6), 5), np.tile(np.arange(5), 6), np.ones(30))
    >>> len(five_core(batch)), len(five_core(batch.take(np.arange(29))))
    (30, 25)
    """
    return k_core(batch, min_user=5, min_item=5)[0]


def split_by_name(batch: EventBatch, protocol: str, seed: int = 0) -> Split:
    """Split with a command-line protocol name; the split's ``name`` is the protocol.

    ``random`` is :func:`random_split` (8:1:1), ``temporal-user`` is
    :func:`temporal_user_split` (last 20%), ``temporal-global`` is
    :func:`temporal_global_split` (one cut, 20% test), and ``loo-full`` and ``loo-sampled``
    are both :func:`leave_last_out` of the :func:`five_core` events (they differ in how the
    test items are ranked). ``loo-hstu`` is :func:`leave_last_out` of every event, as the
    HSTU paper's public code splits MovieLens (no k-core filter); under it the ranking masks
    only the items of each user's latest :data:`HSTU_WINDOW` events before the test event
    (:func:`latest_per_user`), the input window that code masks.
    ``seed`` only matters for ``random``.

    Examples
    --------
    >>> batch = EventBatch(np.zeros(3, np.int64), np.arange(3), np.ones(3),
    ...                    timestamp=np.array([1.0, 2.0, 3.0]))
    >>> split = split_by_name(batch, "temporal-user")
    >>> split.name, split.test.item.tolist()
    ('temporal-user', [2])
    """
    if protocol not in _SPLITTERS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    return replace(_SPLITTERS[protocol](batch, seed), name=protocol)


def _check_ratios(test_ratio: float, valid_ratio: float) -> None:
    if not 0 < test_ratio < 1 or valid_ratio < 0 or test_ratio + valid_ratio >= 1:
        raise ValueError(
            "need 0 < test_ratio < 1, valid_ratio >= 0 and test_ratio + valid_ratio < 1, "
            f"got test_ratio={test_ratio}, valid_ratio={valid_ratio}"
        )


def _recbole_counts(size: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Events per part for each group size, shape (n_groups, n_parts): RecBole's rule."""
    total = size.astype(np.float64)[:, None]
    counts = np.floor(shares[None, :] * total).astype(np.int64)
    counts[:, 0] = size - counts[:, 1:].sum(axis=1)
    for k in range(1, len(shares)):
        share = shares[-k] * total[:, 0]
        bump = (counts[:, 0] > 1) & (share > 0) & (share < 1)
        counts[:, -k] += bump
        counts[:, 0] -= bump
    return counts


def _group_codes(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense group codes of ids, shape (n,), and the number of groups."""
    if ids.dtype.kind in "iu":
        uniques, codes = np.unique(ids, return_inverse=True)
        return codes.ravel().astype(np.int64), len(uniques)
    lookup: dict[object, int] = {}
    codes = np.fromiter(
        (lookup.setdefault(u, len(lookup)) for u in ids), dtype=np.int64, count=len(ids)
    )
    return codes, len(lookup)


def _ranks(codes: np.ndarray, order: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Position of each event within its group along ``order`` (grouped by code) and sizes."""
    size = np.bincount(codes, minlength=n_groups)
    starts = np.cumsum(size) - size
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - starts[codes[order]]
    return rank, size


def _time_order(batch: EventBatch, codes: np.ndarray) -> np.ndarray:
    """Row indices grouped by code, then by time, then by row (file) order."""
    return np.lexsort((np.arange(len(batch)), _times(batch), codes))


def _times(batch: EventBatch) -> np.ndarray:
    if batch.timestamp is None:
        return np.arange(len(batch), dtype=np.float64)
    return batch.timestamp


def _round_half_up(x: np.ndarray | float) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _make_split(batch: EventBatch, part: np.ndarray, name: str, *, has_valid: bool) -> Split:
    return Split(
        train=batch.take(part == _TRAIN),
        valid=batch.take(part == _VALID) if has_valid else None,
        test=batch.take(part == _TEST),
        name=name,
    )
