"""A registry holding one BPR version over a small log, and the app over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from freshrec.checks import checkerboard_events  # noqa: E402
from freshrec.live import Registry  # noqa: E402
from freshrec.log import EventLog, open_log  # noqa: E402
from freshrec.models import BPR  # noqa: E402
from freshrec.serving.app import create_app  # noqa: E402
from freshrec.serving.settings import Settings  # noqa: E402
from freshrec.serving.store import ModelStore  # noqa: E402


@pytest.fixture
def log() -> EventLog:
    log = open_log("memory://")
    log.append(checkerboard_events()[:150])
    return log


@pytest.fixture
def registry(tmp_path: Path, log: EventLog) -> Registry:
    registry = Registry(tmp_path / "registry")
    registry.promote(registry.publish(BPR(n_factors=4, seed=0).learn_from_log(log)))
    return registry


@pytest.fixture
def store(registry: Registry, log: EventLog) -> ModelStore:
    return ModelStore(registry, log)


def client_for(store: ModelStore, settings: Settings | None = None) -> TestClient:
    """A test client of the app over ``store`` (the store polls every 20 ms)."""
    return TestClient(create_app(store, settings, poll_s=0.02))


@pytest.fixture
def client(store: ModelStore) -> Iterator[TestClient]:
    with client_for(store) as client:
        yield client
