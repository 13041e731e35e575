"""MIND impressions: one event per shown news, clicked = 1, shown but not clicked = 0."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freshrec.data.mind import load_mind
from freshrec.data.registry import load_dataset, summarize
from freshrec.errors import DataError
from tests.conftest import dataset_dir

GOOD = [
    "7\tU1\t11/11/2019 9:05:58 AM\tN1 N2\tN3-1 N4-0",
    "9\tU2\t11/12/2019 1:00:00 PM\t\tN4-0 N5-0 N3-1",
]
NEWS = "N3\tsports\tgolf\tPar\t\turl\t[]\t[]\nN4\tnews\t\tHeadline\tSome text.\turl\t[]\t[]\n"


def _folder(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "behaviors.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "news.tsv").write_text(NEWS)
    return tmp_path


def test_impressions_become_events(tmp_path: Path) -> None:
    ds = load_mind(_folder(tmp_path, GOOD))
    events = ds.events
    assert events.user.tolist() == ["U1", "U1", "U2", "U2", "U2"]
    assert events.item.tolist() == ["N3", "N4", "N4", "N5", "N3"]
    assert events.value.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]
    first = datetime(2019, 11, 11, 9, 5, 58, tzinfo=UTC).timestamp()
    second = datetime(2019, 11, 12, 13, 0, 0, tzinfo=UTC).timestamp()
    assert events.timestamp is not None and events.timestamp.tolist() == [first] * 2 + [second] * 3
    assert events.context is not None
    assert events.context["impression_id"].tolist() == [7, 7, 9, 9, 9]
    assert events.event_id is not None
    assert events.event_id.tolist() == ["7-0", "7-1", "9-0", "9-1", "9-2"]
    assert ds.users is not None
    assert ds.users.row("U1") == {"history": ("N1", "N2")}
    assert ds.users.row("U2") == {"history": ()}
    assert ds.items is not None
    assert ds.items.row("N4") == {
        "category": "news",
        "subcategory": None,
        "title": "Headline",
        "abstract": "Some text.",
    }


def test_history_can_be_left_out(tmp_path: Path) -> None:
    assert load_mind(_folder(tmp_path, GOOD), history=False).users is None


BAD = {
    "label not 0/1": ("3\tU3\t11/11/2019 9:05:58 AM\t\tN3-2", "impressions", "impressions"),
    "no label": ("3\tU3\t11/11/2019 9:05:58 AM\t\tN3", "impressions", "impressions"),
    "bad time": ("3\tU3\t2019-11-11 09:05\t\tN3-1", "time", "time: not a date"),
    "truncated": ("3\tU3\t11/11/2019 9:05:58 AM", "history", "too few fields"),
    "bad impression id": ("x\tU3\t11/11/2019 9:05:58 AM\t\tN3-1", "impression_id",
                          "impression_id: not an integer"),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(BAD))
def test_strict_and_lenient(tmp_path: Path, fault: str) -> None:
    line, field, reason = BAD[fault]
    folder = _folder(tmp_path, [GOOD[0], line, GOOD[1]])
    with pytest.raises(DataError) as info:
        load_mind(folder)
    err = info.value
    assert (err.file, err.line, err.field) == (str(folder / "behaviors.tsv"), 2, field)
    ds = load_mind(folder, mode="lenient")
    assert len(ds.events) == 5 and ds.events.user.tolist()[-1] == "U2"
    key = "impressions: not newsid-label" if field == "impressions" else reason
    assert dict(ds.report.skipped) == {key: 1}
    assert ds.report.rows_read == 3 and ds.report.rows_kept == 2


def test_real_counts(data_dir: Path, cache_dir: Path, stats: dict[str, Any]) -> None:
    dataset_dir(data_dir, "mind-small-sample")
    expected = stats["mind-small-sample"]
    ds = load_dataset("mind-small-sample", data_dir, cache_dir=cache_dir)
    assert len(ds.events) == expected["impression_candidates"]
    assert int(ds.events.value.sum()) == expected["clicks"]
    assert set(np.unique(ds.events.value).tolist()) == {0.0, 1.0}
    assert ds.n_users == expected["users"]
    assert ds.n_items == expected["unique_news_in_impressions"]
    assert ds.events.context is not None
    assert len(np.unique(ds.events.context["impression_id"])) == expected["behaviors_rows"]
    summary = summarize(ds)
    assert summary["start"] == expected["tmin"].replace(" ", "T") + "Z"
    assert summary["end"] == expected["tmax"].replace(" ", "T") + "Z"
    assert ds.items is not None and len(ds.items) == expected["news_rows"]
    assert len(set(ds.items.columns["category"].tolist())) == expected["news_categories"]
    covered = set(ds.events.item.tolist()) & set(ds.items.ids.tolist())
    assert len(covered) == expected["impression_news_with_row"]
    assert ds.users is not None and len(ds.users) == expected["users"]
    history = {n for h in ds.users.columns["history"] for n in h}
    assert len(history) == expected["unique_news_in_history"]
