"""Views extended event by event equal views counted from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.log import Cursor, Cursors
from freshrec.log.views import LogViews


def _scratch(users: np.ndarray, items: np.ndarray, n_users: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n_users)]
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        out[u].append(i)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_views_equal_a_recount(seed: int) -> None:
    rng = np.random.default_rng(seed)
    views, done = LogViews(), 0
    users, items = np.zeros(0, np.int64), np.zeros(0, np.int64)
    values, times = np.zeros(0, np.float32), np.zeros(0)
    n_users = n_items = 1
    for _ in range(15):
        n = int(rng.integers(0, 25))
        n_users += int(rng.integers(0, 4))
        n_items += int(rng.integers(0, 4))
        new = (
            rng.integers(0, n_users, n),
            rng.integers(0, n_items, n),
            rng.integers(1, 6, n).astype(np.float32),
            rng.uniform(0, 100, n),
        )
        views.extend(Cursors(np.arange(done + 1, done + n + 1)[:, None]), *new)
        done += n
        users, items = np.concatenate([users, new[0]]), np.concatenate([items, new[1]])
        values, times = np.concatenate([values, new[2]]), np.concatenate([times, new[3]])
        if rng.random() < 0.6:  # views are read at random moments: caches get extended
            dense = np.zeros((n_users, n_items), np.float32)
            dense[users, items] = 1.0
            np.testing.assert_array_equal(views.seen(n_users, n_items).toarray(), dense)
            keep = values >= 4
            dense = np.zeros((n_users, n_items), np.float32)
            dense[users[keep], items[keep]] = 1.0
            np.testing.assert_array_equal(views.positives(4, n_users, n_items).toarray(), dense)
            sequences = views.sequences(n_users)
            expected = _scratch(users, items, n_users)
            assert [sequences[u].tolist() for u in range(n_users)] == expected
            for u in range(n_users):
                np.testing.assert_array_equal(sequences.times(u), times[users == u])
    assert len(views) == done
    assert views.last == (Cursor((done,)) if done else Cursor.START)


def test_time_span_brackets_the_matching_events() -> None:
    views = LogViews()
    times = np.array([5.0, 1.0, 7.0, 3.0])
    views.extend(
        Cursors(np.array([[1], [2], [3], [4]])), np.zeros(4), np.zeros(4), np.ones(4), times
    )
    assert views.time_span(2.0, 6.0) == (Cursor.START, Cursor((4,)))
    assert views.time_span(6.0, 8.0) == (Cursor((2,)), Cursor((3,)))
    assert views.time_span(8.0, 9.0) is None


def test_cached_views_are_reused_until_events_arrive() -> None:
    views = LogViews()
    views.extend(Cursors(np.array([[1]])), np.array([0]), np.array([0]), np.ones(1), np.zeros(1))
    assert views.seen(1, 1) is views.seen(1, 1)
    assert views.sequences(1) is views.sequences(1)
    grown = views.seen(2, 3)
    assert grown.shape == (2, 3) and grown.nnz == 1


def test_user_items_after_each_append_match_the_rebuilt_sequences() -> None:
    rng = np.random.default_rng(0)
    views, n_users, n = LogViews(), 30, 0
    for size in rng.integers(1, 400, size=120):  # tails below and above the rebuild bound
        users = rng.integers(n_users, size=size)
        views.extend(
            Cursors(np.arange(n + 1, n + size + 1)[:, None]),
            users,
            rng.integers(50, size=size),
            np.ones(size),
            np.ones(size),
        )
        n += size
        asked = int(rng.integers(n_users))
        got = views.user_items(asked, n_users)
        _, all_users, all_items, _, _ = views.columns()
        assert got.tolist() == all_items[all_users == asked].tolist()


def test_columns_handed_out_do_not_change_when_events_arrive() -> None:
    views = LogViews()
    views.extend(
        Cursors(np.array([[1], [2]])), np.array([0, 1]), np.array([3, 4]), np.ones(2), np.ones(2)
    )
    _, users, items, _, _ = views.columns()
    for start in range(3, 3000, 7):  # several doublings of the buffers
        cursors = Cursors(np.arange(start, start + 7)[:, None])
        views.extend(cursors, np.full(7, 9), np.full(7, 9), np.ones(7), np.ones(7))
    assert users.tolist() == [0, 1] and items.tolist() == [3, 4]
    assert len(views.columns()[1]) == 2 + len(range(3, 3000, 7)) * 7
