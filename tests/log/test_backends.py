"""Backend behaviour beyond the conformance suite: conditional commits, races between
clients, block splitting, every column stored, and clients in separate processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import freshrec.log.log as log_module
from freshrec.data.batch import EventBatch
from freshrec.log import Commit, CommitOutcome, EventLog, LogBackend, MemoryBackend
from freshrec.log.conformance import (
    StoreFactory,
    check_append_is_idempotent,
    check_views_equal_recount,
)
from tests.conftest import REPO_ROOT
from tests.log.conftest import BACKENDS, REDIS_URL, make_stores


def _batch(users: list[Any], ids: list[Any], **columns: Any) -> EventBatch:
    n = len(users)
    return EventBatch(
        np.array(users, dtype=object),
        np.array([f"i{u}" for u in users], dtype=object),
        np.ones(n),
        timestamp=np.arange(n, dtype=float),
        event_id=np.array(ids, dtype=object),
        **columns,
    )


def _commit(batch: EventBatch, n_users: int = 0, n_items: int = 0) -> Commit:
    users = list(dict.fromkeys(batch.user.tolist()))
    items = list(dict.fromkeys(batch.item.tolist()))
    encoded = batch.with_columns(
        user_idx=[n_users + users.index(u) for u in batch.user.tolist()],
        item_idx=[n_items + items.index(i) for i in batch.item.tolist()],
    )
    assert batch.event_id is not None
    keys = np.array(batch.event_id.tolist(), dtype=object)
    return Commit(encoded, keys, n_users, n_items, users, items)


def test_commit_is_all_or_nothing(new_store: StoreFactory) -> None:
    with new_store()() as log:
        backend = log.backend
        first = backend.commit(_commit(_batch(["a", "b"], ["e1", "e2"])))
        assert first.stored and first.cursors is not None and len(first.cursors) == 2
        stale = backend.commit(_commit(_batch(["c"], ["e3"])))  # encoded against 0 users
        assert stale.stale and not stale.stored
        dupes = backend.commit(_commit(_batch(["c", "d", "e"], ["e3", "e2", "e1"]), 2, 2))
        assert not dupes.stored and dupes.duplicates.tolist() == [1, 2]
        assert backend.ids_since("user", 0) == ["a", "b"]
        last = backend.commit(_commit(_batch(["c"], ["e3"]), 2, 2))
        assert last.stored and last.previous == first.cursors[-1]
        assert backend.ids_since("user", 1) == ["b", "c"]


def test_a_duplicate_text_key_beside_new_integer_keys(new_store: StoreFactory) -> None:
    with new_store()() as log:
        assert log.backend.commit(_commit(_batch(["a", "b"], [1, "x"]))).stored
        outcome = log.backend.commit(_commit(_batch(["c", "d", "e"], [2, "x", 3]), 2, 2))
        assert outcome.duplicates.tolist() == [1]
        assert log.backend.commit(_commit(_batch(["c", "e"], [2, 3]), 2, 2)).stored


class _Racing:
    """A backend whose first commit finds that another client appended just before."""

    def __init__(self, inner: LogBackend, other: EventLog, batch: EventBatch) -> None:
        self.inner, self.other, self.batch = inner, other, batch

    def commit(self, commit: Commit) -> CommitOutcome:
        if self.batch is not None:
            self.other.append(self.batch)
            self.batch = None  # type: ignore[assignment]
        return self.inner.commit(commit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize(
    ("theirs", "expected"),
    [
        (["x", "y"], (1, 1)),  # they sent one of our events, with new ids: dupe + stale
        (["q"], (2, 0)),  # they only grew the id maps: stale
    ],
)
def test_append_retries_when_another_client_wins_the_race(
    new_store: StoreFactory, theirs: list[str], expected: tuple[int, int]
) -> None:
    opener = new_store()
    with opener() as other, opener() as plain:
        racing = EventLog(
            _Racing(plain.backend, other, _batch(theirs, [f"{t}-id" for t in theirs]))
        )
        result = racing.append(_batch(["y", "z"], ["y-id", "z-id"]))
        assert (result.accepted, result.duplicate) == expected
        assert sorted(racing.read().events.user.tolist()) == sorted(set(theirs) | {"y", "z"})
        other.refresh()
        order = list(dict.fromkeys(racing.read().events.user.tolist()))
        assert racing.users.ids == other.users.ids == order


def test_large_appends_are_split_into_blocks(
    new_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "BLOCK_SIZE", 4)
    with new_store()() as log:
        batch = _batch([f"u{i % 5}" for i in range(23)], list(range(23)))
        assert log.append(batch).accepted == 23
        assert log.append(batch).duplicate == 23
        got = [log.read(cursor, 3) for cursor in log.read(max_events=100).cursors]
        assert [len(r) for r in got] == [3] * 20 + [2, 1, 0]
        np.testing.assert_array_equal(log.read(max_events=100).events.event_id, np.arange(23))


def test_every_column_is_stored(new_store: StoreFactory) -> None:
    context = {"device": np.array(["ios", None], object), "price": np.array([1.5, np.nan])}
    batch = _batch([7, "7"], ["a", 8], propensity=np.array([0.25, 1.0]), context=context)
    with new_store()() as log:
        log.append(batch)
        back = log.read().events
    assert back.user.tolist() == [7, "7"] and back.event_id is not None
    assert back.event_id.tolist() == ["a", 8]
    assert back.propensity is not None and back.propensity.tolist() == [0.25, 1.0]
    assert back.context is not None and back.context["device"].tolist() == ["ios", None]
    np.testing.assert_array_equal(back.context["price"], [1.5, np.nan])
    assert back.indices()[0].tolist() == [0, 1]


def test_the_id_maps_are_the_logs_own(new_store: StoreFactory) -> None:
    with new_store()() as log:
        log.append(_batch(["a"], ["e"]))
        log.users.grow(["intruder"])
        with pytest.raises(RuntimeError, match="grown outside the log"):
            log.append(_batch(["b"], ["f"]))


def test_read_refuses_foreign_cursors_and_bad_sizes(new_store: StoreFactory) -> None:
    from freshrec.log import Cursor

    with new_store()() as log:
        log.append(_batch(["a"], ["e"]))
        foreign = Cursor((1, 2)) if len(log.head().parts) != 2 else Cursor((1,))
        with pytest.raises(ValueError):
            log.read(foreign)
        with pytest.raises(ValueError):
            log.read(max_events=0)


class _Forgetful(MemoryBackend):
    """Stores resends: the suite must catch it."""

    def commit(self, commit: Commit) -> CommitOutcome:
        self._keys.clear()
        return super().commit(commit)


def test_the_suite_catches_a_backend_that_stores_resends() -> None:
    def new_store() -> Any:
        backend = _Forgetful()
        return lambda: EventLog(backend)

    with pytest.raises(AssertionError, match="append gave"):
        check_append_is_idempotent(new_store)
    with pytest.raises(AssertionError):
        check_views_equal_recount(new_store)


_WORKER = """
import sys
import numpy as np
from freshrec.data.batch import EventBatch
from freshrec.log import open_log

url, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
ids = np.arange(3_000)
accepted = 0
with open_log(url) as log:
    for _ in range(4):
        rows = np.sort(rng.choice(ids, 1_500, replace=False))
        batch = EventBatch(rows % 97, rows % 89, np.ones(len(rows)),
                           timestamp=rows.astype(float), event_id=rows)
        accepted += log.append(batch).accepted
print(accepted)
"""


@pytest.mark.parametrize("kind", [k for k in BACKENDS if k != "memory"])
def test_processes_resending_at_once_store_each_event_once(kind: str, tmp_path: Path) -> None:
    stores = make_stores(kind, tmp_path)
    opener = next(stores)()
    with opener() as log:
        url = _url(log)
    try:
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(_WORKER), url, str(seed)],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for seed in (1, 2)
        ]
        accepted = [int(w.communicate(timeout=120)[0]) for w in workers]
        with opener() as log:
            events = log.read(max_events=10_000).events
            assert events.event_id is not None
            stored = events.event_id.tolist()
            assert sum(accepted) == len(stored) == len(set(stored))
            assert log.users.ids == list(dict.fromkeys(events.user.tolist()))
            assert all(w.returncode == 0 for w in workers)
    finally:
        stores.close()


def _url(log: EventLog) -> str:
    backend: Any = log.backend
    if hasattr(backend, "path"):
        return f"sqlite:///{backend.path}"
    return f"{REDIS_URL}?prefix={backend.prefix}"
