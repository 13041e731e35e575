"""Malformed rating files: strict mode names the bad line, lenient mode loses nothing valid.

Each case starts from 2,000 clean lines (the head of the real ``u.data`` / ``ratings.dat`` when
the datasets are present, else synthetic lines in the same format), injects known faults at
known places, and compares the load with what was injected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from freshrec.data import Dataset
from freshrec.data.cleaning import dedupe
from freshrec.data.movielens import load_movielens_1m, load_movielens_100k
from freshrec.data.parsing import Field, parse_delimited
from freshrec.errors import DataError

Loader = Callable[..., Dataset]
FORMATS = {
    "ml-100k": ("u.data", "\t", load_movielens_100k),
    "ml-1m": ("ratings.dat", "::", load_movielens_1m),
}
# name -> (fields of the bad line, or raw bytes; report reason; field named by the error)
FAULTS: dict[str, tuple[list[str] | bytes, str, str | None]] = {
    "truncated": (["1", "2", "3"], "too few fields", "timestamp"),
    "extra field": (["1", "2", "3", "100", "9"], "too many fields", None),
    "rating not a number": (["1", "2", "five", "100"], "rating: not a number", "rating"),
    "timestamp not a number": (
        ["1", "2", "3", "yesterday"],
        "timestamp: not a number",
        "timestamp",
    ),
    "timestamp nan": (["1", "2", "3", "nan"], "timestamp: not finite", "timestamp"),
    "timestamp inf": (["1", "2", "3", "-inf"], "timestamp: not finite", "timestamp"),
    "missing user": (["", "2", "3", "100"], "user: missing", "user"),
    "item not an integer": (["1", "x7", "3", "100"], "item: not an integer", "item"),
    "invalid utf-8": (b"1\xff\xfe", "encoding", "user"),
}


def _synthetic_lines(sep: str) -> list[bytes]:
    rng = np.random.default_rng(7)
    users = rng.integers(1, 60, 2000)
    items = rng.integers(1, 400, 2000)
    ratings = rng.integers(1, 6, 2000)
    return [
        sep.join(map(str, (u, i, r, 880_000_000 + 37 * t))).encode()
        for t, (u, i, r) in enumerate(zip(users, items, ratings, strict=True))
    ]


@pytest.fixture(
    params=[(fmt, src) for fmt in FORMATS for src in ("synthetic", "real")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def case(request: pytest.FixtureRequest) -> tuple[str, str, Loader, list[bytes]]:
    """(file name, separator, loader, 2,000 clean lines)."""
    fmt, source = request.param
    name, sep, loader = FORMATS[fmt]
    if source == "synthetic":
        return name, sep, loader, _synthetic_lines(sep)
    data_dir: Path = request.getfixturevalue("data_dir")
    path = data_dir / fmt / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    with open(path, "rb") as f:
        lines = [next(f).rstrip(b"\n") for _ in range(2000)]
    return name, sep, loader, lines


def _bad_line(fault: str, sep: str) -> bytes:
    raw = FAULTS[fault][0]
    if isinstance(raw, bytes):
        return raw + sep.encode() + sep.join(["2", "3", "100"]).encode()
    return sep.join(raw).encode()


def _write(folder: Path, name: str, lines: list[bytes], ending: bytes = b"\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(ending.join(lines) + ending)
    return folder / name


def _columns(lines: list[bytes], sep: str) -> dict[str, np.ndarray]:
    """The columns the clean ``lines`` hold, split by hand."""
    rows = [line.decode().split(sep) for line in lines]
    return {
        "user": np.array([int(r[0]) for r in rows]),
        "item": np.array([int(r[1]) for r in rows]),
        "value": np.array([float(r[2]) for r in rows], dtype=np.float32),
        "timestamp": np.array([float(r[3]) for r in rows]),
    }


def _assert_events(ds: Dataset, expected: dict[str, np.ndarray]) -> None:
    for name, column in expected.items():
        np.testing.assert_array_equal(getattr(ds.events, name), column, err_msg=name)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_strict_names_file_line_field_and_reason(
    tmp_path: Path, case: tuple[str, str, Loader, list[bytes]], fault: str
) -> None:
    name, sep, loader, clean = case
    path = _write(tmp_path, name, [*clean[:50], b"", _bad_line(fault, sep), *clean[50:100]])
    with pytest.raises(DataError) as info:
        loader(tmp_path)
    err = info.value
    reason, field = FAULTS[fault][1], FAULTS[fault][2]
    assert (err.file, err.line, err.field) == (str(path), 52, field)
    text = str(err)
    assert text.startswith(f"{path}, line 52") and (field is None or f"field {field!r}" in text)
    problem = reason.split(": ")[-1]
    expected_words = {
        "too few fields": "expected 4 fields, got 3",
        "too many fields": "expected 4 fields, got 5",
        "missing": "missing value",
        "encoding": "cannot decode as utf-8",
    }
    assert expected_words.get(problem, problem) in text


def test_lenient_keeps_every_valid_row(
    tmp_path: Path, case: tuple[str, str, Loader, list[bytes]]
) -> None:
    name, sep, loader, clean = case
    lines: list[bytes] = []
    kept: list[bytes] = []
    reasons: Counter[str] = Counter()
    faults = list(FAULTS)
    for n, line in enumerate(clean):
        if n % 150 == 0:  # a fault every 150 lines, cycling through all kinds
            fault = faults[(n // 150) % len(faults)]
            lines.append(_bad_line(fault, sep))
            reasons[FAULTS[fault][1]] += 1
        if n % 400 == 7:
            lines.extend([b"", b"   "])
            reasons["empty line"] += 2
        lines.append(line)
        kept.append(line)
        if n % 500 == 3:  # an exact duplicate right after the original
            lines.append(line)
            kept.append(line)
    lines.append(b"")  # a blank line at the end
    reasons["empty line"] += 1
    _write(tmp_path, name, lines)

    ds = loader(tmp_path, mode="lenient")

    _assert_events(ds, _columns(kept, sep))
    assert ds.report.skipped == reasons
    assert ds.report.rows_read == len(lines)
    assert ds.report.rows_kept == len(kept) == len(ds.events)
    for reason in reasons:
        file_name, line_number = ds.report.examples[reason].rsplit(":", 1)
        assert file_name.endswith(name) and 1 <= int(line_number) <= len(lines)
    deduped, removed = dedupe(ds.events)
    assert removed == 4
    for column_name, column in _columns(clean, sep).items():
        np.testing.assert_array_equal(getattr(deduped, column_name), column)


def test_blank_lines_are_never_errors(
    tmp_path: Path, case: tuple[str, str, Loader, list[bytes]]
) -> None:
    name, sep, loader, clean = case
    _write(tmp_path, name, [b"", *clean[:10], b"  ", *clean[10:20], b"", b""])
    ds = loader(tmp_path)
    _assert_events(ds, _columns(clean[:20], sep))
    assert ds.report.skipped == Counter({"empty line": 4})


def test_crlf_and_missing_final_newline(
    tmp_path: Path, case: tuple[str, str, Loader, list[bytes]]
) -> None:
    name, sep, loader, clean = case
    (tmp_path / name).write_bytes(b"\r\n".join(clean))
    _assert_events(loader(tmp_path), _columns(clean, sep))


def test_fast_and_per_line_paths_agree(case: tuple[str, str, Loader, list[bytes]]) -> None:
    _, sep, _, clean = case
    fields = [
        Field("user", "int"),
        Field("item", "int"),
        Field("rating", "float"),
        Field("timestamp", "float"),
    ]
    fast = parse_delimited(b"\n".join(clean) + b"\n", fields, sep=sep, file="f")
    # A blank line in the middle sends the whole file down the per-line path.
    slow = parse_delimited(b"\n".join([*clean[:5], b"", *clean[5:]]), fields, sep=sep, file="f")
    for key in fast:
        assert fast[key].dtype == slow[key].dtype
        np.testing.assert_array_equal(fast[key], slow[key])


def test_bad_side_table_rows(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::5::3::20\n")
    (tmp_path / "movies.dat").write_bytes(b"5::Heat (1995)::Action\n6::Up (2009)\n7::x::y::z\n")
    with pytest.raises(DataError) as info:
        load_movielens_1m(tmp_path)
    assert info.value.file.endswith("movies.dat") and info.value.line == 2
    ds = load_movielens_1m(tmp_path, mode="lenient")
    assert ds.items.ids.tolist() == [5]
    assert ds.report.skipped == Counter({"items: too few fields": 1, "items: too many fields": 1})
    assert (ds.report.rows_read, ds.report.rows_kept) == (1, 1)  # counts events only


def test_bad_release_date(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t5\t3\t20\n")
    flags = "|".join(["0"] * 19)
    (tmp_path / "u.item").write_text(f"5|Heat|1995-12-15|||{flags}\n")
    with pytest.raises(DataError, match="release_date': not a date: '1995-12-15'"):
        load_movielens_100k(tmp_path)
