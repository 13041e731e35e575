"""Holdout splits: partitions, RecBole's ratio rule, determinism and no leaks from the future."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from freshrec.data import EventBatch
from freshrec.data.splits import (
    PROTOCOLS,
    Split,
    five_core,
    latest_per_user,
    leave_last_out,
    random_split,
    split_by_name,
    temporal_global_split,
    temporal_user_split,
)
from tests.conftest import dataset_dir


def make_batch(
    users: list[int] | np.ndarray,
    times: list[float] | np.ndarray | None = None,
    *,
    string_ids: bool = False,
) -> EventBatch:
    """Events whose ``event_id`` is their row, so every split part can be traced back."""
    users = np.asarray(users)
    n = len(users)
    user = np.array([f"u{u}" for u in users], dtype=object) if string_ids else users
    return EventBatch(
        user,
        np.arange(n),
        np.ones(n),
        timestamp=None if times is None else np.asarray(times, dtype=float),
        event_id=np.arange(n),
    )


def random_events(n_users: int = 40, seed: int = 0, *, n_times: int = 8) -> EventBatch:
    """Users with 1..30 events each, few distinct timestamps (so plenty of ties), shuffled rows."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), rng.integers(1, 31, size=n_users))
    rng.shuffle(users)
    return make_batch(users, rng.integers(0, n_times, size=len(users)).astype(float))


def parts(split: Split) -> list[EventBatch]:
    return [p for p in (split.train, split.valid, split.test) if p is not None]


def assert_partition(split: Split, batch: EventBatch) -> None:
    ids = np.concatenate([p.event_id for p in parts(split)])
    assert sorted(ids.tolist()) == list(range(len(batch)))
    for part in parts(split):  # each part keeps the input's row order
        assert (np.diff(part.event_id) > 0).all()


def part_sizes(split: Split, user: object) -> tuple[int, ...]:
    return tuple(int((p.user == user).sum()) for p in parts(split))


def assert_no_future_in_train(split: Split, batch: EventBatch) -> None:
    """Per user: train < valid < test in (time, file order); ties broken by file order."""
    times = batch.timestamp if batch.timestamp is not None else np.arange(len(batch), dtype=float)

    def keys(part: EventBatch | None, user: object) -> list[tuple[float, int]]:
        if part is None:
            return []
        rows = part.event_id[part.user == user]
        return [(times[r], int(r)) for r in rows]

    for user in np.unique(batch.user):
        train, valid, test = (keys(p, user) for p in (split.train, split.valid, split.test))
        if train and valid + test:
            assert max(train) < min(valid + test)
        if valid and test:
            assert max(valid) < min(test)


def recbole_counts(tot: int, ratios: tuple[float, ...]) -> tuple[int, ...]:
    """RecBole's ``_calcu_split_ids`` counts, written out as RecBole writes them."""
    total = sum(ratios)
    ratios = tuple(r / total for r in ratios)
    cnt = [int(ratios[i] * tot) for i in range(len(ratios))]
    cnt[0] = tot - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * tot < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return tuple(cnt)


# -- random_split ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (1, 0, 0)),
        (2, (1, 0, 1)),
        (3, (1, 1, 1)),
        (5, (3, 1, 1)),
        (10, (8, 1, 1)),
        (20, (16, 2, 2)),
    ],
)
def test_random_split_counts_follow_recbole_by_hand(n: int, expected: tuple[int, ...]) -> None:
    split = random_split(make_batch([7] * n), seed=3)
    assert part_sizes(split, 7) == expected


@pytest.mark.parametrize(
    "ratios", [(0.8, 0.1, 0.1), (0.7, 0.2, 0.1), (8, 1, 1), (0.8, 0.2), (0.5, 0.25, 0.25)]
)
def test_random_split_counts_follow_recbole_rule(ratios: tuple[float, ...]) -> None:
    sizes = np.arange(1, 61)
    split = random_split(make_batch(np.repeat(sizes, sizes)), ratios=ratios, seed=0)
    for n in sizes:
        assert part_sizes(split, n) == recbole_counts(int(n), ratios), n


def test_random_split_partitions_string_users() -> None:
    batch = make_batch(random_events().user.astype(np.int64), string_ids=True)
    split = random_split(batch, seed=0)
    assert split.name == "random"
    assert_partition(split, batch)
    for user in np.unique(batch.user):
        n = int((batch.user == user).sum())
        assert part_sizes(split, user) == recbole_counts(n, (0.8, 0.1, 0.1))


def test_random_split_two_ratios_has_no_valid() -> None:
    split = random_split(random_events(), ratios=(0.8, 0.2))
    assert split.valid is None
    assert_partition(split, random_events())


def test_random_split_is_deterministic_per_seed() -> None:
    batch = random_events()
    first, again, other = (random_split(batch, seed=s) for s in (1, 1, 2))
    assert first.test.event_id.tolist() == again.test.event_id.tolist()
    assert first.valid.event_id.tolist() == again.valid.event_id.tolist()
    assert first.test.event_id.tolist() != other.test.event_id.tolist()


def test_random_split_rejects_bad_ratios() -> None:
    with pytest.raises(ValueError, match="ratios"):
        random_split(random_events(), ratios=(0.5, 0.2, 0.2, 0.1))
    with pytest.raises(ValueError, match="ratios"):
        random_split(random_events(), ratios=(1.0, -0.1, 0.1))


# -- leave_last_out -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "expected"), [(1, (1, 0, 0)), (2, (1, 0, 1)), (3, (1, 1, 1)), (10, (8, 1, 1))]
)
def test_leave_last_out_counts(n: int, expected: tuple[int, ...]) -> None:
    split = leave_last_out(make_batch([4] * n, np.arange(n, 0, -1)))
    assert part_sizes(split, 4) == expected


def test_leave_last_out_never_trains_on_the_future() -> None:
    batch = random_events(seed=5)
    split = leave_last_out(batch)
    assert_partition(split, batch)
    assert_no_future_in_train(split, batch)


def test_leave_last_out_breaks_time_ties_by_file_order() -> None:
    # user 1: three events at the same second; the last written is the test event
    batch = make_batch([1, 2, 1, 1, 2], [5.0, 1.0, 5.0, 5.0, 0.0])
    split = leave_last_out(batch)
    assert split.test.event_id.tolist() == [1, 3]
    assert split.valid.event_id.tolist() == [2]
    assert split.train.event_id.tolist() == [0, 4]


def test_leave_last_out_without_timestamps_uses_row_order() -> None:
    split = leave_last_out(make_batch([1, 1, 1]))
    assert split.test.event_id.tolist() == [2]


# -- temporal_user_split --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "test_ratio", "valid_ratio", "expected"),
    [
        (1, 0.2, 0.0, (1, 0)),
        (2, 0.2, 0.0, (1, 1)),
        (5, 0.2, 0.0, (4, 1)),
        (8, 0.2, 0.0, (6, 2)),
        (13, 0.2, 0.0, (10, 3)),
        (2, 0.2, 0.1, (1, 0, 1)),
        (3, 0.2, 0.1, (1, 1, 1)),
        (10, 0.2, 0.1, (7, 1, 2)),
        (20, 0.2, 0.1, (14, 2, 4)),
        (5, 0.1, 0.1, (3, 1, 1)),
    ],
)
def test_temporal_user_counts(
    n: int, test_ratio: float, valid_ratio: float, expected: tuple[int, ...]
) -> None:
    split = temporal_user_split(make_batch([9] * n, np.arange(n)), test_ratio, valid_ratio)
    assert part_sizes(split, 9) == expected


@pytest.mark.parametrize("valid_ratio", [0.0, 0.1])
def test_temporal_user_never_trains_on_the_future(valid_ratio: float) -> None:
    batch = random_events(seed=7)
    split = temporal_user_split(batch, valid_ratio=valid_ratio)
    assert split.name == "temporal-user"
    assert (split.valid is None) == (valid_ratio == 0)
    assert_partition(split, batch)
    assert_no_future_in_train(split, batch)


def test_temporal_user_rejects_bad_ratios() -> None:
    for test_ratio, valid_ratio in [(0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.2, -0.1)]:
        with pytest.raises(ValueError, match="test_ratio"):
            temporal_user_split(random_events(), test_ratio, valid_ratio)


# -- temporal_global_split ------------------------------------------------------------------
@pytest.mark.parametrize("valid_ratio", [0.0, 0.1])
def test_temporal_global_cuts_between_timestamps(valid_ratio: float) -> None:
    batch = random_events(seed=11, n_times=30)
    split = temporal_global_split(batch, test_ratio=0.2, valid_ratio=valid_ratio)
    assert_partition(split, batch)
    sides = [p.timestamp for p in parts(split)]
    for before, after in zip(sides[:-1], sides[1:], strict=True):
        assert before.max() < after.min()  # strict: no timestamp on both sides
    assert len(split.test) >= 0.2 * len(batch)


def test_temporal_global_keeps_ties_together() -> None:
    batch = make_batch([1, 2, 3, 1, 2, 3], [1.0, 2.0, 2.0, 2.0, 2.0, 3.0])
    split = temporal_global_split(batch, test_ratio=0.5)
    assert split.test.event_id.tolist() == [1, 2, 3, 4, 5]
    assert split.train.event_id.tolist() == [0]


def test_temporal_global_explicit_cut_time() -> None:
    batch = make_batch([1, 2, 3, 4], [10.0, 20.0, 30.0, 40.0])
    split = temporal_global_split(batch, cut_time=25.0, valid_ratio=0.25)
    assert split.train.event_id.tolist() == [0]
    assert split.valid.event_id.tolist() == [1]
    assert split.test.event_id.tolist() == [2, 3]


def test_temporal_global_without_timestamps_cuts_by_row() -> None:
    split = temporal_global_split(make_batch([1, 2, 3, 4, 5]), test_ratio=0.4)
    assert split.test.event_id.tolist() == [3, 4]


# -- protocols and purity -------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_split_by_name(protocol: str) -> None:
    batch = random_events(seed=2)
    before = {name: getattr(batch, name).copy() for name in ("user", "item", "timestamp")}
    split = split_by_name(batch, protocol, seed=4)
    assert split.name == protocol
    kept = five_core(batch) if protocol in ("loo-full", "loo-sampled") else batch
    assert_partition(split, kept)
    for name, column in before.items():  # the input is never mutated
        assert np.array_equal(getattr(batch, name), column)


def test_split_by_name_matches_the_functions() -> None:
    batch = random_events(seed=3)
    pairs = [
        ("random", random_split(batch, seed=9)),
        ("loo-full", leave_last_out(five_core(batch))),
        ("loo-sampled", leave_last_out(five_core(batch))),
        ("loo-hstu", leave_last_out(batch)),
        ("temporal-user", temporal_user_split(batch)),
        ("temporal-global", temporal_global_split(batch)),
    ]
    for protocol, expected in pairs:
        assert split_by_name(batch, protocol, seed=9).test.event_id.tolist() == (
            expected.test.event_id.tolist()
        )


@pytest.mark.parametrize("n", [0, 1, 3, 50])
def test_latest_per_user_keeps_each_users_latest_events(n: int) -> None:
    batch = random_events(seed=5)
    kept = latest_per_user(batch, n)
    for user in np.unique(batch.user):
        times = np.sort(batch.timestamp[batch.user == user])
        mine = np.sort(kept.timestamp[kept.user == user])
        assert len(mine) == min(n, len(times))
        assert np.array_equal(mine, times[len(times) - len(mine) :])
    with pytest.raises(ValueError, match="n must be"):
        latest_per_user(batch, -1)


def test_split_by_name_rejects_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="loo-full"):
        split_by_name(random_events(), "kfold")


def test_empty_batch_splits_to_empty_parts() -> None:
    empty = make_batch(np.zeros(0, np.int64), np.zeros(0))
    for protocol in PROTOCOLS:
        assert sum(len(p) for p in parts(split_by_name(empty, protocol))) == 0


# -- real data (optional) -------------------------------------------------------------------
@pytest.mark.data
def test_random_split_ml1m_is_fast_and_partitions(data_dir: Path) -> None:
    raw = (dataset_dir(data_dir, "ml-1m") / "ratings.dat").read_bytes()
    table = np.array(raw.replace(b"::", b" ").split(), dtype=np.int64).reshape(-1, 4)
    table = table[table[:, 2] >= 3]
    assert len(table) == 836_478
    batch = EventBatch(
        table[:, 0], table[:, 1], table[:, 2], timestamp=table[:, 3], event_id=np.arange(len(table))
    )
    start = time.perf_counter()
    split = random_split(batch, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    ids = np.concatenate([p.event_id for p in parts(split)])
    assert np.array_equal(np.sort(ids), np.arange(len(batch)))
    sizes = np.bincount(batch.user)
    for part, k in zip(parts(split), range(3), strict=True):
        got = np.bincount(part.user, minlength=len(sizes))
        expected = [recbole_counts(int(n), (0.8, 0.1, 0.1))[k] if n else 0 for n in sizes]
        assert got.tolist() == expected


def test_k_fold_tests_every_event_once_and_never_trains_on_it():
    from freshrec.data.splits import k_fold_splits

    rng = np.random.default_rng(0)
    batch = EventBatch(rng.integers(0, 20, 500), np.arange(500), np.ones(500))
    folds = k_fold_splits(batch, n_folds=4, seed=3)
    tested = np.concatenate([f.test.item for f in folds])
    assert sorted(tested.tolist()) == list(range(500))
    for fold in folds:
        assert not set(fold.train.item.tolist()) & set(fold.test.item.tolist())
        assert len(fold.train) + len(fold.test) == 500
    again = k_fold_splits(batch, n_folds=4, seed=3)
    assert all((a.test.item == b.test.item).all() for a, b in zip(folds, again, strict=True))


def test_five_core_keeps_users_and_items_with_five_events_each() -> None:
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(30), rng.integers(1, 15, size=30))
    batch = EventBatch(users, rng.integers(0, 25, size=len(users)), np.ones(len(users)))
    kept = five_core(batch)
    assert 0 < len(kept) < len(batch)
    assert np.unique(kept.user, return_counts=True)[1].min() >= 5
    assert np.unique(kept.item, return_counts=True)[1].min() >= 5
