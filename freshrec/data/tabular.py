"""Generic loader for event tables: CSV/TSV, JSON Lines and Parquet, with a column mapping.

Files ending in ``.gz`` are decompressed first (``ratings.csv.gz``, ``reviews.json.gz``).
Parquet needs the optional ``pyarrow`` (``pip install freshrec[parquet]``).
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport
from freshrec.data.parsing import Field, Kind, Mode, RowParser, check_mode, json_objects
from freshrec.errors import DataError

__all__ = ["load_table"]

Format = Literal["csv", "tsv", "jsonl", "parquet"]
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_ROLES = ("user", "item", "value", "timestamp")


def load_table(
    path: str | os.PathLike[str],
    columns: Mapping[str, str],
    *,
    format: Format | None = None,
    mode: Mode = "strict",
    timestamp_format: str | None = None,
    context: Sequence[str] = (),
    id_kind: Literal["str", "int"] = "str",
    sep: str | None = None,
    encoding: str = "utf-8",
    name: str | None = None,
    header: Sequence[str] | None = None,
) -> Dataset:
    """Load events from a table file.

    Parameters
    ----------
    path
        The file. A ``.gz`` suffix means gzip-compressed.
    columns
        Which source column plays which role: ``{"user": ..., "item": ...}`` and optionally
        ``"value"`` (1.0 for every event when absent) and ``"timestamp"`` (``None`` when absent).
    format
        ``"csv"``, ``"tsv"``, ``"jsonl"`` or ``"parquet"``; from the suffix when ``None``
        (``.json`` is read as JSON Lines).
    mode
        ``"strict"`` raises :class:`~freshrec.errors.DataError` at the first bad row (line
        number for text files, 1-based row number for Parquet); ``"lenient"`` counts skipped
        rows in ``dataset.report``.
    timestamp_format
        ``None``: timestamps are numbers of seconds. ``"iso8601"``: ISO 8601 strings.
        Anything else: a :func:`~datetime.datetime.strptime` pattern. Times without a zone
        are taken as UTC. Parquet timestamp columns are converted whatever this says.
    context
        Further source columns to keep in ``EventBatch.context``: numeric when every value
        is a number (``nan`` where missing), else strings (``None`` where missing).
    id_kind
        ``"str"`` keeps ids as strings; ``"int"`` requires integer ids.
    sep
        CSV separator (``","``; ``"\\t"`` for TSV).
    encoding
        Text encoding; a line that does not decode is a bad row with reason ``"encoding"``.
    name
        Dataset name; the file name without suffixes by default.
    header
        For delimited text without a header line: the names of its columns in order, which
        ``columns`` then refers to (every line is data). ``None``: the first line is the header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clicks.csv"
    >>> _ = path.write_text("uid,iid,when,device\\nann,a,2024-01-01T00:00:00Z,ios\\n"
    ...                     "bob,b,2024-01-01T00:01:00Z,web\\n")
    >>> ds = load_table(path, {"user": "uid", "item": "iid", "timestamp": "when"},
    ...                 timestamp_format="iso8601", context=["device"])
    >>> ds.events.user.tolist(), ds.events.timestamp.tolist(), ds.events.context["device"].tolist()
    (['ann', 'bob'], [1704067200.0, 1704067260.0], ['ios', 'web'])

    A space-separated file without a header, columns named in order:

    >>> _ = path.write_text("1 10 3.5\\n2 10 0.5\\n")
    >>> ds = load_table(path, {"user": "u", "item": "i", "value": "r"}, sep=" ",
    ...                 header=["u", "i", "r"])
    >>> ds.events.value.tolist(), ds.events.timestamp is None
    ([3.5, 0.5], True)
    """
    path = Path(path)
    check_mode(mode)
    unknown = set(columns) - set(_ROLES)
    if unknown or not {"user", "item"} <= set(columns):
        raise ValueError(
            f"columns must map 'user' and 'item' (and optionally 'value', 'timestamp') to "
            f"source columns, got {dict(columns)}"
        )
    sources = [columns[role] for role in _ROLES if role in columns] + list(context)
    if len(set(sources)) != len(sources):
        raise ValueError(f"a source column is used twice: {sources}")
    fmt = format or _format_of(path, sep)
    if header is not None and fmt in ("jsonl", "parquet"):
        raise ValueError(f"header= names the columns of delimited text, not of {fmt} files")
    parser = RowParser(
        _fields(columns, timestamp_format, id_kind), file=str(path), mode=mode, report=LoadReport()
    )
    wanted = [columns[role] for role in _ROLES if role in columns]
    extra: list[list[Any]] = [[] for _ in context]
    read = wanted + list(context)
    if fmt == "parquet":
        rows = _parquet_rows(path, read, columns.get("timestamp"))
    elif fmt == "jsonl":
        rows = _jsonl_rows(_read(path), read, encoding, parser)
    else:
        separator = sep or ("\t" if fmt == "tsv" else ",")
        rows = _csv_rows(_read(path), read, separator, encoding, parser, header)
    n_wanted = len(wanted)
    for line, values in rows:
        if parser.add(values[:n_wanted], line):
            for column, value in zip(extra, values[n_wanted:], strict=True):
                column.append(value)
    parsed = parser.columns()
    n = parser.report.rows_kept
    role = {r: parsed[columns[r]] for r in _ROLES if r in columns}
    batch = EventBatch(
        user=role["user"],
        item=role["item"],
        value=role.get("value", np.ones(n, dtype=np.float32)),
        timestamp=role.get("timestamp"),
        context={c: _context_array(v) for c, v in zip(context, extra, strict=True)} or None,
    )
    return Dataset(name or _stem(path), batch, report=parser.report)


def _fields(
    columns: Mapping[str, str], timestamp_format: str | None, id_kind: Literal["str", "int"]
) -> list[Field]:
    fields = [Field(columns["user"], id_kind), Field(columns["item"], id_kind)]
    if "value" in columns:
        fields.append(Field(columns["value"], "float"))
    if "timestamp" in columns:
        kind: Kind = "float" if timestamp_format is None else "datetime"
        fields.append(Field(columns["timestamp"], kind, fmt=timestamp_format))
    return fields


def _format_of(path: Path, sep: str | None) -> Format:
    """The format from the suffix; ``.txt`` (or ``.dat``) is delimited text when ``sep`` is set."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in (".txt", ".dat"):
        if sep is None:
            raise ValueError(f"{path.name}: a {suffixes[-1]} file needs a separator (sep=)")
        return "csv"
    if not suffixes or suffixes[-1] not in _SUFFIXES:
        raise ValueError(
            f"cannot tell the format of {path.name} (known: {', '.join(_SUFFIXES)}, and .txt "
            "with a separator); pass format="
        )
    return _SUFFIXES[suffixes[-1]]


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix.lower() == ".gz" else data


def _decoded_lines(
    data: bytes, encoding: str, parser: RowParser, where: list[int]
) -> Iterator[str]:
    """Decoded lines (with their endings); bad ones go to ``parser``; ``where[0]`` = line no."""
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        where[0] = number
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as err:
            if number == 1:
                raise DataError(
                    f"header cannot be decoded as {encoding}", file=parser.file, line=1
                ) from None
            parser.bad_line("encoding", f"cannot decode as {encoding}: {err.reason}", number, None)


def _csv_rows(
    data: bytes,
    wanted: list[str],
    sep: str,
    encoding: str,
    parser: RowParser,
    names: Sequence[str] | None,
) -> Iterator[tuple[int, list[Any]]]:
    where = [0]
    lines = _decoded_lines(data, encoding, parser, where)
    if sep == " ":  # runs of spaces separate fields; edge spaces do not make empty ones
        lines = (line.strip() for line in lines)
    reader = csv.reader(lines, delimiter=sep, skipinitialspace=sep == " ")
    if names is None:
        first = next(reader, None)
        if first is None:
            raise DataError("file is empty: expected a header line", file=parser.file, line=1)
        header = [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(first)]
    else:
        header = list(names)
    index = {}
    for column in wanted:
        if column not in header:
            raise DataError(
                f"column not in header {header}", file=parser.file, line=1, field=column
            )
        index[column] = header.index(column)
    for record in reader:
        line = where[0]
        if not record or not any(cell.strip() for cell in record):
            parser.blank(line)
        elif len(record) != len(header):
            few = len(record) < len(header)
            parser.bad_line(
                "too few fields" if few else "too many fields",
                f"expected {len(header)} fields, got {len(record)}",
                line,
                header[len(record)] if few else None,
            )
        else:
            yield line, [record[index[column]] for column in wanted]


def _jsonl_rows(
    data: bytes, wanted: list[str], encoding: str, parser: RowParser
) -> Iterator[tuple[int, list[Any]]]:
    for number, record in json_objects(data.splitlines(), parser, encoding):
        yield number, [record.get(column) for column in wanted]


def _parquet_rows(
    path: Path, wanted: list[str], timestamp: str | None
) -> Iterator[tuple[int, list[Any]]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportError("reading Parquet needs pyarrow: pip install freshrec[parquet]") from err
    present = pq.read_schema(path).names
    for column in wanted:
        if column not in present:
            raise DataError(
                f"column not in the Parquet schema {present}", file=str(path), field=column
            )
    table = pq.read_table(path, columns=wanted)
    values = []
    for column in wanted:
        array = table.column(column)
        if column == timestamp and pa.types.is_timestamp(array.type):
            ticks_per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[array.type.unit]
            ticks = array.cast(pa.int64()).to_pylist()
            values.append([None if t is None else t / ticks_per_second for t in ticks])
        else:
            values.append(array.to_pylist())
    for number, row in enumerate(zip(*values, strict=True), start=1):
        yield number, list(row)


def _context_array(values: list[Any]) -> np.ndarray:
    """Numbers (``nan`` where missing) when every value is numeric, else strings or ``None``."""
    missing = [v is None or v == "" for v in values]
    numbers = []
    for value, absent in zip(values, missing, strict=True):
        if absent:
            numbers.append(math.nan)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            break
        try:
            numbers.append(float(value))
        except ValueError:
            break
    else:
        return np.array(numbers, dtype=np.float64)
    texts = [
        None if absent else v if isinstance(v, str) else str(v)
        for v, absent in zip(values, missing, strict=True)
    ]
    return np.fromiter(texts, dtype=object, count=len(texts))
