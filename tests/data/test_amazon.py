"""Amazon loaders: raw 2018 reviews, processed sequences and the cross-domain pair."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freshrec.data.amazon import (
    load_amazon_2018,
    load_amazon_cross_domain,
    load_amazon_reviews,
    load_amazon_sequences,
)
from freshrec.data.registry import load_dataset, summarize
from freshrec.errors import DataError
from tests.conftest import dataset_dir
from tests.data.test_movielens import _utc


def _review(user: str, item: str, rating: float, t: int) -> str:
    return json.dumps({"reviewerID": user, "asin": item, "overall": rating, "unixReviewTime": t})


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    lines = [
        _review("A1", "B1", 5.0, 300),
        _review("A2", "B1", 3.0, 100),
        '{"reviewerID": "A3", "asin": "B2", "unixReviewTime": 5',  # line 3: not JSON
        '{"reviewerID": "A3", "asin": "B2", "unixReviewTime": 5}',  # line 4: no rating
        '["A4", "B2"]',  # line 5: not an object
        "",
        _review("A1", "B2", 4.0, 200),
    ]
    path = tmp_path / "Toy_5.json.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_reviews_strict_names_file_line_and_field(reviews: Path) -> None:
    with pytest.raises(DataError) as info:
        load_amazon_reviews(reviews)
    assert (info.value.file, info.value.line) == (str(reviews), 3)
    assert "invalid JSON" in str(info.value)


def test_reviews_strict_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(_review("A1", "B1", 5.0, 1) + '\n{"reviewerID": "A3", "asin": "B2"}\n')
    with pytest.raises(DataError) as info:
        load_amazon_reviews(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 2, "rating")


def test_reviews_lenient_keeps_valid_rows(reviews: Path) -> None:
    ds = load_amazon_reviews(reviews, mode="lenient")
    assert ds.events.user.tolist() == ["A1", "A2", "A1"]
    assert ds.events.item.tolist() == ["B1", "B1", "B2"]
    assert ds.events.value.tolist() == [5.0, 3.0, 4.0]
    assert ds.events.timestamp.tolist() == [300.0, 100.0, 200.0]
    assert dict(ds.report.skipped) == {
        "invalid JSON": 1,
        "rating: missing": 1,
        "not a JSON object": 1,
        "empty line": 1,
    }
    assert ds.report.rows_read == ds.report.rows_kept + ds.report.n_skipped == 7
    assert ds.report.examples["invalid JSON"] == f"{reviews}:3"


def test_metadata_side_table_dedupes_asins(tmp_path: Path) -> None:
    (tmp_path / "Toy_5.json.gz").write_bytes(gzip.compress(_review("A", "B1", 4, 1).encode()))
    meta = [
        {"asin": "B1", "title": "Card", "category": ["Gift Cards", "Gift"], "brand": "X",
         "price": "$9.99"},
        {"asin": "B1", "title": "Again"},
        {"asin": "B2", "title": "No category", "category": [], "price": ""},
    ]  # fmt: skip
    text = "\n".join(json.dumps(m) for m in meta) + "\n"
    (tmp_path / "meta_Toy.json.gz").write_bytes(gzip.compress(text.encode()))
    ds = load_amazon_2018(tmp_path, "Toy")
    assert ds.items is not None and len(ds.items) == 2
    assert ds.items.row("B1") == {
        "title": "Card",
        "categories": ("Gift Cards", "Gift"),
        "brand": "X",
        "price": "$9.99",
    }
    assert ds.items.row("B2") == {
        "title": "No category",
        "categories": (),
        "brand": None,
        "price": None,
    }
    assert ds.report.skipped["items: duplicate asin"] == 1


# -- sequences --------------------------------------------------------------------------------


def _sequences(folder: Path, items: str, times: str) -> None:
    (folder / "Toy_item.txt").write_text(items)
    (folder / "Toy_time.txt").write_text(times)


def test_sequences_keep_sequence_order(tmp_path: Path) -> None:
    _sequences(tmp_path, "2 9 4 9\n1 3 5 6 7 8\n", "2 10 20 20\n1 5 6 6 7 9\n")
    ds = load_amazon_sequences(tmp_path, "Toy")
    assert ds.events.user.tolist() == [2, 2, 2, 1, 1, 1, 1, 1]
    assert ds.events.item.tolist() == [9, 4, 9, 3, 5, 6, 7, 8]
    assert ds.events.timestamp.tolist() == [10, 20, 20, 5, 6, 6, 7, 9]
    assert ds.report.rows_read == ds.report.rows_kept == 8


@pytest.mark.parametrize(
    ("items", "times", "file", "line", "field", "reason"),
    [
        ("1 3 4\n2 5 6\n", "1 10 11\n2 12\n", "time", 2, "timestamp", "misaligned"),
        ("1 3 4\n2 5 6\n", "1 10 11\n", "time", 2, "timestamp", "misaligned"),
        ("1 3 4\n2 5 6\n", "1 10 11\n3 12 13\n", "time", 2, "user", "user mismatch"),
        ("1 3 4\n2 5 x\n", "1 10 11\n2 12 13\n", "item", 2, "item", "item: not an integer"),
        ("1 3 4\n2 5 6\n", "1 10 11\n2 12 day\n", "time", 2, "timestamp",
         "timestamp: not a number"),
    ],
)  # fmt: skip
def test_sequences_strict_and_lenient(
    tmp_path: Path, items: str, times: str, file: str, line: int, field: str, reason: str
) -> None:
    _sequences(tmp_path, items, times)
    with pytest.raises(DataError) as info:
        load_amazon_sequences(tmp_path, "Toy")
    err = info.value
    assert (err.file, err.line, err.field) == (str(tmp_path / f"Toy_{file}.txt"), line, field)
    ds = load_amazon_sequences(tmp_path, "Toy", mode="lenient")
    assert ds.events.user[:2].tolist() == [1, 1] and ds.events.item[:2].tolist() == [3, 4]
    assert ds.report.skipped == {reason: 1}
    assert ds.report.rows_read == ds.report.rows_kept + 1
    if field in ("item", "timestamp") and reason != "misaligned":  # only the bad event is lost
        assert ds.events.user.tolist() == [1, 1, 2]


# -- cross-domain ------------------------------------------------------------------------------


def test_cross_domain_lenient(tmp_path: Path) -> None:
    for sub in ("sport_cloth", "cloth_sport"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "train.txt").write_text("0\t3\t1\n1\tx\t1\n2\t4\t1\n")
    with pytest.raises(DataError) as info:
        load_amazon_cross_domain(tmp_path)
    assert (info.value.line, info.value.field) == (2, "item")
    both = load_amazon_cross_domain(tmp_path, mode="lenient")
    assert sorted(both) == ["clothing", "sports"]
    assert both["sports"].events.user.tolist() == [0, 2]
    assert both["sports"].events.timestamp is None
    assert both["clothing"].report.skipped == {"item: not an integer": 1}


# -- real data ---------------------------------------------------------------------------------

CATEGORIES = {
    "amazon-2018-fashion": "AMAZON_FASHION_5",
    "amazon-2018-all-beauty": "All_Beauty_5",
    "amazon-2018-appliances": "Appliances_5",
    "amazon-2018-gift-cards": "Gift_Cards_5",
    "amazon-2018-magazine-subscriptions": "Magazine_Subscriptions_5",
}


@pytest.mark.parametrize("name", list(CATEGORIES))
def test_real_2018_counts(
    name: str, data_dir: Path, cache_dir: Path, stats: dict[str, Any]
) -> None:
    dataset_dir(data_dir, "amazon-2018-small")
    expected = stats["amazon-2018-small"][CATEGORIES[name]]
    ds = load_dataset(name, data_dir, cache_dir=cache_dir)
    summary = summarize(ds)
    assert (summary["rows"], summary["users"], summary["items"]) == (
        expected["rows"],
        expected["users"],
        expected["items"],
    )
    assert (summary["start"], summary["end"]) == (_utc(expected["tmin"]), _utc(expected["tmax"]))
    pairs = len(ds.events) - len(
        {(u, i) for u, i in zip(ds.events.user, ds.events.item, strict=True)}
    )
    assert pairs == expected["dup_user_item_pairs"]


def test_real_2018_metadata(data_dir: Path, cache_dir: Path) -> None:
    dataset_dir(data_dir, "amazon-2018-small")
    gift = load_dataset("amazon-2018-gift-cards", data_dir, cache_dir=cache_dir)
    assert gift.items is not None and len(gift.items) == 1547
    assert set(gift.events.item.tolist()) <= set(gift.items.ids.tolist())
    assert sum(len(c) > 0 for c in gift.items.columns["categories"]) == 1542
    magazines = load_dataset("amazon-2018-magazine-subscriptions", data_dir, cache_dir=cache_dir)
    assert magazines.items is not None and len(magazines.items) == 2320
    assert magazines.report.skipped["items: duplicate asin"] == 3385 - 2320
    covered = set(magazines.events.item.tolist()) & set(magazines.items.ids.tolist())
    assert len(covered) == 151


@pytest.mark.parametrize("name", ["Beauty", "Sports"])
def test_real_sequences(name: str, data_dir: Path, cache_dir: Path, stats: dict[str, Any]) -> None:
    dataset_dir(data_dir, "amazon-seq-tiicsrec")
    expected = stats["amazon-seq-tiicsrec"][name]
    ds = load_dataset(f"amazon-{name.lower()}", data_dir, cache_dir=cache_dir)
    summary = summarize(ds)
    assert (summary["rows"], summary["users"], summary["items"]) == (
        expected["interactions"],
        expected["users"],
        expected["items"],
    )
    assert (summary["start"], summary["end"]) == (_utc(expected["tmin"]), _utc(expected["tmax"]))
    users, times = ds.events.user, ds.events.timestamp
    assert times is not None
    same_user = users[1:] == users[:-1]
    assert (np.diff(times)[same_user] >= 0).all()  # sequence order is time order
    assert np.bincount(users)[np.unique(users)].min() == expected["min_seq_len"]


def test_real_cross_domain(data_dir: Path, stats: dict[str, Any]) -> None:
    folder = dataset_dir(data_dir, "amazon-cdr-disencdr")
    expected = stats["amazon-cdr-disencdr"]
    for split in ("train", "test", "test_original"):
        both = load_amazon_cross_domain(folder, split=split)
        for domain, sub in (("sports", "sport_cloth"), ("clothing", "cloth_sport")):
            counts = expected[f"{sub}/{split}.txt"]
            ds = both[domain]
            assert (len(ds.events), ds.n_users, ds.n_items) == (
                counts["rows"],
                counts["users"],
                counts["items"],
            )
    train = load_amazon_cross_domain(folder)
    shared = set(train["sports"].events.user.tolist()) & set(train["clothing"].events.user.tolist())
    assert len(shared) == expected["users_shared_train"]
