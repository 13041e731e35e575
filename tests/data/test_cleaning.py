"""Cleaning steps: duplicates, missing ids, thresholds, k-core; order is always kept."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from freshrec.data import Dataset, EventBatch
from freshrec.data.cleaning import clean, dedupe, drop_missing_ids, filter_min_value, k_core


def _batch() -> EventBatch:
    return EventBatch(
        user=np.array(["a", "b", "a", "a", "b", "a"], dtype=object),
        item=np.array(["x", "x", "x", "y", "x", "x"], dtype=object),
        value=[4.0, 3.0, 4.0, 5.0, 3.0, 2.0],
        timestamp=[1.0, 2.0, 1.0, 3.0, 9.0, 4.0],
    )


def test_exact_duplicates_keep_first_in_order() -> None:
    kept, removed = dedupe(_batch())
    assert removed == 1  # row 2 repeats row 0; row 4 differs from row 1 by its time
    assert kept.timestamp.tolist() == [1.0, 2.0, 3.0, 9.0, 4.0]


def test_exact_duplicates_without_timestamps() -> None:
    batch = EventBatch([1, 1, 1], [2, 2, 2], [1.0, 1.0, 0.0])
    kept, removed = dedupe(batch, keep="last")
    assert removed == 1 and kept.value.tolist() == [1.0, 0.0]


def test_dedupe_by_pair_keep_last_and_first() -> None:
    last, removed = dedupe(_batch(), by=("user", "item"), keep="last")
    assert removed == 3
    assert list(zip(last.user.tolist(), last.item.tolist(), last.value.tolist(), strict=True)) == [
        ("a", "y", 5.0),
        ("b", "x", 3.0),
        ("a", "x", 2.0),
    ]
    first, _ = dedupe(_batch(), by=("user", "item"))
    assert first.timestamp.tolist() == [1.0, 2.0, 3.0]


def test_dedupe_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="keep"):
        dedupe(_batch(), keep="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="propensity"):
        dedupe(_batch(), by=("user", "propensity"))


def test_drop_missing_ids() -> None:
    batch = EventBatch(
        np.array(["a", None, "c", "d"], dtype=object),
        np.array(["x", "y", "", float("nan")], dtype=object),
        [1.0, 2.0, 3.0, 4.0],
    )
    kept, removed = drop_missing_ids(batch)
    assert removed == 3 and kept.value.tolist() == [1.0]
    assert drop_missing_ids(EventBatch([1], [2], [1.0]))[1] == 0


def test_filter_min_value_keeps_order() -> None:
    kept, removed = filter_min_value(_batch(), 3)
    assert removed == 1 and kept.value.tolist() == [4.0, 3.0, 4.0, 5.0, 3.0]


def test_k_core_cascades() -> None:
    # Removing user "c" (1 event) leaves item "z" with 1 event, which then drops user "b" to 1.
    batch = EventBatch(
        ["a", "a", "b", "b", "c", "d", "d"],
        ["x", "y", "x", "z", "z", "x", "y"],
        [1.0] * 7,
    )
    kept, removed = k_core(batch, min_user=2, min_item=2)
    assert kept.user.tolist() == ["a", "a", "d", "d"] and removed == 3


def _naive_k_core(pairs: list[tuple[int, int]], k: int) -> list[tuple[int, int]]:
    rows = list(pairs)
    while True:
        users = Counter(u for u, _ in rows)
        items = Counter(i for _, i in rows)
        kept = [(u, i) for u, i in rows if users[u] >= k and items[i] >= k]
        if kept == rows:
            return rows
        rows = kept


def test_k_core_matches_a_naive_fixpoint() -> None:
    rng = np.random.default_rng(0)
    users = rng.zipf(1.6, size=3000) % 200
    items = rng.zipf(1.4, size=3000) % 300
    batch = EventBatch(users, items, np.ones(3000, np.float32))
    kept, removed = k_core(batch, min_user=5, min_item=5)
    expected = _naive_k_core(list(zip(users.tolist(), items.tolist(), strict=True)), 5)
    assert list(zip(kept.user.tolist(), kept.item.tolist(), strict=True)) == expected
    assert removed == 3000 - len(expected)
    assert np.bincount(np.unique(kept.user, return_inverse=True)[1]).min() >= 5


def test_k_core_with_nothing_to_do() -> None:
    batch = _batch()
    assert k_core(batch)[0] is batch
    assert len(k_core(EventBatch.empty(), min_user=3)[0]) == 0


def test_clean_runs_the_steps_in_order() -> None:
    # The duplicate of ("a", "x", 4.0, t=1) must go before the k-core counts it.
    batch = EventBatch(
        ["a", "a", "a", "b", "b"],
        ["x", "x", "y", "x", "y"],
        [4.0, 4.0, 1.0, 5.0, 5.0],
        timestamp=[1, 1, 2, 3, 4],
    )
    kept, removed = clean(batch, min_value=3, user_core=2)
    assert removed == {"dedupe": 1, "min_value": 1, "k_core": 1}
    assert kept.user.tolist() == ["b", "b"]
    untouched, nothing = clean(batch, dedupe=False)
    assert untouched is batch and nothing == {"dedupe": 0, "min_value": 0, "k_core": 0}


def test_real_ml_1m_min_rating_3(ml1m: Dataset) -> None:
    kept, removed = clean(ml1m.events, min_value=3)
    assert len(kept) == 836_478
    assert removed == {"dedupe": 0, "min_value": 1_000_209 - 836_478, "k_core": 0}
