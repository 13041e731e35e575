"""open_log picks the backend from the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshrec.log import MemoryBackend, SQLiteBackend, open_log


def test_memory_logs_are_private() -> None:
    first, second = open_log("memory://"), open_log("memory://")
    assert isinstance(first.backend, MemoryBackend) and first.backend is not second.backend


def test_sqlite_url_path_is_written_after_three_slashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = open_log(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(absolute.backend, SQLiteBackend)
    assert absolute.backend.path == tmp_path / "a.db"
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_log("sqlite:///sub/b.db")
    assert (tmp_path / "sub" / "b.db").exists()
    relative.close()


def test_redis_url_names_db_and_prefix() -> None:
    pytest.importorskip("redis")
    from freshrec.log.redis_streams import RedisBackend

    backend = RedisBackend.from_url("redis://127.0.0.1:1/3?prefix=shop:eu")  # connects lazily
    assert backend.keys.events == "shop:eu:events" and backend.prefix == "shop:eu"
    with pytest.raises(ValueError):
        RedisBackend.from_url("redis://127.0.0.1:1/3?prefix=")


def test_opening_a_redis_log_with_no_server_fails_at_once() -> None:
    redis = pytest.importorskip("redis")
    with pytest.raises(redis.exceptions.ConnectionError):
        open_log("redis://127.0.0.1:1/0?prefix=nobody")


@pytest.mark.parametrize("url", ["events.db", "sqlite://", "sqlite:///", "kafka://x", "memory:"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_log(url)
