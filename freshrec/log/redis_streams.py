"""Redis Streams storage for an event log (``redis://HOST:PORT/DB?prefix=NAME``), extra ``redis``.

Keys under a prefix (default ``freshrec:log``):

- ``PREFIX:events``: the stream; one entry per committed block, fields ``n`` (event
  count) and ``b`` (the block packed by :func:`~freshrec.log.codec.encode_block`).
- ``PREFIX:event_ids``: set of every stored event id, as text, for deduplication.
- ``PREFIX:users`` / ``PREFIX:items``: lists of external ids (JSON) in index order.
- ``PREFIX:head``: the last event's cursor.

A commit is one Lua script, so Redis runs it atomically: it checks the id-list lengths and
the event ids, then adds the ids, the keys and the stream entry. Concurrent resends from
any number of processes therefore store each event once. An event's cursor is its entry's
stream id plus its offset in the block, ``Cursor((ms, seq, offset))``, printed
``ms-seq-offset``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import redis

from freshrec.data.batch import EventBatch
from freshrec.log.backend import Commit, CommitOutcome, Side
from freshrec.log.codec import decode_block, encode_block
from freshrec.log.cursor import Cursor, Cursors
from freshrec.log.ids import dump_ids, load_ids

__all__ = ["RedisBackend", "RedisKeys"]

DEFAULT_PREFIX = "freshrec:log"
# KEYS: events, event_ids, users, items, head
# ARGV: n_users, n_items, keys (JSON list of texts), new users, new items (JSON lists of
# JSON texts), n, block
_COMMIT = """
if redis.call('LLEN', KEYS[3]) ~= tonumber(ARGV[1])
   or redis.call('LLEN', KEYS[4]) ~= tonumber(ARGV[2]) then
  return {'stale'}
end
local step = 4000
local function each_chunk(values, fn)
  for i = 1, #values, step do fn(unpack(values, i, math.min(i + step - 1, #values))) end
end
local keys = cjson.decode(ARGV[3])
local dupes = {}
local done = 0
each_chunk(keys, function(...)
  local found = redis.call('SMISMEMBER', KEYS[2], ...)
  for k = 1, #found do
    if found[k] == 1 then dupes[#dupes + 1] = done + k - 1 end
  end
  done = done + #found
end)
if #dupes > 0 then return {'dupes', cjson.encode(dupes)} end
each_chunk(keys, function(...) redis.call('SADD', KEYS[2], ...) end)
each_chunk(cjson.decode(ARGV[4]), function(...) redis.call('RPUSH', KEYS[3], ...) end)
each_chunk(cjson.decode(ARGV[5]), function(...) redis.call('RPUSH', KEYS[4], ...) end)
local previous = redis.call('GET', KEYS[5]) or ''
local id = redis.call('XADD', KEYS[1], '*', 'n', ARGV[6], 'b', ARGV[7])
redis.call('SET', KEYS[5], id .. '-' .. (tonumber(ARGV[6]) - 1))
return {'ok', id, previous}
"""


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The Redis keys of one log, all under ``prefix``.

    Examples
    --------
    >>> RedisKeys.under("shop").events
    'shop:events'
    """

    events: str
    event_ids: str
    users: str
    items: str
    head: str

    @classmethod
    def under(cls, prefix: str) -> RedisKeys:
        """The keys of the log stored under ``prefix``.

        Examples
        --------
        >>> RedisKeys.under("a").head
        'a:head'
        """
        return cls(
            *(f"{prefix}:{name}" for name in ("events", "event_ids", "users", "items", "head"))
        )

    def all(self) -> list[str]:
        """Every key of the log (to delete it, for instance).

        Examples
        --------
        >>> len(RedisKeys.under("a").all())
        5
        """
        return [self.events, self.event_ids, self.users, self.items, self.head]


class RedisBackend:
    """An event log in a Redis stream, shared by every process that opens the same prefix.

    Parameters
    ----------
    client
        A ``redis.Redis`` client (``decode_responses=False``); :meth:`close` closes it.
    prefix
        Names the log: its keys are ``PREFIX:events``, ``PREFIX:event_ids``, ...

    Examples
    --------
    >>> backend = RedisBackend.from_url("redis://127.0.0.1:6379/0?prefix=shop")
    >>> backend.keys.events, backend.prefix
    ('shop:events', 'shop')
    >>> backend.close()
    """

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix:
            raise ValueError("the key prefix must not be empty")
        self.prefix = prefix
        self.keys = RedisKeys.under(prefix)
        self._db = client
        self._commit = client.register_script(_COMMIT)

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        """A backend for ``redis://[:PASSWORD@]HOST:PORT/DB?prefix=NAME`` (nothing connects
        until the first command).

        Examples
        --------
        >>> RedisBackend.from_url("redis://localhost:6379/2").prefix
        'freshrec:log'
        """
        split = urlsplit(url)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        prefix = query.pop("prefix", DEFAULT_PREFIX)
        plain = urlunsplit(split._replace(query=urlencode(query)))
        return cls(redis.Redis.from_url(plain, decode_responses=False), prefix)

    def commit(self, commit: Commit) -> CommitOutcome:
        """Store the block unless a key is known or the id lists grew (see LogBackend)."""
        n = len(commit.events)
        keys = commit.keys.astype(str) if commit.keys.dtype.kind == "i" else commit.keys
        args: list[Any] = [
            commit.n_users,
            commit.n_items,
            json.dumps([str(k) for k in keys.tolist()]),
            json.dumps(dump_ids(commit.new_users)),
            json.dumps(dump_ids(commit.new_items)),
            n,
            encode_block(commit.events),
        ]
        reply = self._commit(keys=self.keys.all(), args=args)
        status = reply[0].decode()
        if status == "stale":
            return CommitOutcome(None, Cursor.START, stale=True)
        if status == "dupes":
            dupes = np.asarray(json.loads(reply[1]), dtype=np.int64)
            return CommitOutcome(None, Cursor.START, duplicates=dupes)
        ms, seq = (int(p) for p in reply[1].split(b"-"))
        previous = Cursor.parse(reply[2].decode()) if reply[2] else Cursor.START
        parts = np.empty((n, 3), dtype=np.int64)
        parts[:, 0], parts[:, 1], parts[:, 2] = ms, seq, np.arange(n)
        return CommitOutcome(Cursors(parts), previous)

    def ids_since(self, side: Side, start: int) -> list[Any]:
        """Stored ids of ``side`` from index ``start`` on."""
        key = self.keys.users if side == "user" else self.keys.items
        return load_ids(cast(list[bytes], self._db.lrange(key, start, -1)))

    def read(self, after: Cursor, max_events: int) -> tuple[EventBatch, Cursors]:
        """Up to ``max_events`` events after ``after`` (XRANGE from its entry on)."""
        if after.parts and len(after.parts) != 3:
            raise ValueError(f"{after!r} is not a cursor of this log")
        entry, offset = (after.parts[:2], after.parts[2]) if after.parts else ((), -1)
        start = "-" if not entry else f"{entry[0]}-{entry[1]}"
        batches: list[EventBatch] = []
        cursors: list[np.ndarray] = []
        want, count = max_events, 2
        while want > 0:
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self._db.xrange(self.keys.events, start, "+", count=count),
            )
            sizes: list[int] = []
            for entry_id, fields in entries:
                ms, seq = (int(p) for p in entry_id.split(b"-"))
                n = int(fields[b"n"])
                sizes.append(n)
                begin = offset + 1 if (ms, seq) == entry else 0
                end = min(n, begin + want)
                if end <= begin:
                    continue
                events = decode_block(fields[b"b"])
                batches.append(events if (begin, end) == (0, n) else events[begin:end])
                rows = np.empty((end - begin, 3), dtype=np.int64)
                rows[:, 0], rows[:, 1], rows[:, 2] = ms, seq, np.arange(begin, end)
                cursors.append(rows)
                want -= end - begin
                if want <= 0:
                    break
            if len(entries) < count:
                break
            start = "(" + entries[-1][0].decode()
            count = min(max(math.ceil(want * len(sizes) / max(sum(sizes), 1)), 1), 512)
        if not batches:
            return EventBatch.empty(), Cursors.empty(3)
        batch = batches[0] if len(batches) == 1 else EventBatch.concat(batches)
        return batch, Cursors(np.concatenate(cursors))

    def head(self) -> Cursor:
        """The last event's cursor."""
        found = cast(bytes | None, self._db.get(self.keys.head))
        return Cursor.parse(found.decode()) if found else Cursor.START

    def close(self) -> None:
        """Close the client's connections (the stream stays)."""
        self._db.close()

    def __repr__(self) -> str:
        return f"RedisBackend(prefix={self.prefix!r})"
