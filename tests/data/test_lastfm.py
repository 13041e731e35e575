"""Last.fm HetRec 2K: listening counts, artists, friend graph, tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freshrec.data.lastfm import load_lastfm, load_lastfm_friends, load_lastfm_tags
from freshrec.data.registry import load_dataset
from freshrec.errors import DataError
from tests.conftest import dataset_dir


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "user_artists.dat").write_text(
        "userID\tartistID\tweight\n2\t51\t13883\n2\t52\tlots\n3\t51\t7\n"
    )
    (tmp_path / "artists.dat").write_text(
        "id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://a\t\n52\tMorcheeba\thttp://b\thttp://c\n"
    )
    (tmp_path / "user_friends.dat").write_text("userID\tfriendID\n2\t3\n3\t2\n")
    (tmp_path / "tags.dat").write_bytes("tagID\ttagValue\n1\tmétal\n".encode("latin-1"))
    return tmp_path


def test_strict_names_file_line_field(tiny: Path) -> None:
    with pytest.raises(DataError) as info:
        load_lastfm(tiny)
    err = info.value
    assert (err.file, err.line, err.field) == (str(tiny / "user_artists.dat"), 3, "weight")


def test_lenient_keeps_valid_rows(tiny: Path) -> None:
    ds = load_lastfm(tiny, mode="lenient")
    assert ds.events.user.tolist() == [2, 3]
    assert ds.events.item.tolist() == [51, 51]
    assert ds.events.value.tolist() == [13883.0, 7.0]
    assert ds.events.timestamp is None
    assert dict(ds.report.skipped) == {"weight: not a number": 1}
    assert ds.report.examples["weight: not a number"] == f"{tiny / 'user_artists.dat'}:3"
    assert ds.items is not None
    assert ds.items.row(51) == {"name": "Duran Duran", "url": "http://a", "picture_url": None}


def test_friends_and_tags(tiny: Path) -> None:
    edges = load_lastfm_friends(tiny)
    assert edges.shape == (2, 2) and edges.dtype == np.int64
    assert edges.tolist() == [[2, 3], [3, 2]]
    assert load_lastfm_tags(tiny).row(1) == {"value": "métal"}


def test_empty_friend_file_gives_empty_edges(tmp_path: Path) -> None:
    (tmp_path / "user_friends.dat").write_text("userID\tfriendID\n")
    assert load_lastfm_friends(tmp_path).shape == (0, 2)


def test_real_counts(data_dir: Path, cache_dir: Path, stats: dict[str, Any]) -> None:
    folder = dataset_dir(data_dir, "lastfm-hetrec2011-2k")
    expected = stats["lastfm-hetrec2011-2k"]
    ds = load_dataset("lastfm-2k", data_dir, cache_dir=cache_dir)
    listening = expected["user_artists"]
    assert (len(ds.events), ds.n_users, ds.n_items) == (
        listening["rows"],
        listening["users"],
        listening["artists"],
    )
    assert ds.items is not None and len(ds.items) == expected["artists"]["rows"]
    edges = load_lastfm_friends(folder)
    assert edges.shape == (expected["user_friends"]["rows"], 2)
    assert len(np.unique(edges)) == expected["user_friends"]["users"]
    pairs = {(int(a), int(b)) for a, b in edges}
    assert all((b, a) in pairs for a, b in pairs)  # both directions listed
    assert len(load_lastfm_tags(folder)) == expected["tags"]["rows"]
