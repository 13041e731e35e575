"""Conformance suite every event-log backend passes (public, like :mod:`freshrec.checks`).

A check takes a *store factory*: a callable that creates a new, empty stored log and
returns an *opener*, a callable that opens (or reopens) an :class:`EventLog` on that store.
Two openers' logs on one store are two clients of the same log (two processes, say).
:func:`check_event_log` runs every check; :func:`yield_checks` lists them, to give each its
own test. Every check is seeded and deterministic.

Examples
--------
>>> check_event_log(memory_store)
>>> [check.__name__ for check in yield_checks()][:2]
['check_append_is_idempotent', 'check_random_resends_are_idempotent']
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.log.cursor import Cursor
from freshrec.log.log import EventLog
from freshrec.log.memory import MemoryBackend

__all__ = [
    "Opener",
    "StoreFactory",
    "check_append_is_idempotent",
    "check_concurrent_resends_store_once",
    "check_cursors_order_and_resume",
    "check_event_log",
    "check_events_without_ids_are_new",
    "check_ids_are_stable",
    "check_random_resends_are_idempotent",
    "check_rejects_invalid_events",
    "check_reopen_gives_same_log",
    "check_shared_store_is_one_log",
    "check_views_equal_recount",
    "memory_store",
    "yield_checks",
]

Opener = Callable[[], EventLog]
StoreFactory = Callable[[], Opener]
Check = Callable[[StoreFactory], None]


def memory_store() -> Opener:
    """A new in-memory store; its opener reopens the same events.

    Examples
    --------
    >>> opener = memory_store()
    >>> opener().append(_batch(["a"], ["x"], ids=["e"])).accepted, len(opener())
    (1, 1)
    """
    backend = MemoryBackend()
    return lambda: EventLog(backend)


def yield_checks() -> Iterator[Check]:
    """Every check, in a fixed order.

    Examples
    --------
    >>> len(list(yield_checks()))
    10
    """
    yield check_append_is_idempotent
    yield check_random_resends_are_idempotent
    yield check_rejects_invalid_events
    yield check_events_without_ids_are_new
    yield check_cursors_order_and_resume
    yield check_views_equal_recount
    yield check_reopen_gives_same_log
    yield check_ids_are_stable
    yield check_shared_store_is_one_log
    yield check_concurrent_resends_store_once


def check_event_log(new_store: StoreFactory) -> None:
    """Run every check on logs from ``new_store`` (each check gets a new store).

    Examples
    --------
    >>> check_event_log(memory_store)
    """
    for check in yield_checks():
        check(new_store)


# -- the checks ----------------------------------------------------------------------------
def check_append_is_idempotent(new_store: StoreFactory) -> None:
    """A resent event id changes nothing, within a batch too; ``7`` and ``"7"`` are one id.

    Examples
    --------
    >>> check_append_is_idempotent(memory_store)
    """
    with new_store()() as log:
        batch = _batch(["a", "b", "a"], ["x", "y", "y"], ids=[1, 2, 3])
        _expect(log.append(batch), accepted=3, duplicate=0)
        head, before = log.head(), _snapshot(log)
        _expect(log.append(batch), accepted=0, duplicate=3)
        _expect(log.append(_batch(["c", "c"], ["z", "z"], ids=["3", "9"])), 1, 1)
        _expect(log.append(_batch(["d", "d"], ["w", "w"], ids=["k", "k"])), 1, 1)
        _require(log.read().events.user.tolist() == ["a", "b", "a", "c", "d"], "wrong events")
        _expect(log.append(batch[1:]), accepted=0, duplicate=2)
        _require(_ids(log.read(head).events) == ["9", "k"], "resends were stored")
        _require(_snapshot(log)[0][: len(before[0])] == before[0], "a resend changed history")


def check_random_resends_are_idempotent(new_store: StoreFactory) -> None:
    """Seeded random resend patterns (subsets, repeats, shuffles) store each event once,
    in the order of its first arrival.

    Examples
    --------
    >>> check_random_resends_are_idempotent(memory_store)
    """
    rng = np.random.default_rng(7)
    pool = _random_events(rng, 120, n_users=15, n_items=12)
    stored: list[Any] = []
    with new_store()() as log:
        for _ in range(25):
            rows = rng.choice(len(pool), size=int(rng.integers(1, 40)), replace=True)
            batch = pool.take(rows)
            known = set(stored)
            fresh = list(dict.fromkeys(i for i in _ids(batch) if i not in known))
            _expect(log.append(batch), len(fresh), len(rows) - len(fresh))
            stored.extend(fresh)
        _require(_ids(log.read(max_events=10_000).events) == stored, "wrong order")


def check_rejects_invalid_events(new_store: StoreFactory) -> None:
    """Invalid events are refused with position, event id, field and reason; the valid
    events of the same batch are stored, and refused events add no ids.

    Examples
    --------
    >>> check_rejects_invalid_events(memory_store)
    """
    users = np.array(["ok1", None, "u", "u", "u", "u", "u", "u", "u", "ok2"], dtype=object)
    items = np.array(["i", "i", "", "i", "i", "i", "i", "i", "i", "j"], dtype=object)
    value = np.array([1, 1, 1, np.nan, np.inf, 1, 1, 1, 1, 2], dtype=np.float32)
    stamp = np.array([1, 1, 1, 1, 1, np.nan, -5, 1, 1, 2], dtype=np.float64)
    ids = np.array(["e0", "e1", "e2", "e3", "e4", "e5", "e6", None, "", "e9"], dtype=object)
    batch = EventBatch(users, items, value, timestamp=stamp, event_id=ids)
    expected = [
        (1, "e1", "user"),
        (2, "e2", "item"),
        (3, "e3", "value"),
        (4, "e4", "value"),
        (5, "e5", "timestamp"),
        (6, "e6", "timestamp"),
        (7, None, "event_id"),
        (8, "", "event_id"),
    ]
    with new_store()() as log:
        result = log.append(batch)
        _expect(result, accepted=2, duplicate=0, rejected=8)
        found = [(r.position, r.event_id, r.field) for r in result.rejections]
        _require(found == expected, f"rejections {found}, expected {expected}")
        _require(all(r.reason for r in result.rejections), "a rejection without a reason")
        _require(_ids(log.read().events) == ["e0", "e9"], "valid events not kept")
        _require(log.users.ids == ["ok1", "ok2"], f"refused events added ids: {log.users.ids}")
        bad_p = _batch(["a", "b"], ["x", "x"], ids=["p1", "p2"], propensity=[0.5, 0.0])
        _expect(log.append(bad_p), accepted=1, duplicate=0, rejected=1)


def check_events_without_ids_are_new(new_store: StoreFactory) -> None:
    """Without an ``event_id`` column every append is new (the log gives fresh ids), and
    without timestamps events get the append time.

    Examples
    --------
    >>> check_events_without_ids_are_new(memory_store)
    """
    import time

    with new_store()() as log:
        batch = EventBatch(np.array(["a", "b"], object), np.array(["x", "y"], object), np.ones(2))
        before = time.time()
        _expect(log.append(batch), accepted=2, duplicate=0)
        _expect(log.append(batch), accepted=2, duplicate=0)
        events = log.read().events
        ids = _ids(events)
        _require(len(set(map(str, ids))) == 4, f"given ids are not distinct: {ids}")
        stamps = events.timestamp if events.timestamp is not None else np.zeros(0)
        _require(
            bool(np.all(stamps >= before - 1)) and bool(np.all(stamps <= time.time() + 1)),
            f"missing timestamps were not set to the append time: {stamps}",
        )
        _expect(log.append(events), accepted=0, duplicate=4)  # with their given ids: resends


def check_cursors_order_and_resume(new_store: StoreFactory) -> None:
    """Cursors strictly increase, round-trip through ``str``, and ``read(cursor)`` resumes
    exactly after ``cursor`` whatever ``max_events`` was.

    Examples
    --------
    >>> check_cursors_order_and_resume(memory_store)
    """
    rng = np.random.default_rng(3)
    with new_store()() as log:
        for size in (5, 1, 17, 3):
            log.append(_random_events(rng, size, n_users=6, n_items=6))
        whole = log.read(max_events=1_000)
        cursors = list(whole.cursors)
        _require(len(cursors) == 26 and whole.next_cursor == log.head(), "wrong head")
        _require(all(a < b for a, b in zip(cursors, cursors[1:], strict=False)), "not increasing")
        _require(Cursor.START < cursors[0], "START is not before the first event")
        _require(len(set(cursors)) == len(cursors), "cursors collide when hashed")
        _require(all(Cursor.parse(str(c)) == c for c in cursors), "str round trip fails")
        ids = _ids(whole.events)
        for max_events in (1, 2, 3, 7, 26, 100):
            got: list[Any] = []
            cursor = Cursor.START
            while True:
                part = log.read(cursor, max_events)
                if not len(part):
                    _require(part.next_cursor == cursor, "an empty read moved the cursor")
                    break
                _require(len(part) <= max_events, "read returned more than max_events")
                _require(part.cursors[0] > cursor, "read did not resume after its cursor")
                got.extend(_ids(part.events))
                cursor = part.next_cursor
            _require(got == ids, f"reading by {max_events} gave other events")
        for k in rng.choice(len(cursors), size=6, replace=False).tolist():
            after = log.read(Cursor.parse(str(cursors[k])), 4)
            _require(list(after.cursors) == cursors[k + 1 : k + 5], f"resume after #{k} fails")


def check_views_equal_recount(new_store: StoreFactory) -> None:
    """After every append of a seeded random sequence (new and known ids, resends, invalid
    events), seen items, positives, sequences and windows equal a recount from scratch,
    and a log opened afresh on the store agrees.

    Examples
    --------
    >>> check_views_equal_recount(memory_store)
    """
    rng = np.random.default_rng(11)
    opener = new_store()
    accepted: list[tuple[Any, Any, float, float]] = []
    stored_ids: set[Any] = set()
    with opener() as log:
        for step in range(12):
            batch = _random_events(rng, int(rng.integers(1, 30)), 10 + 2 * step, 8 + step)
            if step % 4 == 3:  # resend part of history, and one invalid event
                batch = EventBatch.concat([batch, log.read(max_events=10).events])
                batch = EventBatch.concat([batch, _batch(["bad"], ["bad"], [np.nan], ids=["x"])])
            for event in batch.to_events():
                if np.isfinite(event.value) and event.event_id not in stored_ids:
                    stored_ids.add(event.event_id)
                    accepted.append((event.user, event.item, event.value, event.timestamp or 0))
            log.append(batch)
            _require(len(log) == len(accepted), "the log lost or gained events")
            _check_views(log, accepted, rng)
        with opener() as fresh:
            _check_views(fresh, accepted, rng)
            _require((fresh.seen() != log.seen()).nnz == 0, "a reopened log sees otherwise")


def check_reopen_gives_same_log(new_store: StoreFactory) -> None:
    """Close and reopen: same events, cursors (as text) and ids; appends go on after them.

    Examples
    --------
    >>> check_reopen_gives_same_log(memory_store)
    """
    rng = np.random.default_rng(5)
    opener = new_store()
    with opener() as log:
        log.append(_random_events(rng, 40, n_users=9, n_items=7))
        before = _snapshot(log)
    with opener() as log:
        _require(_snapshot(log) == before, "a reopened log differs")
        head = log.head()
        log.append(_random_events(rng, 10, n_users=12, n_items=9))
        _require(log.read(head).cursors[0] > head, "appends after a reopen went backwards")
        _require(log.users.ids[: len(before[2])] == before[2], "reopening changed user ids")


def check_ids_are_stable(new_store: StoreFactory) -> None:
    """Ids are indexed by first appearance, stored with the events, never freed.

    Examples
    --------
    >>> check_ids_are_stable(memory_store)
    """
    opener = new_store()
    with opener() as log:
        log.append(_batch(["b", 5, "5", "a"], ["x", "y", "x", "z"], ids=[1, 2, 3, 4]))
        _require(log.users.ids == ["b", 5, "5", "a"], f"user ids {log.users.ids}")
        user_idx, item_idx = log.read().events.indices()
        _require(user_idx.tolist() == [0, 1, 2, 3], "user_idx is not from the log")
        _require(item_idx.tolist() == [0, 1, 0, 2], "item_idx is not from the log")
        try:
            log.users.evict(["b"])
        except TypeError:
            pass
        else:
            raise AssertionError("the log's id map let an index be freed")
    with opener() as log:
        _require(log.users.encode(["a", 5]).tolist() == [3, 1], "indices changed on reopen")


def check_shared_store_is_one_log(new_store: StoreFactory) -> None:
    """Two logs opened on one store see each other's appends (views refresh on access),
    dedupe against each other and agree on ids.

    Examples
    --------
    >>> check_shared_store_is_one_log(memory_store)
    """
    opener = new_store()
    with opener() as first, opener() as second:
        first.append(_batch(["a", "b"], ["x", "y"], ids=["1", "2"]))
        _expect(second.append(_batch(["c", "a"], ["x", "z"], ids=["2", "3"])), 1, 1)
        _require(second.users.ids == ["a", "b"], "the second log's ids missed the first's")
        _require(first.seen().shape == (2, 3) and first.seen().nnz == 3, "views did not refresh")
        _require(first.items.ids == second.items.ids == ["x", "y", "z"], "item ids disagree")
        _require(_snapshot(first) == _snapshot(second), "two clients read different logs")


def check_concurrent_resends_store_once(new_store: StoreFactory) -> None:
    """Four clients resending overlapping batches at the same time store each event once.

    Examples
    --------
    >>> check_concurrent_resends_store_once(memory_store)
    """
    rng = np.random.default_rng(13)
    pool = _random_events(rng, 200, n_users=40, n_items=30)
    opener = new_store()
    logs = [opener() for _ in range(4)]
    plans = [[rng.permutation(200)[:120] for _ in range(3)] for _ in logs]
    totals = [0] * len(logs)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for rows in plans[k]:
                totals[k] += logs[k].append(pool.take(np.sort(rows))).accepted
        except BaseException as err:  # re-raised below, in the checking thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(logs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise errors[0]
        unique = len(set(np.concatenate([r for plan in plans for r in plan]).tolist()))
        _require(sum(totals) == unique, f"{sum(totals)} stored, {unique} distinct events")
        events = logs[0].read(max_events=1_000).events
        ids = _ids(events)
        _require(len(ids) == len(set(ids)) == unique, "an event was stored twice")
        first_seen = list(dict.fromkeys(events.user.tolist()))
        _require(logs[0].users.ids == first_seen, "user indices are not in log order")
        stored_idx = events.indices()[0].tolist()
        _require(stored_idx == logs[0].users.encode(events.user).tolist(), "stored user_idx")
    finally:
        for log in logs:
            log.close()


# -- helpers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Expected:
    users: list[Any]
    items: list[Any]
    seen: set[tuple[int, int]]
    positives: set[tuple[int, int]]
    sequences: list[list[int]]


def _recount(events: list[tuple[Any, Any, float, float]], threshold: float) -> _Expected:
    users = list(dict.fromkeys(e[0] for e in events))
    items = list(dict.fromkeys(e[1] for e in events))
    u_idx = {u: i for i, u in enumerate(users)}
    i_idx = {it: i for i, it in enumerate(items)}
    pairs = [(u_idx[u], i_idx[i], v) for u, i, v, _ in events]
    sequences: list[list[int]] = [[] for _ in users]
    for u, i, _ in pairs:
        sequences[u].append(i)
    return _Expected(
        users,
        items,
        {(u, i) for u, i, _ in pairs},
        {(u, i) for u, i, v in pairs if v >= threshold},
        sequences,
    )


def _check_views(
    log: EventLog, events: list[tuple[Any, Any, float, float]], rng: np.random.Generator
) -> None:
    expected = _recount(events, threshold=3.0)
    _require(log.users.ids == expected.users, "user ids differ from a recount")
    _require(log.items.ids == expected.items, "item ids differ from a recount")
    shape = (len(expected.users), len(expected.items))
    for name, matrix, pairs in (
        ("seen", log.seen(), expected.seen),
        ("positives", log.positives(3.0), expected.positives),
    ):
        coo = matrix.tocoo()
        found = set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
        _require(matrix.shape == shape and found == pairs, f"{name} differs from a recount")
        _require(bool(np.all(coo.data == 1.0)), f"{name} is not binary")
    sequences = log.sequences()
    _require(len(sequences) == len(expected.sequences), "sequences have the wrong length")
    for u, items in enumerate(expected.sequences):
        _require(sequences[u].tolist() == items, f"sequence of user {u} differs from a recount")
    whole = log.read(max_events=100_000)
    if len(whole) < 2:
        return
    a, b = np.sort(rng.choice(len(whole), size=2, replace=False)).tolist()
    ids = np.asarray(_ids(whole.events), dtype=object)
    window = log.window(whole.cursors[a], whole.cursors[b])
    _require(_ids(window) == ids[a + 1 : b + 1].tolist(), "window differs from a recount")
    stamps = np.array([e[3] for e in events])
    t0, t1 = np.sort(rng.choice(stamps, size=2))
    timed = log.window_by_time(float(t0), float(t1))
    want = ids[(stamps >= t0) & (stamps < t1)].tolist()
    _require(_ids(timed) == want, "window_by_time differs from a recount")


def _snapshot(log: EventLog) -> tuple[list[Any], list[str], list[Any], list[Any]]:
    """Everything a reader can see: events (as tuples), cursors (as text) and ids."""
    result = log.read(max_events=1_000_000)
    rows = [
        (e.user, e.item, e.value, e.timestamp, e.event_id, e.propensity)
        for e in result.events.to_events()
    ]
    return rows, [str(c) for c in result.cursors], log.users.ids, log.items.ids


def _random_events(rng: np.random.Generator, n: int, n_users: int, n_items: int) -> EventBatch:
    """Seeded events: string or integer ids (by coin flip), ratings 1-5, times, ids."""
    as_ints = bool(rng.integers(2))
    users = rng.integers(0, n_users, n)
    items = rng.integers(0, n_items, n)
    return EventBatch(
        users if as_ints else np.array([f"u{u}" for u in users], dtype=object),
        items if as_ints else np.array([f"i{i}" for i in items], dtype=object),
        rng.integers(1, 6, n).astype(np.float32),
        timestamp=np.round(rng.uniform(0, 1_000, n), 3),
        propensity=rng.uniform(0.1, 1.0, n),
        event_id=np.array([f"r{v}" for v in rng.integers(0, 1 << 40, n)], dtype=object),
    )


def _batch(
    users: list[Any],
    items: list[Any],
    value: list[float] | None = None,
    *,
    ids: list[Any],
    propensity: list[float] | None = None,
) -> EventBatch:
    out = {}
    for name, values in (("user", users), ("item", items), ("event_id", ids)):
        column = np.empty(len(values), dtype=object)
        column[:] = values
        out[name] = column
    return EventBatch(
        out["user"],
        out["item"],
        np.ones(len(users)) if value is None else np.asarray(value),
        timestamp=np.arange(len(users), dtype=np.float64),
        propensity=None if propensity is None else np.asarray(propensity),
        event_id=out["event_id"],
    )


def _ids(events: EventBatch) -> list[Any]:
    return events.event_id.tolist() if events.event_id is not None else []


def _expect(result: Any, accepted: int, duplicate: int, rejected: int = 0) -> None:
    got = (result.accepted, result.duplicate, result.rejected)
    _require(
        got == (accepted, duplicate, rejected),
        f"append gave {got}, expected "
        f"{(accepted, duplicate, rejected)} (accepted, duplicate, rejected)",
    )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
