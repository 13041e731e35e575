"""The event log: one durable, append-only log that owns events, ids and history.

``open_log(url)`` opens a log in memory (``memory://``), in SQLite (``sqlite:///PATH``, the
embedded default) or in Redis Streams (``redis://HOST:PORT/DB?prefix=NAME``, extra
``redis``; import :class:`~freshrec.log.redis_streams.RedisBackend` from its module).
:mod:`freshrec.log.conformance` is the public suite every backend passes.

Examples
--------
>>> import numpy as np
>>> from freshrec.data import EventBatch
>>> log = open_log("memory://")
>>> log.append(EventBatch(np.array([1]), np.array([2]), np.ones(1), event_id=["a"])).accepted
1
>>> [str(c) for c in log.read(Cursor.START).cursors]
['1']
"""

from __future__ import annotations

from freshrec.log.backend import Commit, CommitOutcome, LogBackend
from freshrec.log.cursor import Cursor, Cursors
from freshrec.log.ids import LogIdMap
from freshrec.log.log import EventLog
from freshrec.log.memory import MemoryBackend
from freshrec.log.results import AppendResult, ReadResult, Rejection
from freshrec.log.sqlite import SQLiteBackend
from freshrec.log.url import open_log
from freshrec.log.views import Sequences

__all__ = [
    "AppendResult",
    "Commit",
    "CommitOutcome",
    "Cursor",
    "Cursors",
    "EventLog",
    "LogBackend",
    "LogIdMap",
    "MemoryBackend",
    "ReadResult",
    "Rejection",
    "SQLiteBackend",
    "Sequences",
    "open_log",
]
