"""Fixtures of the data tests: one parse of each real dataset per session, through the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from freshrec.data import Dataset
from freshrec.data.registry import load_dataset


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide cache folder, so each real dataset is parsed once."""
    return tmp_path_factory.mktemp("freshrec-cache")


@pytest.fixture(scope="session")
def stats(data_dir: Path) -> dict[str, Any]:
    """The dataset README's verified counts (``stats.json``)."""
    return json.loads((data_dir / "stats.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def ml100k(data_dir: Path, cache_dir: Path) -> Dataset:
    if not (data_dir / "ml-100k").is_dir():
        pytest.skip("ml-100k not found")
    return load_dataset("ml-100k", data_dir, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def ml1m(data_dir: Path, cache_dir: Path) -> Dataset:
    if not (data_dir / "ml-1m").is_dir():
        pytest.skip("ml-1m not found")
    return load_dataset("ml-1m", data_dir, cache_dir=cache_dir)
