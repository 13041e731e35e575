"""The parsed-dataset cache: round trips, keys, corrupt entries, no pickle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from freshrec.data import Dataset, EventBatch, LoadReport, SideTable
from freshrec.data.cache import cache_key, cached_load, read_dataset, write_dataset
from freshrec.data.registry import load_dataset


def _dataset() -> Dataset:
    events = EventBatch(
        user=np.array(["ann", "bob"], dtype=object),
        item=np.array([10, 20]),
        value=[4.0, 1.0],
        timestamp=[1.5, 2.0],
        context={"device": np.array(["ios", None], dtype=object), "dwell": np.array([1.0, np.nan])},
        propensity=[0.5, 0.25],
    )
    items = SideTable(
        np.array([10, 20]),
        {
            "title": np.array(["Heat", "Café"], dtype=object),
            "genres": np.array([("Action", "Crime"), ()], dtype=object),
            "release_date": np.array([0.0, np.nan]),
        },
    )
    report = LoadReport(rows_read=3, rows_kept=2)
    report.skip("rating: not a number", "f:2")
    return Dataset("toy", events, items=items, report=report)


def test_round_trip_keeps_every_column(tmp_path: Path) -> None:
    write_dataset(_dataset(), tmp_path / "entry")
    ds = read_dataset(tmp_path / "entry")
    assert ds.name == "toy"
    assert ds.events.user.tolist() == ["ann", "bob"] and ds.events.item.dtype == np.int64
    assert ds.events.value.dtype == np.float32 and ds.events.propensity.tolist() == [0.5, 0.25]
    assert ds.events.context["device"].tolist() == ["ios", None]
    assert math.isnan(ds.events.context["dwell"][1])
    assert ds.items.row(10) == {"title": "Heat", "genres": ("Action", "Crime"), "release_date": 0.0}
    assert ds.items.row(20)["genres"] == ()
    assert ds.users is None
    assert ds.report.to_dict() == _dataset().report.to_dict()


def test_no_pickle_anywhere(tmp_path: Path) -> None:
    write_dataset(_dataset(), tmp_path / "entry")
    names = {p.suffix for p in (tmp_path / "entry").iterdir()}
    assert names <= {".npy", ".json"}
    for path in (tmp_path / "entry").glob("*.npy"):
        np.load(path, allow_pickle=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "u.data"
    path.write_text("1\t2\t5\t100\n")
    return path


def _load(tmp_path: Path, calls: list[int], mode: str = "strict") -> Dataset:
    def build() -> Dataset:
        calls.append(1)
        return _dataset()

    return cached_load(
        build, [tmp_path / "u.data"], loader="toy", mode=mode, cache_dir=tmp_path / "cache"
    )


def test_second_load_hits_the_cache(tmp_path: Path) -> None:
    _source(tmp_path)
    calls: list[int] = []
    first = _load(tmp_path, calls)
    second = _load(tmp_path, calls)
    assert len(calls) == 1
    assert second.events.user.tolist() == first.events.user.tolist()


def test_key_covers_content_mode_and_loader(tmp_path: Path) -> None:
    path = _source(tmp_path)
    key = cache_key([path], loader="toy", mode="strict")
    assert key != cache_key([path], loader="toy", mode="lenient")
    assert key != cache_key([path], loader="other", mode="strict")
    path.write_text("1\t2\t4\t100\n")
    assert key != cache_key([path], loader="toy", mode="strict")
    calls: list[int] = []
    _load(tmp_path, calls)
    _load(tmp_path, calls, mode="lenient")
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "drop manifest", "bad manifest"])
def test_corrupt_entry_is_rebuilt(tmp_path: Path, damage: str) -> None:
    _source(tmp_path)
    calls: list[int] = []
    _load(tmp_path, calls)
    (entry,) = (tmp_path / "cache").iterdir()
    column = next(entry.glob("*.npy"))
    if damage == "flip a byte":
        data = bytearray(column.read_bytes())
        data[-1] ^= 0xFF
        column.write_bytes(bytes(data))
    elif damage == "truncate":
        column.write_bytes(column.read_bytes()[:10])
    elif damage == "drop manifest":
        (entry / "manifest.json").unlink()
    else:
        (entry / "manifest.json").write_text("{not json")
    rebuilt = _load(tmp_path, calls)
    assert len(calls) == 2 and rebuilt.events.user.tolist() == ["ann", "bob"]
    _load(tmp_path, calls)
    assert len(calls) == 2  # the repaired entry is used


def test_foreign_format_is_refused(tmp_path: Path) -> None:
    write_dataset(_dataset(), tmp_path / "entry")
    manifest = json.loads((tmp_path / "entry" / "manifest.json").read_text())
    manifest["format"] = 999
    (tmp_path / "entry" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format"):
        read_dataset(tmp_path / "entry")


def test_real_ml_1m_cached_equals_parsed(data_dir: Path, cache_dir: Path, ml1m: Dataset) -> None:
    # ``ml1m`` was parsed (or read) by the session fixture; this load reads the cache entry.
    again = load_dataset("ml-1m", data_dir, cache_dir=cache_dir)
    assert len(list(cache_dir.iterdir())) >= 1
    for name in ("user", "item", "value", "timestamp"):
        column = getattr(again.events, name)
        assert column.dtype == getattr(ml1m.events, name).dtype
        np.testing.assert_array_equal(column, getattr(ml1m.events, name))
    for table in ("items", "users"):
        ours, theirs = getattr(again, table), getattr(ml1m, table)
        np.testing.assert_array_equal(ours.ids, theirs.ids)
        for column_name, column in theirs.columns.items():
            assert ours.columns[column_name].tolist() == column.tolist()
    assert again.report.to_dict() == ml1m.report.to_dict()
