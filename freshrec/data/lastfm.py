"""Loaders for HetRec 2011 Last.fm 2K: listening counts, artists, tags and the friend graph.

Every file is tab-separated with one header line. ``artists.dat`` is UTF-8 and ``tags.dat``
latin-1. Listening has no timestamps; the friend graph lists both directions of each edge.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.parsing import Field, Mode, check_mode, parse_delimited

__all__ = ["load_lastfm", "load_lastfm_friends", "load_lastfm_tags"]


def load_lastfm(path: str | os.PathLike[str], *, mode: Mode = "strict") -> Dataset:
    """Load ``user_artists.dat`` (and ``artists.dat`` when present) from a Last.fm 2K folder.

    Parameters
    ----------
    path
        Folder of ``hetrec2011-lastfm-2k.zip``.
    mode
        ``"strict"`` raises :class:`~freshrec.errors.DataError` on the first bad row;
        ``"lenient"`` skips bad rows and counts them in ``dataset.report``.

    Returns
    -------
    Dataset
        ``events``: int user, int item (artist), value (the listening count), no timestamps.
        ``items``: ``name``, ``url`` and ``picture_url`` of each artist. The friend graph
        comes from :func:`load_lastfm_friends`, the tag names from :func:`load_lastfm_tags`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "user_artists.dat").write_text(
    ...     "userID\\tartistID\\tweight\\n2\\t51\\t13883\\n")
    >>> _ = (folder / "artists.dat").write_text(
    ...     "id\\tname\\turl\\tpictureURL\\n51\\tDuran Duran\\thttp://x\\t\\n")
    >>> ds = load_lastfm(folder)
    >>> ds.events.value.tolist(), ds.items.row(51)["name"]
    ([13883.0], 'Duran Duran')
    """
    check_mode(mode)
    folder = Path(path)
    report = LoadReport()
    fields = (Field("user", "int"), Field("item", "int"), Field("weight", "float"))
    columns = _read(folder / "user_artists.dat", fields, mode, report)
    events = EventBatch(user=columns["user"], item=columns["item"], value=columns["weight"])
    items = None
    if (folder / "artists.dat").exists():
        artist_fields = (
            Field("item", "int"),
            Field("name", "str", required=False),
            Field("url", "str", required=False),
            Field("picture_url", "str", required=False),
        )
        artists = _read(folder / "artists.dat", artist_fields, mode, report, table="items")
        items = SideTable(artists.pop("item"), artists)
    return Dataset("lastfm-2k", events, items=items, report=report)


def load_lastfm_friends(path: str | os.PathLike[str], *, mode: Mode = "strict") -> np.ndarray:
    """The friend graph of ``user_friends.dat``: ``int64`` edges of shape (n_edges, 2).

    Each row is ``(user, friend)``, in file order; both directions of a friendship are listed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "user_friends.dat").write_text("userID\\tfriendID\\n2\\t275\\n275\\t2\\n")
    >>> load_lastfm_friends(folder).tolist()
    [[2, 275], [275, 2]]
    """
    check_mode(mode)
    fields = (Field("user", "int"), Field("friend", "int"))
    columns = _read(Path(path) / "user_friends.dat", fields, mode, LoadReport())
    return np.stack([columns["user"], columns["friend"]], axis=1).reshape(-1, 2)


def load_lastfm_tags(path: str | os.PathLike[str], *, mode: Mode = "strict") -> SideTable:
    """The tag names of ``tags.dat`` (latin-1): ids -> ``value``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "tags.dat").write_bytes("tagID\\ttagValue\\n1\\tmétal\\n".encode("latin-1"))
    >>> load_lastfm_tags(folder).row(1)
    {'value': 'métal'}
    """
    check_mode(mode)
    fields = (Field("tag", "int"), Field("value", "str", required=False))
    columns = _read(
        Path(path) / "tags.dat", fields, mode, LoadReport(), table="tags", encoding="latin-1"
    )
    return SideTable(columns.pop("tag"), columns)


def _read(
    path: Path,
    fields: Sequence[Field | None],
    mode: Mode,
    report: LoadReport,
    *,
    table: str | None = None,
    encoding: str = "utf-8",
) -> dict[str, np.ndarray]:
    """Parse a HetRec file, skipping its header line."""
    data = path.read_bytes()
    end = data.find(b"\n")
    body = b"" if end < 0 else data[end + 1 :]
    return parse_delimited(
        body,
        fields,
        sep="\t",
        file=str(path),
        mode=mode,
        report=report,
        encoding=encoding,
        first_line=2,
        table=table,
    )
