"""Stores for the event-log tests: memory, SQLite in a temporary folder, Redis under a
unique key prefix (skipped when no Redis server answers; only the test's keys are deleted)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freshrec.log import open_log
from freshrec.log.conformance import Opener, StoreFactory, memory_store

REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ("memory", "sqlite", "redis")


def redis_client() -> Any:
    """A client of the test Redis server, or a skip when none answers."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=30)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        pytest.skip(f"no Redis server answers at {REDIS_URL}")
    return client


def make_stores(kind: str, folder: Path) -> Iterator[StoreFactory]:
    """A store factory of ``kind``; after the test, the Redis keys it created are deleted."""
    if kind == "memory":
        yield memory_store
        return
    counter = itertools.count()
    if kind == "sqlite":

        def new_sqlite() -> Opener:
            url = f"sqlite:///{folder / f'log{next(counter)}.db'}"
            return lambda: open_log(url)

        yield new_sqlite
        return
    from freshrec.log.redis_streams import RedisKeys

    client = redis_client()
    prefixes: list[str] = []

    def new_redis() -> Opener:
        prefix = f"freshrec-test:{uuid.uuid4().hex}"
        prefixes.append(prefix)
        return lambda: open_log(f"{REDIS_URL}?prefix={prefix}")

    try:
        yield new_redis
    finally:
        for prefix in prefixes:
            client.delete(*RedisKeys.under(prefix).all())
        client.close()


@pytest.fixture(params=BACKENDS)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of new, empty stores of each backend."""
    yield from make_stores(request.param, tmp_path)
