"""Generic table loader: CSV/TSV (quoted, gzipped), JSON Lines and Parquet."""

from __future__ import annotations

import builtins
import gzip
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from freshrec.data.tabular import load_table
from freshrec.errors import DataError

MAPPING = {"user": "uid", "item": "iid", "value": "stars", "timestamp": "ts"}


def test_csv_with_quotes_and_context(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(
        'uid,iid,stars,ts,device,price\nann,"Heat, 1995",4.5,100,ios,9.5\nbob,Up,3,50,,\n'
    )
    ds = load_table(path, MAPPING, context=["device", "price"])
    assert ds.name == "ratings"
    assert ds.events.item.tolist() == ["Heat, 1995", "Up"]
    assert ds.events.value.tolist() == [4.5, 3.0]
    assert ds.events.timestamp.tolist() == [100.0, 50.0]
    assert ds.events.context["device"].tolist() == ["ios", None]
    price = ds.events.context["price"]
    assert price[0] == 9.5 and math.isnan(price[1])


def test_int_ids_and_no_value(tmp_path: Path) -> None:
    path = tmp_path / "clicks.tsv"
    path.write_text("u\ti\n1\t7\n2\t8\n")
    ds = load_table(path, {"user": "u", "item": "i"}, id_kind="int")
    assert ds.events.user.tolist() == [1, 2] and ds.events.user.dtype.kind == "i"
    assert ds.events.value.tolist() == [1.0, 1.0] and ds.events.timestamp is None


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("iso8601", "2024-01-01T00:00:00Z", 1704067200.0),
        ("iso8601", "2024-01-01T01:00:00+01:00", 1704067200.0),
        ("iso8601", "2024-01-01 00:00:00", 1704067200.0),  # no zone: UTC
        ("%m/%d/%Y %I:%M:%S %p", "11/15/2019 8:55:22 AM", 1573808122.0),  # MIND style
    ],
)
def test_timestamp_formats(tmp_path: Path, fmt: str, expected: float, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"uid,iid,ts\na,b,{text}\n")
    ds = load_table(path, {"user": "uid", "item": "iid", "timestamp": "ts"}, timestamp_format=fmt)
    assert ds.events.timestamp.tolist() == [expected]


def test_gzip_jsonl(tmp_path: Path) -> None:
    rows: list[Any] = [
        {"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 100, "verified": True},
        {
            "reviewerID": "A2",
            "asin": "B2",
            "overall": 4.0,
            "unixReviewTime": 200,
            "verified": False,
        },
    ]
    path = tmp_path / "reviews.json.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in rows).encode()))
    ds = load_table(
        path,
        {"user": "reviewerID", "item": "asin", "value": "overall", "timestamp": "unixReviewTime"},
        context=["verified"],
    )
    assert ds.name == "reviews"
    assert ds.events.user.tolist() == ["A1", "A2"]
    assert ds.events.value.tolist() == [5.0, 4.0]
    assert ds.events.context["verified"].tolist() == ["True", "False"]  # booleans are categories


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(
        b'{"u": "a", "i": 1}\n[1, 2]\n{broken\n\n{"u": "b"}\n'
        b'{"u": "c\xff", "i": 3}\n{"u": "d", "i": 4}\n'
    )
    ds = load_table(path, {"user": "u", "item": "i"}, mode="lenient")
    assert ds.events.user.tolist() == ["a", "d"]
    assert ds.events.item.tolist() == ["1", "4"]  # ids kept as strings by default
    assert dict(ds.report.skipped) == {
        "not a JSON object": 1,
        "invalid JSON": 1,
        "empty line": 1,
        "i: missing": 1,
        "encoding": 1,
    }
    assert ds.report.rows_read == 7 and ds.report.rows_kept == 2
    with pytest.raises(DataError) as info:
        load_table(path, {"user": "u", "item": "i"})
    assert info.value.line == 2 and "not a JSON object" in str(info.value)


def test_csv_strict_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("uid,iid,stars,ts\na,b,4,1\nc,d,lots,2\n")
    with pytest.raises(DataError) as info:
        load_table(path, MAPPING)
    err = info.value
    assert (err.line, err.field) == (3, "stars")
    assert str(err) == f"{path}, line 3, field 'stars': not a number: 'lots'"


def test_csv_lenient_counts(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"uid,iid,stars,ts\na,b,4,1\nc,d\n\nx,y,2,nan\ne\xff,f,1,1\ng,h,5,9\n")
    ds = load_table(path, MAPPING, mode="lenient")
    assert ds.events.user.tolist() == ["a", "g"]
    assert dict(ds.report.skipped) == {
        "too few fields": 1,
        "empty line": 1,
        "ts: not finite": 1,
        "encoding": 1,
    }


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("uid,iid\na,b\n")
    with pytest.raises(DataError) as info:
        load_table(path, MAPPING)
    assert (info.value.line, info.value.field) == (1, "stars")


def test_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("uid,iid\na,b\n")
    with pytest.raises(ValueError, match="needs a separator"):
        load_table(path, {"user": "uid", "item": "iid"})
    assert len(load_table(path, {"user": "uid", "item": "iid"}, sep=",").events) == 1
    with pytest.raises(ValueError, match="cannot tell the format"):
        load_table(path.rename(tmp_path / "r.xyz"), {"user": "uid", "item": "iid"})
    path = tmp_path / "r.xyz"
    assert len(load_table(path, {"user": "uid", "item": "iid"}, format="csv").events) == 1
    with pytest.raises(ValueError, match="'user' and 'item'"):
        load_table(path, {"user": "uid"}, format="csv")
    with pytest.raises(ValueError, match="twice"):
        load_table(path, {"user": "uid", "item": "uid"}, format="csv")


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "uid": [1, 2, 3],
            "iid": ["x", "y", None],
            "stars": [4.0, 5.0, 1.0],
            "ts": pa.array([1_000, 2_500, 3_000], type=pa.timestamp("ms")),
            "pos": [1, 2, 3],
        }
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    ds = load_table(path, MAPPING, context=["pos"], mode="lenient")
    assert ds.events.user.tolist() == ["1", "2"]
    assert ds.events.timestamp.tolist() == [1.0, 2.5]  # timestamp type -> seconds
    assert ds.events.context["pos"].tolist() == [1.0, 2.0]
    assert dict(ds.report.skipped) == {"iid: missing": 1}
    with pytest.raises(DataError) as info:
        load_table(path, MAPPING)
    assert (info.value.line, info.value.field) == (3, "iid")


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    for module in [m for m in sys.modules if m.startswith("pyarrow")]:
        monkeypatch.delitem(sys.modules, module)
    with pytest.raises(ImportError, match=r"pip install freshrec\[parquet\]"):
        load_table(tmp_path / "x.parquet", {"user": "u", "item": "i"})


def test_headerless_space_separated(tmp_path: Path) -> None:
    path = tmp_path / "ratings.txt"
    path.write_text("1  10 3.5 \n2 11 0.5\n\n3 10\n")
    ds = load_table(
        path,
        {"user": "user", "item": "item", "value": "rating"},
        sep=" ",
        header=["user", "item", "rating"],
        mode="lenient",
    )
    assert ds.events.user.tolist() == ["1", "2"]
    assert ds.events.value.tolist() == [3.5, 0.5]
    assert ds.report is not None
    assert dict(ds.report.skipped) == {"empty line": 1, "too few fields": 1}
    assert ds.report.examples["too few fields"].endswith("ratings.txt:4")
    with pytest.raises(ValueError, match="delimited text"):
        load_table(tmp_path / "x.jsonl", {"user": "u", "item": "i"}, header=["u", "i"])
