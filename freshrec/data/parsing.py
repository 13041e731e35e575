"""Strict and lenient parsing of rows into typed columns, shared by every loader.

Two modes:

- ``"strict"`` raises :class:`~freshrec.errors.DataError` at the first bad row, naming the
  file, the 1-based line, the field and the reason.
- ``"lenient"`` keeps every valid row and counts each skipped row in a
  :class:`~freshrec.data.LoadReport` under a short reason such as ``"rating: not a number"``,
  ``"too few fields"`` or ``"encoding"``.

Blank lines (empty or only whitespace) are harmless in both modes: they are skipped and counted
as ``"empty line"`` in the report, never raised. Every line examined counts in
``report.rows_read``, so ``rows_read == rows_kept + n_skipped``. Exact duplicate rows are not
a parsing matter; :mod:`freshrec.data.cleaning` removes them.

Delimited text takes a vectorized path (numpy over the raw bytes) that checks the structure of
every line at once; only when it finds something wrong does the per-line parser run, to find
and name the bad lines. Both paths give the same columns.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from freshrec.data.dataset import LoadReport
from freshrec.errors import DataError

__all__ = [
    "Field",
    "Kind",
    "Mode",
    "RowParser",
    "check_mode",
    "json_objects",
    "parse_delimited",
    "read_delimited",
]

Mode = Literal["strict", "lenient"]
Kind = Literal["int", "str", "float", "tokens", "floats", "datetime"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FAST_KINDS = {"int": np.int64, "float": np.float64, "str": None}


@dataclass(frozen=True)
class Field:
    """One column of a row.

    Parameters
    ----------
    name
        Column name, used in error messages and as the key of the parsed column.
    kind
        ``"int"`` (64-bit integer), ``"str"`` (the exact text), ``"float"`` (finite number),
        ``"tokens"`` / ``"floats"`` (space-separated sequence -> tuple of str / float),
        ``"datetime"`` (a date string -> float seconds since the epoch, see ``fmt``).
    required
        An empty value is an error when ``True``; otherwise it becomes ``None`` (str),
        ``nan`` (float, datetime) or ``()`` (sequences). Integer fields are always required.
    fmt
        For ``"datetime"``: ``"iso8601"`` or a :func:`~datetime.datetime.strptime` pattern.
        Times without a zone are taken as UTC.

    Examples
    --------
    >>> Field("rating", "float")
    Field(name='rating', kind='float', required=True, fmt=None)
    """

    name: str
    kind: Kind = "str"
    required: bool = True
    fmt: str | None = None


def check_mode(mode: str) -> Mode:
    """Return ``mode`` if it is ``"strict"`` or ``"lenient"``, else raise ``ValueError``.

    Examples
    --------
    >>> check_mode("lenient")
    'lenient'
    """
    if mode not in ("strict", "lenient"):
        raise ValueError(f"mode must be 'strict' or 'lenient', got {mode!r}")
    return mode  # type: ignore[return-value]


class _Invalid(Exception):
    """A value that does not fit its field: ``problem`` is the short reason."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class RowParser:
    """Collects typed columns row by row, raising or counting bad rows by ``mode``.

    Parameters
    ----------
    fields
        One :class:`Field` per position in a row; ``None`` marks a column that is read past.
    file
        Name of the source, used in errors and report examples.
    mode
        ``"strict"`` or ``"lenient"`` (see the module docstring).
    report
        Receives the counts; a new one is made when ``None``.
    table
        Name of a side table (``"items"``, ``"users"``). Its skips are counted as
        ``"items: <reason>"`` and leave ``rows_read``/``rows_kept`` (which count events) alone.

    Examples
    --------
    >>> parser = RowParser([Field("user", "int"), Field("rating", "float")], file="f.tsv",
    ...                    mode="lenient")
    >>> parser.add(["1", "4.5"], line=1), parser.add(["2", "x"], line=2)
    (True, False)
    >>> parser.columns()["rating"].tolist(), dict(parser.report.skipped)
    ([4.5], {'rating: not a number': 1})
    """

    def __init__(
        self,
        fields: Sequence[Field | None],
        *,
        file: str,
        mode: Mode = "strict",
        report: LoadReport | None = None,
        table: str | None = None,
    ) -> None:
        self.fields = tuple(fields)
        self.file = file
        self.mode = check_mode(mode)
        self.report = report if report is not None else LoadReport()
        self.table = table
        self._converters = [None if f is None else _converter(f) for f in self.fields]
        self._values: list[list[Any]] = [[] for _ in self.fields]

    def add(self, tokens: Sequence[Any], line: int) -> bool:
        """Parse one row of raw values; return whether it was kept."""
        self._count_read()
        if len(tokens) != len(self.fields):
            few = len(tokens) < len(self.fields)
            missing = self.fields[len(tokens)] if few else None
            self.reject(
                "too few fields" if few else "too many fields",
                f"expected {len(self.fields)} fields, got {len(tokens)}",
                line,
                missing.name if missing is not None else None,
            )
            return False
        row: list[Any] = []
        for field, convert, token in zip(self.fields, self._converters, tokens, strict=True):
            if field is None or convert is None:
                row.append(None)
                continue
            try:
                row.append(convert(token))
            except _Invalid as bad:
                message = (
                    "missing value" if bad.problem == "missing" else (f"{bad.problem}: {token!r}")
                )
                self.reject(f"{field.name}: {bad.problem}", message, line, field.name)
                return False
        for column, value in zip(self._values, row, strict=True):
            column.append(value)
        if self.table is None:
            self.report.rows_kept += 1
        return True

    def blank(self, line: int) -> None:
        """Count a blank line (never an error)."""
        self._count_read()
        self._skip("empty line", line)

    def bad_line(self, key: str, message: str, line: int, field: str | None) -> None:
        """Count a line that could not be split into values, then :meth:`reject` it."""
        self._count_read()
        self.reject(key, message, line, field)

    def reject(self, key: str, message: str, line: int, field: str | None) -> None:
        """A bad row: raise in strict mode, else count it under ``key``."""
        if self.mode == "strict":
            raise DataError(message, file=self.file, line=line, field=field)
        self._skip(key, line)

    def columns(self) -> dict[str, np.ndarray]:
        """The kept rows as one array per named field."""
        return {
            field.name: _to_array(values, field.kind)
            for field, values in zip(self.fields, self._values, strict=True)
            if field is not None
        }

    def _count_read(self) -> None:
        if self.table is None:
            self.report.rows_read += 1

    def _skip(self, key: str, line: int) -> None:
        prefix = f"{self.table}: " if self.table else ""
        self.report.skip(prefix + key, f"{self.file}:{line}")


def parse_delimited(
    data: bytes,
    fields: Sequence[Field | None],
    *,
    sep: str,
    file: str,
    mode: Mode = "strict",
    report: LoadReport | None = None,
    encoding: str = "utf-8",
    first_line: int = 1,
    table: str | None = None,
) -> dict[str, np.ndarray]:
    """Parse delimited text (one row per line, no quoting) into typed columns.

    Parameters
    ----------
    data
        The raw bytes. Lines end with ``\\n`` or ``\\r\\n``.
    fields, file, mode, report, table
        As for :class:`RowParser`.
    sep
        Field separator, possibly several characters (MovieLens 1M uses ``"::"``).
    encoding
        Text encoding; a line that does not decode is a bad row with reason ``"encoding"``.
    first_line
        Line number of the first line of ``data`` (2 when a header line was cut off).

    Examples
    --------
    >>> from freshrec.data import LoadReport
    >>> fields = [Field("user", "int"), Field("item", "int"), Field("rating", "float")]
    >>> parse_delimited(b"1::5::4\\n2::7::3\\n", fields, sep="::", file="r.dat")["item"].tolist()
    [5, 7]
    >>> report = LoadReport()
    >>> cols = parse_delimited(b"1::5::4\\n2::7\\n\\n", fields, sep="::", file="r.dat",
    ...                        mode="lenient", report=report)
    >>> cols["user"].tolist(), dict(report.skipped)
    ([1], {'too few fields': 1, 'empty line': 1})
    >>> parse_delimited(b"1::5::x\\n", fields, sep="::", file="r.dat")
    Traceback (most recent call last):
    ...
    freshrec.errors.DataError: r.dat, line 1, field 'rating': not a number: 'x'
    """
    parser = RowParser(fields, file=file, mode=mode, report=report, table=table)
    body = data.rstrip(b"\r\n")  # blank lines at the end must not cost the fast path
    fast = _parse_fast(body, parser.fields, sep) if body else None
    if fast is None:
        _parse_lines(data, parser, sep=sep, encoding=encoding, first_line=first_line)
        return parser.columns()
    columns, n_rows = fast
    if table is None:
        parser.report.rows_read += n_rows
        parser.report.rows_kept += n_rows
    for k in range(data.count(b"\n", len(body)) - 1):
        parser.blank(first_line + n_rows + k)
    return columns


def _parse_lines(
    data: bytes, parser: RowParser, *, sep: str, encoding: str, first_line: int
) -> None:
    """The per-line path: decode, split and convert each line, naming every bad one."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    byte_sep = sep.encode(encoding)
    for number, raw in enumerate(lines, start=first_line):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            parser.blank(number)
            continue
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as err:
            bad_byte = err.object[err.start : err.start + 1]
            parser.bad_line(
                "encoding",
                f"cannot decode as {encoding}: {err.reason} (byte {bad_byte!r})",
                number,
                _undecodable_field(raw, byte_sep, parser.fields, encoding),
            )
            continue
        parser.add(text.split(sep), number)


def read_delimited(
    path: str | os.PathLike[str], fields: Sequence[Field | None], **options: Any
) -> dict[str, np.ndarray]:
    """Read a delimited file with :func:`parse_delimited` (``file`` is set to ``path``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "u.data"
    >>> _ = path.write_text("196\\t242\\t3\\t881250949\\n")
    >>> cols = read_delimited(path, [Field("user", "int"), Field("item", "int"),
    ...                              Field("rating", "float"), Field("timestamp", "float")],
    ...                       sep="\\t")
    >>> cols["timestamp"].tolist()
    [881250949.0]
    """
    path = Path(path)
    return parse_delimited(path.read_bytes(), fields, file=str(path), **options)


def json_objects(
    lines: Iterable[bytes], parser: RowParser, encoding: str = "utf-8"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each JSON-lines record that is a JSON object.

    Blank lines go to ``parser.blank``; undecodable bytes (``"encoding"``), invalid JSON
    (``"invalid JSON"``) and values that are not objects (``"not a JSON object"``) go to
    ``parser.bad_line``: an error in strict mode, a counted skip in lenient mode.

    Examples
    --------
    >>> parser = RowParser([Field("user", "str")], file="x.jsonl", mode="lenient")
    >>> [n for n, _ in json_objects([b'{"user": "a"}', b"", b"[1]", b"{oops"], parser)]
    [1]
    >>> dict(parser.report.skipped)
    {'empty line': 1, 'not a JSON object': 1, 'invalid JSON': 1}
    """
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            parser.blank(number)
            continue
        try:
            record = json.loads(raw.decode(encoding))
        except UnicodeDecodeError as err:
            parser.bad_line("encoding", f"cannot decode as {encoding}: {err.reason}", number, None)
            continue
        except json.JSONDecodeError as err:
            parser.bad_line("invalid JSON", f"invalid JSON: {err.msg}", number, None)
            continue
        if not isinstance(record, dict):
            parser.bad_line("not a JSON object", "not a JSON object", number, None)
            continue
        yield number, record


# -- vectorized path -----------------------------------------------------------------------


def _parse_fast(
    data: bytes, fields: Sequence[Field | None], sep: str
) -> tuple[dict[str, np.ndarray], int] | None:
    """Parse well-formed ASCII data with numpy: ``(columns, n_rows)``, or ``None`` when
    anything (a bad value, a blank line, a wrong field count) needs the per-line path."""
    if not data or not data.isascii() or b"\x00" in data:
        return None  # numpy's fixed-width bytes would drop trailing NULs
    if any(f is not None and (f.kind not in _FAST_KINDS) for f in fields):
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None
    if not data.endswith(b"\n"):
        data += b"\n"
    delimiter = sep.encode("ascii")
    if len(delimiter) != 1:
        spare = next((c for c in (b"\t", b"\x00", b"\x01") if c not in data), None)
        if spare is None:
            return None
        data, delimiter = data.replace(delimiter, spare), spare
    codes = np.frombuffer(data, dtype=np.uint8)
    positions = np.flatnonzero((codes == delimiter[0]) | (codes == 10))
    n_fields = len(fields)
    if len(positions) % n_fields:
        return None
    expected = np.full(n_fields, delimiter[0], dtype=np.uint8)
    expected[-1] = 10
    if not (codes[positions].reshape(-1, n_fields) == expected).all():
        return None  # a line with the wrong number of fields, or a blank line
    width = max(int(np.diff(positions, prepend=-1).max(initial=1)) - 1, 1)
    tokens = np.array(data.replace(b"\n", delimiter).split(delimiter)[:-1], dtype=f"S{width}")
    table = tokens.reshape(-1, n_fields)
    columns: dict[str, np.ndarray] = {}
    for j, field in enumerate(fields):
        if field is None:
            continue
        column = table[:, j]
        dtype = _FAST_KINDS[field.kind]
        if dtype is None:
            empty = column == b""
            if field.required and empty.any():
                return None
            text = column.astype(str).astype(object)
            text[empty] = None
            columns[field.name] = text
            continue
        try:
            values = _fast_numbers(column, dtype)
        except (ValueError, OverflowError):
            return None
        if dtype is np.float64 and not np.isfinite(values).all():
            return None
        columns[field.name] = values
    return columns, len(table)


def _fast_numbers(column: np.ndarray, dtype: type) -> np.ndarray:
    """Convert a bytes column; whole numbers go through int64, which numpy parses faster."""
    if dtype is np.float64:
        try:
            return column.astype(np.int64).astype(np.float64)
        except (ValueError, OverflowError):
            pass
    return column.astype(dtype)


# -- per-value conversion ------------------------------------------------------------------


def _converter(field: Field) -> Callable[[Any], Any]:
    parse: Callable[[Any], Any] = {
        "int": _parse_int,
        "str": _parse_str,
        "float": _parse_float,
        "tokens": _parse_tokens,
        "floats": _parse_floats,
        "datetime": lambda value: _parse_datetime(value, field.fmt or "iso8601"),
    }[field.kind]
    missing = {"str": None, "float": math.nan, "datetime": math.nan, "tokens": (), "floats": ()}

    def convert(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value == ""):
            if field.required or field.kind == "int":
                raise _Invalid("missing")
            return missing[field.kind]
        return parse(value)

    return convert


def _parse_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, np.integer)):
        raise _Invalid("not an integer")
    try:
        number = int(value)
    except ValueError:
        raise _Invalid("not an integer") from None
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise _Invalid("integer out of range")
    return number


def _parse_str(value: Any) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise _Invalid("not a string")


def _parse_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.number)):
        raise _Invalid("not a number")
    try:
        number = float(value)
    except ValueError:
        raise _Invalid("not a number") from None
    if not math.isfinite(number):
        raise _Invalid("not finite")
    return number


def _parse_tokens(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(_parse_str(v) for v in value)
    return tuple(_parse_str(value).split())


def _parse_floats(value: Any) -> tuple[float, ...]:
    parts = value if isinstance(value, (list, tuple)) else _parse_str(value).split()
    return tuple(_parse_float(v) for v in parts)


def _parse_datetime(value: Any, fmt: str) -> float:
    if not isinstance(value, str):
        raise _Invalid("not a date")
    try:
        if fmt == "iso8601":
            moment = datetime.fromisoformat(value.strip())
        else:
            moment = datetime.strptime(value.strip(), fmt)
    except ValueError:
        raise _Invalid("not a date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _to_array(values: list[Any], kind: Kind) -> np.ndarray:
    if kind == "int":
        return np.array(values, dtype=np.int64)
    if kind in ("float", "datetime"):
        return np.array(values, dtype=np.float64)
    return np.fromiter(values, dtype=object, count=len(values))


def _undecodable_field(
    raw: bytes, sep: bytes, fields: Sequence[Field | None], encoding: str
) -> str | None:
    """Name of the first field of ``raw`` whose bytes do not decode."""
    for position, part in enumerate(raw.split(sep)):
        try:
            part.decode(encoding)
        except UnicodeDecodeError:
            field = fields[position] if position < len(fields) else None
            return field.name if field is not None else None
    return None
