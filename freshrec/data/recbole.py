"""Loader for RecBole atomic files: ``NAME.inter`` plus optional ``NAME.item`` and ``NAME.user``.

Each file is tab-separated UTF-8 with a typed header line of ``name:type`` columns, where the
type is ``token``, ``token_seq``, ``float`` or ``float_seq``.

- ``.inter``: ``user_id`` and ``item_id`` become the event ids, ``rating`` the value (1.0 for
  every event when absent) and ``timestamp`` the time (``None`` when absent). Every other
  column goes into ``EventBatch.context``.
- ``.item`` / ``.user``: keyed by ``item_id`` / ``user_id``; every other column is an attribute.

Ids are kept as the exact tokens of the file (``str``), even when they look like numbers:
RecBole treats them as opaque tokens, and ``"007"`` and ``"7"`` must stay different.
``token_seq`` values become tuples of strings, ``float_seq`` tuples of floats; empty optional
values become ``None`` / ``nan`` / ``()``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.parsing import Field, Kind, Mode, check_mode, parse_delimited
from freshrec.errors import DataError

__all__ = ["load_recbole"]

_KINDS: dict[str, Kind] = {
    "token": "str",
    "token_seq": "tokens",
    "float": "float",
    "float_seq": "floats",
}
_EVENT_COLUMNS = {"user_id": "user", "item_id": "item", "rating": "value", "timestamp": "timestamp"}


def load_recbole(
    path: str | os.PathLike[str], *, name: str | None = None, mode: Mode = "strict"
) -> Dataset:
    """Load RecBole atomic files from a folder.

    Parameters
    ----------
    path
        Folder holding ``NAME.inter`` (and optionally ``NAME.item``, ``NAME.user``).
    name
        The dataset name (file stem). ``None`` takes the only ``.inter`` file in the folder.
    mode
        ``"strict"`` raises :class:`~freshrec.errors.DataError` on the first bad row;
        ``"lenient"`` skips bad rows and counts them in ``dataset.report``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "toy.inter").write_text(
    ...     "user_id:token\\titem_id:token\\trating:float\\ttimestamp:float\\n"
    ...     "u1\\t007\\t4\\t100\\n")
    >>> _ = (folder / "toy.item").write_text(
    ...     "item_id:token\\tclass:token_seq\\n007\\tAction Drama\\n")
    >>> ds = load_recbole(folder)
    >>> ds.name, ds.events.item.tolist(), ds.items.row("007")
    ('toy', ['007'], {'class': ('Action', 'Drama')})
    """
    folder = Path(path)
    check_mode(mode)
    if name is None:
        found = sorted(folder.glob("*.inter"))
        if len(found) != 1:
            raise FileNotFoundError(
                f"expected exactly one .inter file in {folder}, found {len(found)}; pass name="
            )
        name = found[0].stem
    report = LoadReport()
    columns = _read_atomic(folder / f"{name}.inter", ("user_id", "item_id"), mode, report, None)
    events = {_EVENT_COLUMNS[k]: columns.pop(k) for k in list(columns) if k in _EVENT_COLUMNS}
    n = len(events["user"])
    batch = EventBatch(
        user=events["user"],
        item=events["item"],
        value=events.get("value", np.ones(n, dtype=np.float32)),
        timestamp=events.get("timestamp"),
        context=columns or None,
    )
    sides: dict[str, SideTable | None] = {}
    for table, suffix, key in (("items", ".item", "item_id"), ("users", ".user", "user_id")):
        side_path = folder / f"{name}{suffix}"
        sides[table] = None
        if side_path.exists():
            side = _read_atomic(side_path, (key,), mode, report, table)
            sides[table] = SideTable(side.pop(key), side)
    return Dataset(name, batch, items=sides["items"], users=sides["users"], report=report)


def _read_atomic(
    path: Path,
    keys: tuple[str, ...],
    mode: Mode,
    report: LoadReport,
    table: str | None,
) -> dict[str, np.ndarray]:
    """Parse one atomic file; ``keys`` (and, in ``.inter``, rating/timestamp) are required."""
    data = path.read_bytes()
    end = data.find(b"\n")
    header_bytes, body = (data, b"") if end < 0 else (data[:end], data[end + 1 :])
    try:
        header = header_bytes.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as err:
        raise DataError(f"header is not UTF-8: {err.reason}", file=str(path), line=1) from None
    fields = [_header_field(column, str(path)) for column in header.split("\t")]
    names = [f.name for f in fields]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"header repeats column {repeated[0]!r}", file=str(path), line=1)
    for key in keys:
        if key not in names:
            raise DataError(f"header has no {key!r} column", file=str(path), line=1)
    required = set(keys) | ({"rating", "timestamp"} if table is None else set())
    fields = [Field(f.name, f.kind, required=f.name in required) for f in fields]
    return parse_delimited(
        body,
        fields,
        sep="\t",
        file=str(path),
        mode=mode,
        report=report,
        first_line=2,
        table=table,
    )


def _header_field(column: str, file: str) -> Field:
    name, colon, type_name = column.partition(":")
    if not colon or not name or type_name not in _KINDS:
        raise DataError(
            f"header column {column!r} is not 'name:type' with type one of {sorted(_KINDS)}",
            file=file,
            line=1,
            field=name or None,
        )
    return Field(name, _KINDS[type_name])
