"""MovieLens 100K and 1M loaders: tiny synthetic folders, then the real files."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freshrec.data import Dataset
from freshrec.data.movielens import load_movielens_1m, load_movielens_100k
from freshrec.data.registry import summarize


def _utc(text: str) -> str:
    """'1997-09-20 03:05:10 UTC' (stats.json) -> '1997-09-20T03:05:10Z' (summarize)."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _flags(*on: int) -> str:
    return "|".join("1" if g in on else "0" for g in range(19))


@pytest.fixture
def tiny_100k(tmp_path: Path) -> Path:
    (tmp_path / "u.data").write_text("3\t20\t5\t300\n1\t10\t4\t100\n1\t20\t2\t100\n")
    (tmp_path / "u.item").write_bytes(
        f"10|Misérables, Les (1995)|01-Jan-1995||http://x|{_flags(8, 14)}\n"
        f"20|unknown||||{_flags(0)}\n".encode("latin-1")
    )
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n3|53|F|other|94043\n")
    return tmp_path


def test_100k_events_keep_file_order(tiny_100k: Path) -> None:
    ds = load_movielens_100k(tiny_100k)
    assert ds.name == "ml-100k"
    assert ds.events.user.tolist() == [3, 1, 1]
    assert ds.events.item.tolist() == [20, 10, 20]
    assert ds.events.value.tolist() == [5.0, 4.0, 2.0]
    assert ds.events.timestamp.tolist() == [300.0, 100.0, 100.0]
    assert ds.events.user.dtype == np.int64
    assert ds.report.rows_read == ds.report.rows_kept == 3


def test_100k_side_tables(tiny_100k: Path) -> None:
    ds = load_movielens_100k(tiny_100k)
    les = ds.items.row(10)
    assert les["title"] == "Misérables, Les (1995)"
    assert les["genres"] == ("Drama", "Romance")
    assert les["release_date"] == datetime(1995, 1, 1, tzinfo=UTC).timestamp()
    unknown = ds.items.row(20)
    assert unknown["genres"] == ("unknown",) and math.isnan(unknown["release_date"])
    assert ds.users.row(3) == {"age": 53, "gender": "F", "occupation": "other", "zip": "94043"}


def test_side_files_are_optional(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n")
    ds = load_movielens_1m(tmp_path)
    assert ds.items is None and ds.users is None and len(ds.events) == 1


def test_1m_side_tables(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("2::5::3::20\n1::5::4::10\n")
    (tmp_path / "movies.dat").write_bytes(
        "5::Café au Lait (1993)::Comedy|Children's\n".encode("latin-1")
    )
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    ds = load_movielens_1m(tmp_path)
    assert ds.events.user.tolist() == [2, 1]
    assert ds.items.row(5) == {"title": "Café au Lait (1993)", "genres": ("Comedy", "Children's")}
    assert ds.users.row(2) == {"gender": "M", "age": 56, "occupation": 16, "zip": "70072"}


def test_mode_is_checked(tiny_100k: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        load_movielens_100k(tiny_100k, mode="forgiving")  # type: ignore[arg-type]


# -- real data ------------------------------------------------------------------------------


def _check_against_stats(ds: Dataset, expected: dict[str, Any]) -> None:
    summary = summarize(ds)
    assert (summary["rows"], summary["users"], summary["items"]) == (
        expected["rows"],
        expected["users"],
        expected["items"],
    )
    assert summary["start"] == _utc(expected["tmin"])
    assert summary["end"] == _utc(expected["tmax"])
    histogram = Counter(str(int(v)) for v in ds.events.value.tolist())
    assert dict(histogram) == expected["ratings"]
    assert ds.report.rows_read == ds.report.rows_kept == expected["rows"]
    assert not ds.report.skipped


def test_real_ml_100k(ml100k: Dataset, stats: dict[str, Any]) -> None:
    _check_against_stats(ml100k, stats["ml-100k"])
    first = ml100k.events[:1].to_events()[0]
    assert (first.user, first.item, first.value, first.timestamp) == (196, 242, 3.0, 881250949.0)
    assert len(ml100k.items) == stats["ml-100k"]["u_item_rows"]
    assert len(ml100k.users) == stats["ml-100k"]["u_user_rows"]
    assert ml100k.items.row(1)["genres"] == ("Animation", "Children's", "Comedy")
    titles = ml100k.items.columns["title"].tolist()
    assert sum(not t.isascii() for t in titles) > 0  # latin-1 accents decoded


def test_real_ml_1m(ml1m: Dataset, stats: dict[str, Any]) -> None:
    _check_against_stats(ml1m, stats["ml-1m"])
    first = ml1m.events[:1].to_events()[0]
    assert (first.user, first.item, first.value, first.timestamp) == (1, 1193, 5.0, 978300760.0)
    assert len(ml1m.items) == stats["ml-1m"]["movies_rows"]
    assert len(ml1m.users) == stats["ml-1m"]["users_rows"]
    assert set(ml1m.events.item.tolist()) <= set(ml1m.items.ids.tolist())
    assert ml1m.users.row(1) == {"gender": "F", "age": 1, "occupation": 10, "zip": "48067"}
