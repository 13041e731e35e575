"""Option parsing shared by commands: the data folder, seeds, model lists, datasets by name.

This module and ``serving/settings.py`` are the only places that read environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from freshrec.data.dataset import Dataset

__all__ = ["default_cache_dir", "default_data_dir", "load_named", "parse_ints", "parse_names"]


def default_data_dir(given: Path | None) -> Path:
    """``--data-dir``, else ``$FRESHREC_DATA``, else ``~/.freshrec/data`` or ``../shared/data``."""
    if given is not None:
        return given
    if os.environ.get("FRESHREC_DATA"):
        return Path(os.environ["FRESHREC_DATA"])
    home = Path.home() / ".freshrec" / "data"
    shared = Path.cwd().parent / "shared" / "data"
    return shared if shared.is_dir() and not home.is_dir() else home


def default_cache_dir() -> Path:
    """``$FRESHREC_CACHE`` or ``~/.cache/freshrec``."""
    return Path(os.environ.get("FRESHREC_CACHE", Path.home() / ".cache" / "freshrec"))


def parse_ints(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``.

    Examples
    --------
    >>> parse_ints("0, 1,2")
    [0, 1, 2]
    """
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def parse_names(text: str) -> list[str]:
    """``"bpr, als"`` -> ``["bpr", "als"]``.

    Examples
    --------
    >>> parse_names("bpr, als")
    ['bpr', 'als']
    """
    return [part.strip() for part in text.split(",") if part.strip()]


def load_named(name: str, data_dir: Path, *, min_rating: float | None = None) -> Dataset:
    """A catalogue dataset (or ``synthetic``) with the cache folder of the environment."""
    from freshrec.data.registry import load_dataset

    return load_dataset(name, data_dir, min_rating=min_rating, cache_dir=default_cache_dir())
