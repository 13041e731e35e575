"""Case reports: a blend that loses on test is flagged; the news case measures why it is at
chance from the data."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

from freshrec.cases.common import WeightSearch, print_case, write_case
from freshrec.cases.news import DATASET, data_limits
from freshrec.data.batch import EventBatch
from freshrec.data.registry import dataset_info, load_dataset
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results
from tests.conftest import dataset_dir


def _results(blend_auc: float) -> Results:
    values = {"two-tower": 0.499, "item-knn": 0.515, "popular": 0.508, "hybrid": blend_auc}
    rows = [ResultRow(m, "auc", v, (v, v), (v,)) for m, v in values.items()]
    return Results("case news", "toy", "impressions", seeds=[0], rows=rows)


SEARCH = WeightSearch(
    ("two-tower", "item-knn", "popular"),
    (0.5, 0.0, 0.5),
    0.54,
    (((1.0, 0.0, 0.0), 0.52), ((0.0, 1.0, 0.0), 0.53), ((0.0, 0.0, 1.0), 0.51)),
)


def test_a_blend_below_a_component_on_test_is_flagged(tmp_path):
    results = _results(blend_auc=0.505)
    write_case(results, tmp_path, {"hybrid": SEARCH}, metric="auc")
    report = (tmp_path / "report.md").read_text()
    warning = next(line for line in report.splitlines() if line.startswith("- **Warning:**"))
    assert "hybrid" in warning and "0.5050 auc on test" in warning
    assert "item-knn alone (0.5150) and popular alone (0.5080)" in warning
    assert report.index("**Warning:**") < report.index("## Blend weights")  # seen first
    blend = json.loads((tmp_path / "results.json").read_text())["extra"]["blends"]["hybrid"]
    assert blend["beaten_on_test_by"] == {"item-knn": 0.515, "popular": 0.508}
    console = Console(file=io.StringIO(), width=200)
    print_case(console, results)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert "warning: hybrid, with weights chosen on validation, scores 0.5050 auc" in printed


def test_a_blend_that_holds_on_test_is_not_flagged(tmp_path):
    results = _results(blend_auc=0.52)
    write_case(results, tmp_path, {"hybrid": SEARCH}, metric="auc")
    assert "Warning" not in (tmp_path / "report.md").read_text()
    console = Console(file=io.StringIO(), width=200)
    print_case(console, results)
    assert "warning" not in console.file.getvalue()  # type: ignore[attr-defined]


def _raw_mind(folder):
    """Impressions (id, shown news), the news of the histories and the titled news, read
    straight from the tab-separated files."""
    impressions, histories = [], set()
    for line in (folder / "behaviors.tsv").read_text().splitlines():
        impression, _, _, history, shown = line.split("\t")
        histories.update(history.split())
        impressions.append((impression, [part.rsplit("-", 1)[0] for part in shown.split()]))
    titled = set()
    for line in (folder / "news.tsv").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) > 3 and fields[3]:
            titled.add(fields[0])
    return impressions, histories, titled


def test_the_news_limits_are_measured_from_the_data(data_dir, tmp_path):
    folder = dataset_dir(data_dir, dataset_info(DATASET).folder)
    data = load_dataset(DATASET, data_dir, cache_dir=tmp_path)
    impressions, histories, titled = _raw_mind(folder)
    shown = {news for _, row in impressions for news in row}

    events = data.events
    assert events.context is not None and events.timestamp is not None
    ids = np.asarray(events.context["impression_id"]).astype(str)
    unique, first = np.unique(ids, return_index=True)
    ordered = unique[np.lexsort((unique, events.timestamp[first]))]
    test_ids = set(ordered[-round(0.2 * len(ordered)) :].tolist())
    is_test = np.array([i in test_ids for i in ids.tolist()])
    history = sorted(histories)
    parts = {
        "train": EventBatch(
            np.zeros(len(history), np.int64), np.array(history, object), np.ones(len(history))
        ),
        "valid": events.take(~is_test),
        "test": events.take(is_test),
        "shown": events,
    }
    limits = data_limits(data, parts)

    assert limits["shown_news"] == len(shown)
    assert limits["shown_news_with_title"] == len(shown & titled)
    earlier = histories | {n for i, row in impressions if i not in test_ids for n in row}
    test_news = [n for i, row in impressions if i in test_ids for n in row]
    expected = np.mean([n not in earlier for n in test_news])
    assert limits["test_shown_unseen_share"] == pytest.approx(expected)
    # what the shipped sample holds (issue 8): most test news are new, few news have titles
    assert 0.55 < limits["test_shown_unseen_share"] < 0.75
    assert limits["shown_news_with_title"] < 0.1 * limits["shown_news"]
