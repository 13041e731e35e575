"""RecBole atomic files: typed headers, tokens kept as strings, context and side tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from freshrec.data import Dataset
from freshrec.data.recbole import load_recbole
from freshrec.errors import DataError
from tests.conftest import dataset_dir


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    _write(
        tmp_path / "toy.inter",
        [
            "user_id:token",
            "item_id:token",
            "rating:float",
            "timestamp:float",
            "device:token",
            "dwell:float",
        ],
        [["u1", "007", "4", "100", "ios", "3.5"], ["u2", "7", "5", "50", "", ""]],
    )
    _write(
        tmp_path / "toy.item",
        ["item_id:token", "movie_title:token_seq", "year:token", "score:float_seq"],
        [["007", "Dr. No", "1962", "1.5 2"], ["7", "", "", ""]],
    )
    _write(tmp_path / "toy.user", ["user_id:token", "age:token"], [["u1", "24"]])
    return tmp_path


def test_events_and_context(tiny: Path) -> None:
    ds = load_recbole(tiny)
    assert ds.name == "toy"
    assert ds.events.user.tolist() == ["u1", "u2"]
    assert ds.events.item.tolist() == ["007", "7"]  # exact tokens: "007" != "7"
    assert ds.events.value.tolist() == [4.0, 5.0]
    assert ds.events.timestamp.tolist() == [100.0, 50.0]
    assert ds.events.context["device"].tolist() == ["ios", None]
    dwell = ds.events.context["dwell"]
    assert dwell[0] == 3.5 and math.isnan(dwell[1])


def test_empty_optional_token_is_none_on_every_path(tmp_path: Path) -> None:
    header = ["user_id:token", "item_id:token", "device:token"]
    _write(tmp_path / "a.inter", header, [["u1", "i1", "ios"], ["u2", "i2", ""]])
    fast = load_recbole(tmp_path)
    _write(tmp_path / "a.inter", header, [["u1", "i1", "ios"], [], ["u2", "i2", ""]])
    per_line = load_recbole(tmp_path)  # the blank line sends it down the per-line path
    assert fast.events.context["device"].tolist() == ["ios", None]
    assert per_line.events.context["device"].tolist() == ["ios", None]


def test_side_tables(tiny: Path) -> None:
    ds = load_recbole(tiny)
    assert ds.items.row("007") == {
        "movie_title": ("Dr.", "No"),
        "year": "1962",
        "score": (1.5, 2.0),
    }
    assert ds.items.row("7") == {"movie_title": (), "year": None, "score": ()}
    assert ds.users.row("u1") == {"age": "24"}


def test_without_rating_or_timestamp(tmp_path: Path) -> None:
    _write(tmp_path / "clicks.inter", ["user_id:token", "item_id:token"], [["a", "x"], ["b", "y"]])
    ds = load_recbole(tmp_path, name="clicks")
    assert ds.events.value.tolist() == [1.0, 1.0]
    assert ds.events.timestamp is None
    assert ds.items is None and ds.users is None


@pytest.mark.parametrize(
    ("header", "field", "reason"),
    [
        (["user_id:token", "rating:float"], None, "no 'item_id' column"),
        (["user_id:token", "item_id:tok"], "item_id", "is not 'name:type'"),
        (["user_id", "item_id:token"], "user_id", "is not 'name:type'"),
        (["user_id:token", "item_id:token", "user_id:token"], None, "repeats column 'user_id'"),
    ],
)
def test_bad_header(tmp_path: Path, header: list[str], field: str | None, reason: str) -> None:
    _write(tmp_path / "bad.inter", header, [])
    with pytest.raises(DataError, match=reason) as info:
        load_recbole(tmp_path)
    assert info.value.line == 1 and info.value.field == field
    assert "bad.inter" in str(info.value)


def test_bad_rows_strict_and_lenient(tmp_path: Path) -> None:
    path = tmp_path / "toy.inter"
    path.write_bytes(
        b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        b"u1\ti1\t4\t10\n"
        b"u2\ti2\tgood\t11\n"
        b"\ti3\t3\t12\n"
        b"u\xff\ti4\t3\t13\n"
        b"u5\ti5\t3\n"
        b"u6\ti6\t2\t16\n"
    )
    with pytest.raises(DataError) as info:
        load_recbole(tmp_path)
    assert (info.value.line, info.value.field) == (3, "rating")  # the header is line 1
    ds = load_recbole(tmp_path, mode="lenient")
    assert ds.events.user.tolist() == ["u1", "u6"]
    assert dict(ds.report.skipped) == {
        "rating: not a number": 1,
        "user_id: missing": 1,
        "encoding": 1,
        "too few fields": 1,
    }
    assert ds.report.examples["encoding"].endswith("toy.inter:5")


def test_needs_one_inter_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="exactly one .inter"):
        load_recbole(tmp_path)


def test_real_ml_100k_recbole_matches_u_data(data_dir: Path, ml100k: Dataset) -> None:
    ds = load_recbole(dataset_dir(data_dir, "ml-100k-recbole"))
    assert (len(ds.events), ds.n_users, ds.n_items) == (100_000, 943, 1682)
    assert len(ds.items) == 1682 and len(ds.users) == 943
    assert ds.events.user.dtype == object and isinstance(ds.events.user[0], str)
    np.testing.assert_array_equal(ds.events.user.astype(np.int64), ml100k.events.user)
    np.testing.assert_array_equal(ds.events.item.astype(np.int64), ml100k.events.item)
    np.testing.assert_array_equal(ds.events.value, ml100k.events.value)
    np.testing.assert_array_equal(ds.events.timestamp, ml100k.events.timestamp)
    assert ds.items.row("1")["class"] == ("Animation", "Children's", "Comedy")
