"""SQLite storage for an event log (``sqlite:///PATH``): the embedded default.

One file in WAL mode, so readers never block the writer and several processes can share
the log. Tables:

- ``blocks(first, n, data)``: one row per committed block; ``first`` is the number of its
  first event (1-based), ``data`` the block packed by :func:`~freshrec.log.codec.encode_block`
  (numeric columns as raw numpy bytes: reading back costs little more than the copy).
- ``event_ints(key)`` / ``event_texts(key)``: every stored event id, for deduplication:
  integer ids (and texts of integers) in the first, other texts in the second (see
  :func:`~freshrec.log.validate.event_keys`).
- ``ids(side, idx, id)``: the id maps, ``id`` as JSON so ``7`` and ``"7"`` stay apart.
- ``meta(key, value)``: the format version.

A commit runs in a ``BEGIN IMMEDIATE`` transaction, which holds the write lock while it
checks the event ids and the id-map sizes, so concurrent resends store each event once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.log.backend import Commit, CommitOutcome, Side, read_numbered, sequence_number
from freshrec.log.codec import decode_block, encode_block
from freshrec.log.cursor import Cursor, Cursors
from freshrec.log.ids import dump_ids, load_ids

__all__ = ["SQLiteBackend"]

FORMAT = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks(
    first INTEGER PRIMARY KEY, n INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS event_ints(key INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS event_texts(key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ids(
    side TEXT NOT NULL, idx INTEGER NOT NULL, id TEXT NOT NULL, PRIMARY KEY (side, idx)
) WITHOUT ROWID;
"""


class SQLiteBackend:
    """An event log in one SQLite file (WAL mode); creates the file and tables if needed.

    Parameters
    ----------
    path
        The database file.
    timeout_s
        How long a writer waits for another process's write lock before failing.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.log import EventLog
    >>> path = Path(tempfile.mkdtemp()) / "events.db"
    >>> log = EventLog(SQLiteBackend(path))
    >>> log.append(EventBatch(np.array([1]), np.array([2]), np.ones(1), event_id=["a"])).accepted
    1
    >>> log.close(); EventLog(SQLiteBackend(path)).read().events.event_id.tolist()
    ['a']
    """

    def __init__(self, path: str | os.PathLike[str], timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            (found,) = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            self._db.execute("COMMIT")
        if found != FORMAT:
            self._db.close()
            raise ValueError(f"{self.path}: event-log format {found}, this freshrec reads {FORMAT}")

    def commit(self, commit: Commit) -> CommitOutcome:
        """Store the block unless a key is known or the id lists grew (see LogBackend)."""
        data = encode_block(commit.events)
        keys = _split_keys(commit.keys)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                outcome = self._commit(commit, data, keys)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT" if outcome.stored else "ROLLBACK")
            return outcome

    def _commit(
        self, commit: Commit, data: bytes, keys: list[tuple[str, np.ndarray, str]]
    ) -> CommitOutcome:
        db = self._db
        last = self._last()
        previous = Cursor((last,)) if last else Cursor.START
        if self._n_ids("user") != commit.n_users or self._n_ids("item") != commit.n_items:
            return CommitOutcome(None, previous, stale=True)
        db.execute("SAVEPOINT keys")
        try:
            for table, _, values in keys:
                db.execute(f"INSERT INTO {table}(key) SELECT value FROM json_each(?)", (values,))
        except sqlite3.IntegrityError:  # some event id is stored already: say which
            db.execute("ROLLBACK TO keys")  # forget this block's keys before looking
            dupes = [
                rows[np.asarray([r[0] for r in db.execute(_FIND.format(table), (values,))], int)]
                for table, rows, values in keys
            ]
            found = np.sort(np.concatenate(dupes))
            if not len(found):
                raise ValueError("the keys of a commit must be distinct") from None
            return CommitOutcome(None, previous, duplicates=found)
        db.execute("RELEASE keys")
        for side, start, new in (
            ("user", commit.n_users, commit.new_users),
            ("item", commit.n_items, commit.new_items),
        ):
            rows = ((side, start + j, text) for j, text in enumerate(dump_ids(new)))
            db.executemany("INSERT INTO ids(side, idx, id) VALUES (?, ?, ?)", rows)
        n = len(commit.events)
        db.execute("INSERT INTO blocks(first, n, data) VALUES (?, ?, ?)", (last + 1, n, data))
        numbers = np.arange(last + 1, last + 1 + n, dtype=np.int64)
        return CommitOutcome(Cursors(numbers[:, None]), previous)

    def _last(self) -> int:
        row = self._db.execute("SELECT first + n - 1 FROM blocks ORDER BY first DESC LIMIT 1")
        found = row.fetchone()
        return int(found[0]) if found else 0

    def _n_ids(self, side: Side) -> int:
        (top,) = self._db.execute("SELECT max(idx) FROM ids WHERE side = ?", (side,)).fetchone()
        return 0 if top is None else int(top) + 1

    def ids_since(self, side: Side, start: int) -> list[Any]:
        """Stored ids of ``side`` from index ``start`` on."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM ids WHERE side = ? AND idx >= ? ORDER BY idx", (side, start)
            ).fetchall()
        return load_ids(row[0] for row in rows)

    def read(self, after: Cursor, max_events: int) -> tuple[EventBatch, Cursors]:
        """Up to ``max_events`` events after ``after``."""
        number = sequence_number(after)
        with self._lock:
            rows = list(self._rows(number, max_events))
        return read_numbered(
            ((first, decode_block(data)) for first, data in rows), number, max_events
        )

    def _rows(self, number: int, max_events: int) -> Iterator[tuple[int, bytes]]:
        """The rows of the blocks that hold events ``number + 1 ...`` (enough of them)."""
        rows = self._db.execute(
            "SELECT first, n, data FROM blocks WHERE first >= coalesce("
            "(SELECT max(first) FROM blocks WHERE first <= ?), 0) ORDER BY first",
            (number + 1,),
        )
        got = 0
        try:
            for first, n, data in rows:
                yield first, data
                got += first + n - 1 - max(number, first - 1)
                if got >= max_events:
                    break
        finally:
            rows.close()

    def head(self) -> Cursor:
        """The last event's cursor."""
        with self._lock:
            last = self._last()
        return Cursor((last,)) if last else Cursor.START

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteBackend({str(self.path)!r})"


# positions (in the JSON array) of the keys a table holds already
_FIND = "SELECT j.key FROM json_each(?) AS j JOIN {} AS e ON e.key = j.value"


def _split_keys(keys: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    """``(table, positions, JSON array of keys)`` for the integer and the text keys."""
    if keys.dtype.kind == "i":
        return [("event_ints", np.arange(len(keys)), json.dumps(keys.tolist()))]
    values = keys.tolist()
    is_int = np.fromiter((type(k) is int for k in values), dtype=bool, count=len(values))
    out = []
    for table, mask in (("event_ints", is_int), ("event_texts", ~is_int)):
        rows = np.flatnonzero(mask)
        if len(rows):
            out.append((table, rows, json.dumps([values[i] for i in rows.tolist()])))
    return out
