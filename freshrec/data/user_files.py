"""A user's own event file: separator, header and the role of each column, told or guessed.

:func:`load_events_file` is what ``freshrec fit|evaluate|tune|arena|prequential --dataset PATH``
runs. It reads CSV, TSV, ``.txt`` (with a separator), JSON Lines and Parquet through
:func:`~freshrec.data.tabular.load_table`, leniently: bad rows are skipped and counted by reason
in ``dataset.report`` (with the first place each reason was seen), valid rows are all kept.

Columns are given as ``--columns`` gives them:

- without a header line, the names of the file's columns in order: ``"user,item,rating"``
  (a name that is not a role, e.g. ``"_"``, is a column to ignore);
- with a header line, which header column plays which role:
  ``"user=uid,item=movie,rating=stars,timestamp=ts"``;
- ``None``: guessed from the header (``user_id``, ``movieId``, ``rating``, ``ts``, ...), or for
  a header-less file, ``user,item[,rating[,timestamp]]`` by the number of fields.

Roles: ``user``, ``item``, ``rating`` (or ``value``: 1.0 when absent) and ``timestamp`` (or
``time``: without one, events keep the file's order).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from freshrec.data.dataset import Dataset
from freshrec.data.tabular import load_table
from freshrec.errors import DataError

__all__ = ["guess_columns", "load_events_file", "parse_columns"]

ColumnSpec = Sequence[str] | Mapping[str, str] | None

_ROLE_OF_NAME = {
    "user": "user",
    "item": "item",
    "rating": "value",
    "value": "value",
    "timestamp": "timestamp",
    "time": "timestamp",
}
_GUESSES = {
    "user": ("user", "user_id", "userid", "uid", "customer_id", "reviewerid", "visitor_id"),
    "item": ("item", "item_id", "itemid", "iid", "movie_id", "movieid", "product_id", "asin"),
    "value": ("rating", "value", "score", "stars", "overall", "weight"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "unix_time", "unixreviewtime"),
}
_JSON = (".jsonl", ".ndjson", ".json")
_PARQUET = (".parquet", ".pq")
_POSITIONAL = {2: "user,item", 3: "user,item,rating", 4: "user,item,rating,timestamp"}


def parse_columns(text: str | None) -> list[str] | dict[str, str] | None:
    """``--columns`` as names in order (``"a,b"``) or as a role mapping (``"user=uid,..."``).

    Examples
    --------
    >>> parse_columns("user,item,rating")
    ['user', 'item', 'rating']
    >>> parse_columns("user=uid, item=movie, rating=stars")
    {'user': 'uid', 'item': 'movie', 'rating': 'stars'}
    >>> parse_columns("user=uid,item")
    Traceback (most recent call last):
    ...
    ValueError: --columns: give either names in column order ... not both: 'user=uid,item'
    """
    if text is None or not text.strip():
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    pairs = [part.partition("=") for part in parts]
    if all(sep for _, sep, _ in pairs):
        return {role.strip(): source.strip() for role, _, source in pairs}
    if any(sep for _, sep, _ in pairs):
        raise ValueError(
            "--columns: give either names in column order (user,item,rating) or a mapping "
            f"(user=uid,item=movie), not both: {text!r}"
        )
    return parts


def guess_columns(names: Sequence[str]) -> dict[str, str]:
    """Roles found among header ``names`` by common spellings (case and ``_`` ignored).

    Examples
    --------
    >>> guess_columns(["userId", "movieId", "rating", "timestamp"])
    {'user': 'userId', 'item': 'movieId', 'value': 'rating', 'timestamp': 'timestamp'}
    """
    plain = {name.lower().replace("-", "_"): name for name in names}
    squashed = {key.replace("_", ""): name for key, name in plain.items()}
    found = {}
    for role, spellings in _GUESSES.items():
        for spelling in spellings:
            name = plain.get(spelling) or squashed.get(spelling.replace("_", ""))
            if name is not None:
                found[role] = name
                break
    return found


def load_events_file(
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    header: bool = True,
    columns: ColumnSpec = None,
) -> Dataset:
    """Load a user's event file leniently, with the columns as ``--columns`` gives them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ratings.txt"
    >>> _ = path.write_text("u1 i1 3.5\\nu1 i2 0.5\\nu2 i1 x\\n")
    >>> ds = load_events_file(path, sep=" ", header=False, columns=["user", "item", "rating"])
    >>> ds.events.value.tolist(), dict(ds.report.skipped)
    ([3.5, 0.5], {'rating: not a number': 1})
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    sep = _unescape(sep)
    if sep is None and _suffix(path) in (".txt", ".dat"):
        raise ValueError(f"{path.name}: a {_suffix(path)} file needs --sep (e.g. --sep ' ')")
    if not header and _suffix(path) in _JSON + _PARQUET:
        raise ValueError(f"--no-header applies to delimited text, not to {path.name}")
    names = None if header else _headerless_names(path, sep, columns)
    roles = _roles(path, sep, names, columns)
    timestamp = roles.get("timestamp")
    return load_table(
        path,
        roles,
        mode="lenient",
        sep=sep,
        header=names,
        timestamp_format=_timestamp_format(path, sep, names, timestamp) if timestamp else None,
    )


def _unescape(sep: str | None) -> str | None:
    """``\\t`` or ``tab`` typed on a command line means a tab."""
    return {"\\t": "\t", "tab": "\t", "space": " "}.get(sep, sep) if sep is not None else None


def _headerless_names(path: Path, sep: str | None, columns: ColumnSpec) -> list[str]:
    if isinstance(columns, Mapping):
        raise ValueError(
            "--columns: a file without a header takes the names in column order "
            "(e.g. user,item,rating), not a mapping"
        )
    if columns is not None:
        return list(columns)
    n_fields = len(_split(_first_lines(path, 1)[0], _text_sep(path, sep)))
    if n_fields not in _POSITIONAL:
        raise ValueError(
            f"{path.name} has {n_fields} fields per line and no header: name them in order "
            "with --columns (e.g. user,item,rating,timestamp; '_' for a column to ignore)"
        )
    return _POSITIONAL[n_fields].split(",")


def _roles(
    path: Path, sep: str | None, names: list[str] | None, columns: ColumnSpec
) -> dict[str, str]:
    """``{role: source column}`` for :func:`load_table`."""
    if names is not None:
        roles = {_ROLE_OF_NAME[n]: n for n in names if n in _ROLE_OF_NAME}
    elif isinstance(columns, Mapping):
        unknown = sorted(set(columns) - set(_ROLE_OF_NAME))
        if unknown:
            raise ValueError(
                f"--columns: unknown role {unknown[0]!r}; roles are user, item, rating, timestamp"
            )
        roles = {_ROLE_OF_NAME[role]: source for role, source in columns.items()}
    elif columns is not None:
        raise ValueError(
            "--columns: a file with a header takes a mapping (user=uid,item=movie,...); "
            "for names in column order add --no-header"
        )
    else:
        present = _header_names(path, sep)
        roles = guess_columns(present)
        if not {"user", "item"} <= set(roles):
            raise ValueError(
                f"cannot tell the user and item columns of {path.name} from its header "
                f"{present}: pass --columns user=...,item=...[,rating=...,timestamp=...]"
            )
    if not {"user", "item"} <= set(roles):
        raise ValueError(f"--columns must name a user and an item column, got {columns}")
    return roles


def _header_names(path: Path, sep: str | None) -> list[str]:
    if _suffix(path) in _PARQUET:
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    first = _first_lines(path, 1)[0]
    if _suffix(path) in _JSON:
        return list(json.loads(first))
    return _split(first.lstrip("\ufeff"), _text_sep(path, sep))


def _timestamp_format(
    path: Path, sep: str | None, names: list[str] | None, column: str
) -> str | None:
    """``None`` (seconds) when the first value of ``column`` is a number, else ISO 8601."""
    if _suffix(path) in _PARQUET:
        return None
    lines = _first_lines(path, 2)
    if _suffix(path) in _JSON:
        value = json.loads(lines[0]).get(column)
    else:
        fields = names or _header_names(path, sep)
        values = _split(lines[0 if names else -1], _text_sep(path, sep))
        value = values[fields.index(column)] if len(values) == len(fields) else None
    try:
        float(value)
    except (TypeError, ValueError):
        return "iso8601" if isinstance(value, str) else None
    return None


def _suffix(path: Path) -> str:
    """The format suffix, lower case, past any ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def _text_sep(path: Path, sep: str | None) -> str:
    return sep if sep is not None else "\t" if _suffix(path) == ".tsv" else ","


def _first_lines(path: Path, n: int) -> list[str]:
    """The first ``n`` non-blank lines (decompressed for ``.gz``)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    lines: list[str] = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                lines.append(line.rstrip("\r\n"))
            if len(lines) == n:
                break
    if not lines:
        raise DataError("file is empty", file=str(path), line=1)
    return lines


def _split(line: str, sep: str | None) -> list[str]:
    if sep == " ":
        return line.split()
    return next(csv.reader([line], delimiter=sep or ","))
