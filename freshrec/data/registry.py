"""The built-in dataset catalogue and ``load_dataset``, the one call that loads a dataset by name.

To add a dataset, write its loader (``path, *, mode -> Dataset``) and add one
:class:`DatasetInfo` row to ``CATALOGUE`` below.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.data.cache import cached_load
from freshrec.data.cleaning import dedupe as drop_duplicates
from freshrec.data.cleaning import filter_min_value, k_core
from freshrec.data.dataset import Dataset, LoadReport
from freshrec.data.movielens import load_movielens_1m, load_movielens_100k
from freshrec.data.parsing import Mode, check_mode
from freshrec.data.recbole import load_recbole
from freshrec.data.synthetic import synthetic_stream

SYNTHETIC = "synthetic"

__all__ = [
    "SYNTHETIC",
    "CATALOGUE",
    "DatasetInfo",
    "dataset_info",
    "download_dataset",
    "list_datasets",
    "load_dataset",
    "summarize",
]

_GROUPLENS_TERMS = (
    "GroupLens terms (README in the archive): research use only, no redistribution or "
    "commercial use without permission; cite Harper and Konstan (2015)."
)


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry.

    Parameters
    ----------
    name
        The name used by :func:`load_dataset` and the CLI.
    folder
        Folder of the files under a data directory.
    loader
        ``loader(path, *, mode) -> Dataset``.
    files
        The files the loader reads (relative to ``folder``) and their sha256. They make the
        cache key and are checked after a download.
    url
        Public download URL of the original archive, or ``None`` when there is none.
    archive_sha256
        sha256 of the archive when known; otherwise only ``files`` are checked.
    archive_folder
        Folder inside the archive that holds the files.
    description, license
        One line each, shown by ``freshrec datasets list``.

    Examples
    --------
    >>> info = dataset_info("ml-100k")
    >>> info.folder, sorted(info.files)
    ('ml-100k', ['u.data', 'u.item', 'u.user'])
    """

    name: str
    folder: str
    loader: Callable[..., Dataset]
    files: Mapping[str, str]
    url: str | None
    archive_sha256: str | None
    archive_folder: str | None
    description: str
    license: str


CATALOGUE: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="ml-100k",
            folder="ml-100k",
            loader=load_movielens_100k,
            files={
                "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
                "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
                "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
            },
            url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            archive_sha256=None,
            archive_folder="ml-100k",
            description="MovieLens 100K: 100,000 ratings (1-5) with timestamps by 943 users on "
            "1,682 movies, 1997-1998; movie titles, genres, user demographics.",
            license=_GROUPLENS_TERMS,
        ),
        DatasetInfo(
            name="ml-1m",
            folder="ml-1m",
            loader=load_movielens_1m,
            files={
                "ratings.dat": "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f",
                "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
                "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
            },
            url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
            archive_sha256=None,
            archive_folder="ml-1m",
            description="MovieLens 1M: 1,000,209 ratings (1-5) with timestamps by 6,040 users "
            "on 3,706 movies, 2000-2003; movie titles, genres, user demographics.",
            license=_GROUPLENS_TERMS,
        ),
        DatasetInfo(
            name="ml-100k-recbole",
            folder="ml-100k-recbole",
            loader=partial(load_recbole, name="ml-100k"),
            files={
                "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
                "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="MovieLens 100K as RecBole atomic files (same rows and order as "
            "ml-100k u.data; ids are string tokens). Shipped inside the recbole package "
            "(recbole/dataset_example/ml-100k), with no download of its own.",
            license=_GROUPLENS_TERMS + " The recbole package itself is MIT.",
        ),
    )
}


def list_datasets() -> list[DatasetInfo]:
    """The catalogue, in its order.

    Examples
    --------
    >>> [info.name for info in list_datasets()]
    ['ml-100k', 'ml-1m', 'ml-100k-recbole']
    """
    return list(CATALOGUE.values())


def dataset_info(name: str) -> DatasetInfo:
    """The catalogue entry of ``name``; ``ValueError`` naming the known datasets otherwise.

    Examples
    --------
    >>> dataset_info("ml-1m").url
    'https://files.grouplens.org/datasets/movielens/ml-1m.zip'
    """
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(CATALOGUE)
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}") from None


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str],
    *,
    mode: Mode = "strict",
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    dedupe: bool = False,
    min_rating: float | None = None,
    k_core: int = 0,
) -> Dataset:
    """Load a catalogue dataset from ``data_dir / info.folder``, cached, then cleaned.

    ``name="synthetic"`` gives the built-in seeded stream
    (:func:`freshrec.data.synthetic.synthetic_stream` with its defaults; no files needed).

    Parameters
    ----------
    name
        A catalogue name (see :func:`list_datasets`).
    data_dir
        The folder that holds the dataset folders (e.g. ``../shared/data``).
    mode
        ``"strict"`` or ``"lenient"`` parsing (see :mod:`freshrec.data.parsing`).
    cache_dir
        Cache folder (``~/.cache/freshrec`` when ``None``); ``use_cache=False`` skips it.
    dedupe
        Drop exact duplicate events (same user, item, value, timestamp).
    min_rating
        Keep only events with ``value >= min_rating``.
    k_core
        Then keep the k-core: every user and item with at least ``k_core`` events.

    The rows removed by cleaning are added to ``dataset.report`` under ``"duplicate"``,
    ``"below min_rating"`` and ``"k-core"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "ml-100k").mkdir()
    >>> _ = (root / "ml-100k" / "u.data").write_text("1\\t10\\t5\\t100\\n1\\t11\\t2\\t101\\n")
    >>> ds = load_dataset("ml-100k", root, min_rating=3, use_cache=False)
    >>> len(ds.events), dict(ds.report.skipped)
    (1, {'below min_rating': 1})
    """
    if name == SYNTHETIC:
        return _cleaned(synthetic_stream(), dedupe, min_rating, k_core)
    info = dataset_info(name)
    check_mode(mode)
    folder = Path(data_dir) / info.folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist: run `freshrec datasets download {name}` "
            f"or point data_dir at the folder that holds {info.folder}/"
        )

    def build() -> Dataset:
        return info.loader(folder, mode=mode)

    if use_cache:
        files = [folder / f for f in info.files if (folder / f).exists()]
        dataset = cached_load(build, files, loader=name, mode=mode, cache_dir=cache_dir)
    else:
        dataset = build()
    return _cleaned(replace(dataset, name=name), dedupe, min_rating, k_core)


def download_dataset(
    name: str,
    data_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download catalogue dataset ``name`` into ``data_dir / info.folder`` and verify it.

    Same as :func:`freshrec.data.download.download`; ``url`` replaces the catalogue URL
    (a mirror or a ``file://`` copy) and the files are still checked against ``info.files``.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(work / "mirror.zip", "w") as zf:
    ...     zf.writestr("ml-100k/notes.txt", "not MovieLens")
    >>> download_dataset("ml-100k", work / "data", url=(work / "mirror.zip").as_uri())
    Traceback (most recent call last):
    ...
    freshrec.errors.DataError: file:///...mirror.zip: u.data is missing from the archive
    """
    from freshrec.data.download import download  # imported here: download imports this module

    return download(name, data_dir, url=url, progress=progress)


def summarize(dataset: Dataset) -> dict[str, Any]:
    """Counts and time span of a dataset, as shown by ``freshrec datasets info``.

    Times are ISO 8601 in UTC (``None`` without timestamps).

    Examples
    --------
    >>> from freshrec.data import Event, EventBatch
    >>> ds = Dataset("toy", EventBatch.from_events([Event(1, 2, 4.0, 0.0), Event(2, 2, 3.0, 60.0)]))
    >>> summarize(ds)  # doctest: +NORMALIZE_WHITESPACE
    {'name': 'toy', 'rows': 2, 'users': 2, 'items': 1,
     'start': '1970-01-01T00:00:00Z', 'end': '1970-01-01T00:01:00Z'}
    """
    times = dataset.events.timestamp
    span: list[str | None] = [None, None]
    if times is not None and len(times) > 0:
        span = [_iso(float(np.nanmin(times))), _iso(float(np.nanmax(times)))]
    return {
        "name": dataset.name,
        "rows": len(dataset.events),
        "users": dataset.n_users,
        "items": dataset.n_items,
        "start": span[0],
        "end": span[1],
    }


def _cleaned(dataset: Dataset, dedupe: bool, min_rating: float | None, k: int) -> Dataset:
    events = dataset.events
    removed: Counter[str] = Counter()
    if dedupe:
        events, removed["duplicate"] = drop_duplicates(events)
    if min_rating is not None:
        events, removed["below min_rating"] = filter_min_value(events, min_rating)
    if k > 1:
        events, removed["k-core"] = k_core(events, min_user=k, min_item=k)
    removed = +removed  # drop zero counts
    if not removed:
        return dataset
    old = dataset.report or LoadReport(rows_read=len(dataset.events), rows_kept=len(dataset.events))
    report = LoadReport(
        rows_read=old.rows_read,
        rows_kept=len(events),
        skipped=old.skipped + removed,
        examples=dict(old.examples),
    )
    return replace(dataset, events=events, report=report)


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")
