"""open_log: an event log from a URL (``memory://``, ``sqlite:///PATH``, ``redis://...``)."""

from __future__ import annotations

from freshrec.log.log import EventLog
from freshrec.log.memory import MemoryBackend
from freshrec.log.sqlite import SQLiteBackend

__all__ = ["open_log"]


def open_log(url: str) -> EventLog:
    """Open (or create) the event log that ``url`` names.

    - ``memory://``: a new, empty in-memory log, private to this object.
    - ``sqlite:///PATH``: the SQLite file at ``PATH`` as written (``sqlite:///events.db``
      is relative, ``sqlite:////var/lib/freshrec/events.db`` absolute), created if missing.
    - ``redis://[:PASSWORD@]HOST:PORT/DB?prefix=NAME`` (or ``rediss://``): the log stored
      under key prefix ``NAME`` (default ``freshrec:log``); needs the extra ``redis``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open_log("memory://").backend
    MemoryBackend(n_events=0)
    >>> open_log(f"sqlite:///{folder}/events.db").backend.path.name
    'events.db'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a log URL (scheme://...): {url!r}")
    if scheme == "memory":
        return EventLog(MemoryBackend())
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"a SQLite log URL is sqlite:///PATH, got {url!r}")
        return EventLog(SQLiteBackend(rest[1:]))
    if scheme in ("redis", "rediss"):
        try:
            from freshrec.log.redis_streams import RedisBackend
        except ImportError as err:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "a Redis log needs the redis extra: pip install 'freshrec[redis]'"
            ) from err
        return EventLog(RedisBackend.from_url(url))
    raise ValueError(f"unknown log URL scheme {scheme!r} (memory, sqlite, redis): {url!r}")
