"""EventLog behaviour on the in-memory backend (the backends agree: test_conformance)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from freshrec.data import Event
from freshrec.data.batch import EventBatch
from freshrec.log import Cursor, Cursors, EventLog, MemoryBackend, open_log
from freshrec.log.conformance import StoreFactory


def _events(n: int, start: int = 0) -> EventBatch:
    ids = np.arange(start, start + n)
    return EventBatch(
        ids % 3, ids % 4, (ids % 5 + 1).astype(float), timestamp=ids * 10.0, event_id=ids
    )


def test_append_counts_add_up_and_head_moves() -> None:
    log = open_log("memory://")
    result = log.append(_events(6))
    assert (result.accepted, result.duplicate, result.rejected) == (6, 0, 0)
    assert result.head == log.head() == log.read(max_events=100).next_cursor
    again = log.append(EventBatch.concat([_events(3), _events(2, start=6)]))
    assert (again.accepted, again.duplicate) == (2, 3) and again.head > result.head
    nothing = log.append(_events(2))
    assert nothing.head == again.head


def test_append_takes_event_objects() -> None:
    log = open_log("memory://")
    assert log.append([Event("ann", "a", 4.0, 1.0, event_id="x")]).accepted == 1
    assert log.append([]).accepted == 0 and len(log) == 1


def test_windows_by_cursor_and_time() -> None:
    log = open_log("memory://")
    log.append(_events(10))
    cursors = log.read().cursors
    assert log.window(Cursor.START).event_id.tolist() == list(range(10))  # type: ignore[union-attr]
    assert log.window(cursors[7]).event_id.tolist() == [8, 9]  # type: ignore[union-attr]
    assert len(log.window(cursors[3], cursors[3])) == 0
    assert len(log.window(cursors[9])) == 0
    assert log.window_by_time(20.0, 50.0).event_id.tolist() == [2, 3, 4]  # type: ignore[union-attr]
    assert len(log.window_by_time(1e6, 2e6)) == 0


def test_views_follow_own_appends_without_reading_back() -> None:
    backend = MemoryBackend()
    reads: list[Any] = []
    original = backend.read

    def counting_read(after: Cursor, max_events: int) -> tuple[EventBatch, Cursors]:
        reads.append(after)
        return original(after, max_events)

    backend.read = counting_read  # type: ignore[method-assign]
    log = EventLog(backend)
    log.append(_events(5))
    log.append(_events(5, start=5))
    assert log.seen().nnz == 10 and reads == []  # the head says nothing is new


def test_another_client_appends_show_in_views_on_access() -> None:
    backend = MemoryBackend()
    mine, theirs = EventLog(backend), EventLog(backend)
    mine.append(_events(4))
    assert mine.sequences().lengths().tolist() == [2, 1, 1]
    theirs.append(_events(4, start=4))
    assert mine.sequences().lengths().tolist() == [3, 3, 2]
    assert len(mine) == 8 and mine.positives(threshold=5.0).nnz == 1


def test_missing_timestamps_get_the_append_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import freshrec.log.log as log_module

    monkeypatch.setattr(log_module.time, "time", lambda: 1234.5)
    log = open_log("memory://")
    log.append(EventBatch(np.array([1]), np.array([1]), np.ones(1), event_id=[1]))
    assert log.read().events.timestamp.tolist() == [1234.5]  # type: ignore[union-attr]


def test_repr_and_context_manager() -> None:
    with open_log("memory://") as log:
        log.append(_events(2))
        assert (
            repr(log) == "EventLog(MemoryBackend(n_events=2), users=2, items=2, head=Cursor('2'))"
        )


def test_events_read_cannot_change_the_log(new_store: StoreFactory) -> None:
    with new_store()() as log:
        log.append(_events(3))
        read = log.read().events
        with pytest.raises(ValueError):
            read.value[0] = 99.0  # read-only views, or copies the log does not hold
        assert log.read().events.value.tolist() == [1.0, 2.0, 3.0]
