"""Loaders for the Amazon review data in three shapes.

- :func:`load_amazon_reviews`: the raw Amazon Review Data (2018) files, gzip JSON lines with one
  review per line (``reviewerID``, ``asin``, ``overall``, ``unixReviewTime``), plus an optional
  ``meta_<Category>.json.gz`` file as the items table. :func:`load_amazon_2018` finds both
  files of a category in a folder.
- :func:`load_amazon_sequences`: the processed 5-core sequence benchmarks (Beauty, Sports),
  ``<name>_item.txt`` + ``<name>_time.txt``, one user per line, aligned token by token.
- :func:`load_amazon_cross_domain`: the DisenCDR Sports x Clothing pair, tab-separated
  ``user item 1`` per domain folder, users shared across the domains; no timestamps.

Ids are kept as given: ASINs and reviewer ids are strings, the processed sets use integers.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.parsing import (
    Field,
    Mode,
    RowParser,
    check_mode,
    json_objects,
    read_delimited,
)
from freshrec.errors import DataError

__all__ = [
    "CDR_DOMAINS",
    "load_amazon_2018",
    "load_amazon_cdr_domain",
    "load_amazon_cross_domain",
    "load_amazon_reviews",
    "load_amazon_sequences",
]

#: Domain name -> folder of the DisenCDR pair (``X_Y/`` holds domain X).
CDR_DOMAINS = {"sports": "sport_cloth", "clothing": "cloth_sport"}

_REVIEW_FIELDS = (
    Field("user", "str"),
    Field("item", "str"),
    Field("rating", "float"),
    Field("timestamp", "float"),
)
_REVIEW_KEYS = ("reviewerID", "asin", "overall", "unixReviewTime")
_META_FIELDS = (
    Field("item", "str"),
    Field("title", "str", required=False),
    Field("categories", "tokens", required=False),
    Field("brand", "str", required=False),
    Field("price", "str", required=False),
)
_META_KEYS = ("asin", "title", "category", "brand", "price")


def load_amazon_reviews(
    path: str | os.PathLike[str],
    meta_path: str | os.PathLike[str] | None = None,
    *,
    mode: Mode = "strict",
) -> Dataset:
    """Load one Amazon 2018 review file (gzip or plain JSON lines), with optional metadata.

    Parameters
    ----------
    path
        A review file such as ``Gift_Cards_5.json.gz``.
    meta_path
        The category's metadata file (``meta_Gift_Cards.json.gz``), or ``None``.
    mode
        ``"strict"`` raises :class:`~freshrec.errors.DataError` on the first bad line (not
        JSON, not a JSON object, a missing or mistyped field); ``"lenient"`` skips it and counts it
        in ``dataset.report``.

    Returns
    -------
    Dataset
        ``events``: user (``reviewerID``), item (``asin``), value (``overall``, 1-5) and
        timestamp (``unixReviewTime``, Unix seconds at day resolution), in file order.
        ``items``: ``title``, ``categories`` (tuple), ``brand`` and ``price`` (the text as
        given, e.g. ``"$9.99"``), ``None`` where absent. Metadata rows that repeat an ASIN
        are dropped (the first is kept) and counted as ``"items: duplicate asin"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "r.json").write_text(
    ...     '{"reviewerID": "A1", "asin": "B7", "overall": 5.0, "unixReviewTime": 1529193600}\\n')
    >>> _ = (folder / "m.json").write_text(
    ...     '{"asin": "B7", "title": "Card", "category": ["Gift Cards"], "price": "$25.00"}\\n')
    >>> ds = load_amazon_reviews(folder / "r.json", folder / "m.json")
    >>> ds.events.user.tolist(), ds.events.value.tolist(), ds.items.row("B7")["categories"]
    (['A1'], [5.0], ('Gift Cards',))
    """
    check_mode(mode)
    path = Path(path)
    report = LoadReport()
    parser = RowParser(_REVIEW_FIELDS, file=str(path), mode=mode, report=report)
    for number, record in _json_lines(path, parser):
        parser.add([record.get(key) for key in _REVIEW_KEYS], number)
    columns = parser.columns()
    events = EventBatch(
        user=columns["user"],
        item=columns["item"],
        value=columns["rating"],
        timestamp=columns["timestamp"],
    )
    items = None if meta_path is None else _read_meta(Path(meta_path), mode, report)
    name = path.name.split(".")[0]
    return Dataset(f"amazon-2018-{name}", events, items=items, report=report)


def load_amazon_2018(
    path: str | os.PathLike[str], category: str = "Gift_Cards", *, mode: Mode = "strict"
) -> Dataset:
    """Load category ``category`` of the Amazon 2018 5-core files from a folder.

    Reads ``<category>_5.json.gz`` and, when present, ``meta_<category>.json.gz`` with
    :func:`load_amazon_reviews`.

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with gzip.open(folder / "Software_5.json.gz", "wt") as f:
    ...     _ = f.write('{"reviewerID": "A1", "asin": "B7", "overall": 4.0, '
    ...                 '"unixReviewTime": 100}\\n')
    >>> ds = load_amazon_2018(folder, "Software")
    >>> ds.name, len(ds.events), ds.items
    ('amazon-2018-Software_5', 1, None)
    """
    folder = Path(path)
    meta = folder / f"meta_{category}.json.gz"
    return load_amazon_reviews(
        folder / f"{category}_5.json.gz", meta if meta.exists() else None, mode=mode
    )


def _json_lines(path: Path, parser: RowParser) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each line; blank and bad lines go to ``parser``."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener: Any = gzip.open if gzipped else open
    with opener(path, "rb") as lines:
        yield from json_objects(lines, parser)


def _read_meta(path: Path, mode: Mode, report: LoadReport) -> SideTable:
    parser = RowParser(_META_FIELDS, file=str(path), mode=mode, report=report, table="items")
    seen: set[str] = set()
    for number, record in _json_lines(path, parser):
        asin = record.get("asin")
        if isinstance(asin, str) and asin in seen:
            report.skip("items: duplicate asin", f"{path}:{number}")
            continue
        if parser.add([record.get(key) for key in _META_KEYS], number):
            seen.add(str(asin))
    columns = parser.columns()
    return SideTable(columns.pop("item"), columns)


# -- processed sequences (TiICSRec) ---------------------------------------------------------


def load_amazon_sequences(
    path: str | os.PathLike[str],
    name: Literal["Beauty", "Sports"] | str = "Beauty",
    *,
    mode: Mode = "strict",
) -> Dataset:
    """Load a processed Amazon sequence set: ``<name>_item.txt`` and ``<name>_time.txt``.

    Each line of the item file is ``user item_1 item_2 ...`` in time order; the same line of
    the time file is ``user t_1 t_2 ...`` (Unix seconds). The two files must align line by
    line (same user) and token by token (same length); a line that does not is a
    :class:`~freshrec.errors.DataError` naming it in strict mode, and is skipped whole in
    lenient mode (``"misaligned"`` or ``"user mismatch"``). A bad single token names the field
    (``"item"`` or ``"timestamp"``) and, in lenient mode, drops only that event.

    Parameters
    ----------
    path
        Folder holding the two files.
    name
        ``"Beauty"`` or ``"Sports"`` (any file stem works).
    mode
        ``"strict"`` or ``"lenient"``.

    Returns
    -------
    Dataset
        ``events``: int user and item ids, value 1.0, timestamp; user by user in file order,
        each user's events in sequence order. The report counts events.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "Toy_item.txt").write_text("1 5 7\\n2 7\\n")
    >>> _ = (folder / "Toy_time.txt").write_text("1 100 200\\n2 150\\n")
    >>> ds = load_amazon_sequences(folder, "Toy")
    >>> ds.events.user.tolist(), ds.events.item.tolist(), ds.events.timestamp.tolist()
    ([1, 1, 2], [5, 7, 7], [100.0, 200.0, 150.0])
    """
    mode = check_mode(mode)
    folder = Path(path)
    item_path, time_path = folder / f"{name}_item.txt", folder / f"{name}_time.txt"
    item_lines = item_path.read_bytes().splitlines()
    time_lines = time_path.read_bytes().splitlines()
    report = LoadReport()
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    times: list[np.ndarray] = []

    def reject(key: str, message: str, file: Path, line: int, field: str | None) -> None:
        if mode == "strict":
            raise DataError(message, file=str(file), line=line, field=field)
        report.skip(key, f"{file}:{line}")

    for index in range(max(len(item_lines), len(time_lines))):
        number = index + 1
        item_tokens = item_lines[index].split() if index < len(item_lines) else None
        time_tokens = time_lines[index].split() if index < len(time_lines) else None
        if not item_tokens and not time_tokens:
            report.rows_read += 1
            report.skip("empty line", f"{item_path}:{number}")
            continue
        if item_tokens is None or time_tokens is None or len(item_tokens) != len(time_tokens):
            report.rows_read += 1
            n_item = "no line" if item_tokens is None else f"{len(item_tokens)} tokens"
            n_time = "no line" if time_tokens is None else f"{len(time_tokens)} tokens"
            reject(
                "misaligned",
                f"item file has {n_item}, time file has {n_time}",
                time_path,
                number,
                "timestamp",
            )
            continue
        if item_tokens[0] != time_tokens[0]:
            report.rows_read += 1
            reject(
                "user mismatch",
                f"user {item_tokens[0]!r} in the item file, {time_tokens[0]!r} in the time file",
                time_path,
                number,
                "user",
            )
            continue
        try:
            user = _int(item_tokens[0])
        except ValueError:
            report.rows_read += 1
            reject(
                "user: not an integer",
                f"not an integer: {item_tokens[0]!r}",
                item_path,
                number,
                "user",
            )
            continue
        line_items, line_times = _sequence(item_tokens[1:], time_tokens[1:])
        if line_items is None or line_times is None:  # slow path: name each bad token
            kept_items: list[int] = []
            kept_times: list[float] = []
            for item_token, time_token in zip(item_tokens[1:], time_tokens[1:], strict=True):
                report.rows_read += 1
                try:
                    item = _int(item_token)
                except ValueError:
                    message = f"not an integer: {item_token.decode(errors='replace')!r}"
                    reject("item: not an integer", message, item_path, number, "item")
                    continue
                try:
                    moment = float(time_token)
                except ValueError:
                    message = f"not a number: {time_token.decode(errors='replace')!r}"
                    reject("timestamp: not a number", message, time_path, number, "timestamp")
                    continue
                if not math.isfinite(moment):
                    message = f"not finite: {time_token.decode()!r}"
                    reject("timestamp: not finite", message, time_path, number, "timestamp")
                    continue
                kept_items.append(item)
                kept_times.append(moment)
                report.rows_kept += 1
            line_items = np.array(kept_items, dtype=np.int64)
            line_times = np.array(kept_times, dtype=np.float64)
        else:
            report.rows_read += len(line_items)
            report.rows_kept += len(line_items)
        users.append(np.full(len(line_items), user, dtype=np.int64))
        items.append(line_items)
        times.append(line_times)
    events = EventBatch(
        user=_concat(users, np.int64),
        item=_concat(items, np.int64),
        value=np.ones(report.rows_kept, dtype=np.float32),
        timestamp=_concat(times, np.float64),
    )
    return Dataset(f"amazon-{name.lower()}", events, report=report)


def _int(token: bytes) -> int:
    number = int(token)
    if not -(2**63) <= number < 2**63:
        raise ValueError("out of range")
    return number


def _sequence(
    item_tokens: list[bytes], time_tokens: list[bytes]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Fast conversion of one clean line; ``(None, None)`` when any token is bad."""
    try:
        items = np.array([int(t) for t in item_tokens], dtype=np.int64)
        times = np.array([float(t) for t in time_tokens], dtype=np.float64)
    except (ValueError, OverflowError):
        return None, None
    if not np.isfinite(times).all():
        return None, None
    return items, times


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


# -- cross-domain pair (DisenCDR) -----------------------------------------------------------

_CDR_FIELDS = (Field("user", "int"), Field("item", "int"), Field("label", "float"))
Split = Literal["train", "test", "test_original"]


def load_amazon_cdr_domain(
    path: str | os.PathLike[str],
    domain: str = "sports",
    *,
    split: Split = "train",
    mode: Mode = "strict",
) -> Dataset:
    """Load one domain of the DisenCDR Amazon pair (``sports`` or ``clothing``).

    Parameters
    ----------
    path
        The pair's folder, holding ``sport_cloth/`` (Sports) and ``cloth_sport/`` (Clothing).
    domain
        A key of :data:`CDR_DOMAINS`.
    split
        ``"train"``, ``"test"`` (held-out items seen in training) or ``"test_original"``
        (one held-out interaction per user).
    mode
        ``"strict"`` or ``"lenient"``.

    Returns
    -------
    Dataset
        Named ``amazon-cdr-<domain>``; int user ids shared by both domains, int item ids
        private to the domain, value = the label (1.0), no timestamps.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "cloth_sport").mkdir()
    >>> _ = (folder / "cloth_sport" / "train.txt").write_text("0\\t12\\t1\\n1\\t12\\t1\\n")
    >>> ds = load_amazon_cdr_domain(folder, "clothing")
    >>> ds.name, ds.n_users, ds.events.timestamp
    ('amazon-cdr-clothing', 2, None)
    """
    check_mode(mode)
    if domain not in CDR_DOMAINS:
        raise ValueError(f"domain must be one of {sorted(CDR_DOMAINS)}, got {domain!r}")
    if split not in ("train", "test", "test_original"):
        raise ValueError(f"split must be train, test or test_original, got {split!r}")
    report = LoadReport()
    file = Path(path) / CDR_DOMAINS[domain] / f"{split}.txt"
    columns = read_delimited(file, _CDR_FIELDS, sep="\t", mode=mode, report=report)
    events = EventBatch(user=columns["user"], item=columns["item"], value=columns["label"])
    return Dataset(f"amazon-cdr-{domain}", events, report=report)


def load_amazon_cross_domain(
    path: str | os.PathLike[str], *, split: Split = "train", mode: Mode = "strict"
) -> dict[str, Dataset]:
    """Load both domains of the DisenCDR pair: ``{"sports": Dataset, "clothing": Dataset}``.

    See :func:`load_amazon_cdr_domain`; user ids mean the same user in both datasets.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for sub in ("sport_cloth", "cloth_sport"):
    ...     (folder / sub).mkdir()
    ...     _ = (folder / sub / "train.txt").write_text("0\\t3\\t1\\n")
    >>> {name: len(ds.events) for name, ds in load_amazon_cross_domain(folder).items()}
    {'sports': 1, 'clothing': 1}
    """
    return {
        domain: load_amazon_cdr_domain(path, domain, split=split, mode=mode)
        for domain in CDR_DOMAINS
    }
