"""Shared test fixtures: tiny seeded event sets and the location of the real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from freshrec.data import EventBatch

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    """``$FRESHREC_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    candidates = [os.environ.get("FRESHREC_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder; tests using it skip cleanly when it is absent."""
    found = find_data_dir()
    if found is None:
        pytest.skip("real datasets not found (set FRESHREC_DATA or provide ../shared/data)")
    return found


def dataset_dir(data_dir: Path, name: str) -> Path:
    path = data_dir / name
    if not path.is_dir():
        pytest.skip(f"dataset {name} not found under {data_dir}")
    return path


@pytest.fixture
def checkerboard() -> EventBatch:
    """Implicit events with two blocks: users 0-9 like items 0-9, users 10-19 like 10-19.

    Each user sees 7 of the 10 items of their block (seeded), so the rest are learnable targets.
    """
    rng = np.random.default_rng(0)
    users, items, times = [], [], []
    t = 0.0
    for u in range(20):
        block = 0 if u < 10 else 10
        for i in rng.choice(10, size=7, replace=False):
            users.append(f"u{u}")
            items.append(f"i{block + i}")
            times.append(t)
            t += 1.0
    return EventBatch(
        np.array(users, object),
        np.array(items, object),
        np.ones(len(users), np.float32),
        timestamp=np.array(times),
    )


@pytest.fixture
def ratings() -> EventBatch:
    """Explicit ratings (1-5) with timestamps, 30 users x 25 items, seeded, with structure."""
    rng = np.random.default_rng(1)
    n_users, n_items = 30, 25
    user_taste = rng.normal(size=(n_users, 3))
    item_taste = rng.normal(size=(n_items, 3))
    users, items, values = [], [], []
    for u in range(n_users):
        for i in rng.choice(n_items, size=12, replace=False):
            raw = 3.0 + user_taste[u] @ item_taste[i] + rng.normal(scale=0.3)
            users.append(u)
            items.append(int(i))
            values.append(float(np.clip(np.rint(raw), 1, 5)))
    return EventBatch(
        np.array(users),
        np.array(items),
        np.array(values, np.float32),
        timestamp=np.arange(len(users), dtype=float),
    )
