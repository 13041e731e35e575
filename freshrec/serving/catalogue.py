"""The item catalogue of a service: each item's text and properties, kept in the log's store.

An item is put (created or replaced), read, or deleted. A deletion leaves a tombstone: a
deleted item is never recommended again and cannot be put back under the same id. Ids keep
their JSON type (``7`` and ``"7"`` are two items), as in the event log. The catalogue lives
beside the events: a table in the SQLite log's file, a hash under the Redis log's prefix, a
dictionary for an in-memory log (:func:`open_catalogue`).

Examples
--------
>>> from freshrec.log import open_log
>>> catalogue = open_catalogue(open_log("memory://"))
>>> catalogue.put("matrix", "The Matrix (1999)", {"genre": "sci-fi"})
>>> catalogue.get("matrix")["text"], catalogue.texts()
('The Matrix (1999)', {'matrix': 'The Matrix (1999)'})
>>> catalogue.delete("matrix"), catalogue.is_deleted("matrix"), catalogue.get("matrix")
(True, True, None)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freshrec.log.ids import dump_ids, load_ids
from freshrec.log.log import EventLog
from freshrec.log.sqlite import SQLiteBackend

__all__ = [
    "Catalogue",
    "ItemDeletedError",
    "MemoryCatalogue",
    "RedisCatalogue",
    "SQLiteCatalogue",
    "open_catalogue",
]

Properties = Mapping[str, str | float | int | bool | None]


class ItemDeletedError(KeyError):
    """The item was deleted: it cannot be put again."""


class Catalogue(ABC):
    """Items' text and properties, with tombstones for deleted ones.

    Examples
    --------
    >>> catalogue = MemoryCatalogue()
    >>> catalogue.put(7, None, {"price": 9.5})
    >>> catalogue.get(7)["properties"], catalogue.get("7")
    ({'price': 9.5}, None)
    """

    @abstractmethod
    def _read(self, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def _write(self, key: str, record: dict[str, Any]) -> None: ...

    @abstractmethod
    def _records(self, deleted: bool) -> list[dict[str, Any]]:
        """The records of deleted items, or of the others."""

    def put(self, item: Any, text: str | None, properties: Properties | None = None) -> None:
        """Create or replace ``item``; refused (:class:`ItemDeletedError`) once deleted."""
        key = _key(item)
        if (found := self._read(key)) is not None and found["deleted"]:
            raise ItemDeletedError(f"item {item!r} was deleted and cannot come back")
        self._write(key, _record(key, text, dict(properties or {}), deleted=False))

    def get(self, item: Any) -> dict[str, Any] | None:
        """``{"item", "text", "properties", "updated"}``, or ``None`` (unknown or deleted)."""
        found = self._read(_key(item))
        if found is None or found["deleted"]:
            return None
        return {k: found[k] for k in ("text", "properties", "updated")} | {"item": item}

    def delete(self, item: Any) -> bool:
        """Delete ``item`` for good; ``False`` when it was already deleted."""
        key = _key(item)
        if (found := self._read(key)) is not None and found["deleted"]:
            return False
        self._write(key, _record(key, None, {}, deleted=True))
        return True

    def is_deleted(self, item: Any) -> bool:
        """Whether ``item`` was deleted."""
        found = self._read(_key(item))
        return found is not None and bool(found["deleted"])

    def deleted_items(self) -> list[Any]:
        """Every deleted item."""
        return [_item(r["key"]) for r in self._records(deleted=True)]

    def texts(self) -> dict[Any, str]:
        """The text of every item that has one and is not deleted."""
        return {_item(r["key"]): r["text"] for r in self._records(deleted=False) if r["text"]}


class MemoryCatalogue(Catalogue):
    """A catalogue in a dictionary (for an in-memory log).

    Examples
    --------
    >>> MemoryCatalogue().texts()
    {}
    """

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _read(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get(key)

    def _write(self, key: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = record

    def _records(self, deleted: bool) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._items.values() if r["deleted"] == deleted]


class SQLiteCatalogue(Catalogue):
    """A catalogue in table ``catalogue`` of a SQLite file (the log's own, by default).

    Examples
    --------
    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/events.db"
    >>> SQLiteCatalogue(path).put("a", "Alpha")
    >>> SQLiteCatalogue(path).get("a")["text"]
    'Alpha'
    """

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS catalogue "
                "(key TEXT PRIMARY KEY, deleted INTEGER NOT NULL, record TEXT NOT NULL)"
            )

    def _read(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM catalogue WHERE key = ?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _write(self, key: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO catalogue (key, deleted, record) VALUES (?, ?, ?)",
                (key, int(record["deleted"]), json.dumps(record)),
            )

    def _records(self, deleted: bool) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM catalogue WHERE deleted = ?", (int(deleted),)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]


class RedisCatalogue(Catalogue):
    """A catalogue in the hash ``PREFIX:catalogue`` of the Redis log's database.

    Examples
    --------
    >>> RedisCatalogue.__mro__[1].__name__
    'Catalogue'
    """

    def __init__(self, client: Any, prefix: str) -> None:
        self._db = client
        self._hash = f"{prefix}:catalogue"

    def _read(self, key: str) -> dict[str, Any] | None:
        found = self._db.hget(self._hash, key)
        return None if found is None else dict(json.loads(found))

    def _write(self, key: str, record: dict[str, Any]) -> None:
        self._db.hset(self._hash, key, json.dumps(record))

    def _records(self, deleted: bool) -> list[dict[str, Any]]:
        records = (json.loads(v) for v in self._db.hvals(self._hash))
        return [r for r in records if r["deleted"] == deleted]


def open_catalogue(log: EventLog) -> Catalogue:
    """The catalogue kept in ``log``'s store.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.log import open_log
    >>> type(open_catalogue(open_log(f"sqlite:///{tempfile.mkdtemp()}/e.db"))).__name__
    'SQLiteCatalogue'
    """
    backend = log.backend
    if isinstance(backend, SQLiteBackend):
        return SQLiteCatalogue(backend.path)
    if type(backend).__name__ == "RedisBackend":
        return RedisCatalogue(backend._db, backend.prefix)  # type: ignore[attr-defined]
    return MemoryCatalogue()


def _key(item: Any) -> str:
    return dump_ids([item])[0]


def _item(key: str) -> Any:
    return load_ids([key])[0]


def _record(
    key: str, text: str | None, properties: dict[str, Any], *, deleted: bool
) -> dict[str, Any]:
    return {
        "key": key,
        "text": text,
        "properties": properties,
        "deleted": deleted,
        "updated": time.time(),
    }
