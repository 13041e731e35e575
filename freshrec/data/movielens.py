"""Loaders for the original GroupLens MovieLens 100K and 1M files.

Events keep the order of the rating file (it is not sorted by time); splits sort by time and
keep file order among ties. External ids are ints. Side tables are optional: a folder with only
the rating file loads with ``items=None`` and ``users=None``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.parsing import Field, Mode, check_mode, read_delimited

__all__ = ["GENRES_100K", "load_movielens_100k", "load_movielens_1m"]

#: The 19 genre flags of ``u.item``, in file order (as listed in ``u.genre``).
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

_RATING_FIELDS = (
    Field("user", "int"),
    Field("item", "int"),
    Field("rating", "float"),
    Field("timestamp", "float"),
)


def load_movielens_100k(path: str | os.PathLike[str], *, mode: Mode = "strict") -> Dataset:
    """Load MovieLens 100K from its folder (``u.data``, optional ``u.item`` and ``u.user``).

    Parameters
    ----------
    path
        Folder holding the files of ``ml-100k.zip``.
    mode
        ``"strict"`` raises :class:`~freshrec.errors.DataError` on the first bad row;
        ``"lenient"`` skips bad rows and counts them in ``dataset.report``.

    Returns
    -------
    Dataset
        ``events``: user, item, value (rating 1-5), timestamp (Unix seconds).
        ``items``: ``title``, ``release_date`` (Unix seconds at midnight UTC, ``nan`` when
        unknown) and ``genres`` (tuple of names). ``users``: ``age``, ``gender``,
        ``occupation``, ``zip``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "u.data").write_text("196\\t242\\t3\\t881250949\\n"
    ...                                    "186\\t302\\t3\\t891717742\\n")
    >>> ds = load_movielens_100k(folder)
    >>> ds.events.user.tolist(), ds.events.value.tolist(), ds.items
    ([196, 186], [3.0, 3.0], None)
    """
    folder = Path(path)
    check_mode(mode)
    report = LoadReport()
    events = _read_ratings(folder / "u.data", "\t", mode, report)
    items = None
    if (folder / "u.item").exists():
        genre_fields = [Field(genre, "int") for genre in GENRES_100K]
        fields = [
            Field("item", "int"),
            Field("title", "str"),
            Field("release_date", "datetime", required=False, fmt="%d-%b-%Y"),
            None,  # video release date: empty in every row
            None,  # IMDb URL
            *genre_fields,
        ]
        columns = _read_side(folder / "u.item", fields, "|", mode, report, "items")
        flags = np.stack([columns.pop(genre) for genre in GENRES_100K], axis=1) != 0
        columns["genres"] = _tuples(
            tuple(g for g, on in zip(GENRES_100K, row, strict=True) if on) for row in flags
        )
        items = SideTable(columns.pop("item"), columns)
    users = None
    if (folder / "u.user").exists():
        fields = [
            Field("user", "int"),
            Field("age", "int"),
            Field("gender"),
            Field("occupation"),
            Field("zip"),
        ]
        columns = _read_side(folder / "u.user", fields, "|", mode, report, "users")
        users = SideTable(columns.pop("user"), columns)
    return Dataset("ml-100k", events, items=items, users=users, report=report)


def load_movielens_1m(path: str | os.PathLike[str], *, mode: Mode = "strict") -> Dataset:
    """Load MovieLens 1M from its folder (``ratings.dat``, optional ``movies.dat``, ``users.dat``).

    Parameters
    ----------
    path
        Folder holding the files of ``ml-1m.zip``.
    mode
        ``"strict"`` or ``"lenient"``, as for :func:`load_movielens_100k`.

    Returns
    -------
    Dataset
        ``events``: user, item, value (rating 1-5), timestamp (Unix seconds).
        ``items``: ``title`` and ``genres`` (tuple of names). ``users``: ``gender``, ``age``
        and ``occupation`` (the integer codes explained in the dataset's README), ``zip``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "ratings.dat").write_text("1::1193::5::978300760\\n")
    >>> _ = (folder / "movies.dat").write_bytes(
    ...     b"1193::One Flew Over the Cuckoo's Nest (1975)::Drama\\n")
    >>> ds = load_movielens_1m(folder)
    >>> ds.items.row(1193)["genres"], len(ds.events)
    (('Drama',), 1)
    """
    folder = Path(path)
    check_mode(mode)
    report = LoadReport()
    events = _read_ratings(folder / "ratings.dat", "::", mode, report)
    items = None
    if (folder / "movies.dat").exists():
        fields = [Field("item", "int"), Field("title"), Field("genres")]
        columns = _read_side(folder / "movies.dat", fields, "::", mode, report, "items")
        columns["genres"] = _tuples(tuple(g.split("|")) for g in columns["genres"])
        items = SideTable(columns.pop("item"), columns)
    users = None
    if (folder / "users.dat").exists():
        fields = [
            Field("user", "int"),
            Field("gender"),
            Field("age", "int"),
            Field("occupation", "int"),
            Field("zip"),
        ]
        columns = _read_side(folder / "users.dat", fields, "::", mode, report, "users")
        users = SideTable(columns.pop("user"), columns)
    return Dataset("ml-1m", events, items=items, users=users, report=report)


def _read_ratings(path: Path, sep: str, mode: Mode, report: LoadReport) -> EventBatch:
    columns = read_delimited(path, _RATING_FIELDS, sep=sep, mode=mode, report=report)
    return EventBatch(
        user=columns["user"],
        item=columns["item"],
        value=columns["rating"],
        timestamp=columns["timestamp"],
    )


def _read_side(
    path: Path,
    fields: Sequence[Field | None],
    sep: str,
    mode: Mode,
    report: LoadReport,
    table: str,
) -> dict[str, np.ndarray]:
    """GroupLens side files are latin-1 (accented titles)."""
    return read_delimited(
        path, fields, sep=sep, mode=mode, report=report, encoding="latin-1", table=table
    )


def _tuples(rows: Iterable[tuple[str, ...]]) -> np.ndarray:
    values = list(rows)
    return np.fromiter(values, dtype=object, count=len(values))
