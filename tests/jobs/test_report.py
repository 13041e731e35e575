"""Results: results.json shape, report.md table, comparison.png, rich table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console

import freshrec
from freshrec.evaluation.results import ResultRow, rows_from_seeds
from freshrec.jobs.report import Results, rich_table

DESIGN_KEYS = [
    "command",
    "dataset",
    "protocol",
    "freshrec_version",
    "seeds",
    "rows",
    "timing",
    "params",
    "machine",
]


@pytest.fixture
def results() -> Results:
    rows = rows_from_seeds(
        "sasrec",
        [
            {"ndcg@10": 0.1641, "hit@10": 0.30, "novelty@10": 9.1, "n_users": 6040},
            {"ndcg@10": 0.1662, "hit@10": 0.31, "novelty@10": 9.3, "n_users": 6040},
            {"ndcg@10": 0.1647, "hit@10": 0.32, "novelty@10": 9.2, "n_users": 6040},
        ],
    )
    rows += rows_from_seeds(
        "popular",
        [
            {"ndcg@10": 0.05, "hit@10": 0.10, "novelty@10": 5.0},
            {"ndcg@10": 0.05, "hit@10": 0.10, "novelty@10": 5.0},
            {"ndcg@10": 0.05, "hit@10": 0.10, "novelty@10": 5.0},
        ],
    )
    return Results(
        command="evaluate",
        dataset="ml-1m",
        protocol="loo-full",
        seeds=[0, 1, 2],
        rows=rows,
        timing={"fit_s": 812.4, "eval_s": 31.0},
        params={"sasrec": {"n_layers": 2}},
    )


def test_to_dict_has_design_shape(results: Results) -> None:
    data = results.to_dict()
    assert list(data) == DESIGN_KEYS  # "extra" only when non-empty
    assert data["freshrec_version"] == freshrec.__version__
    assert data["seeds"] == [0, 1, 2]
    assert data["timing"] == {"fit_s": 812.4, "eval_s": 31.0}
    assert data["params"] == {"sasrec": {"n_layers": 2}}
    assert isinstance(data["machine"], str) and data["machine"]
    row = data["rows"][0]
    assert list(row) == ["model", "metric", "value", "ci95", "per_seed"]
    assert row["model"] == "sasrec" and row["metric"] == "ndcg@10"
    assert row["value"] == pytest.approx(0.165)
    assert row["per_seed"] == [0.1641, 0.1662, 0.1647]
    low, high = row["ci95"]
    assert low < row["value"] < high
    assert [r["metric"] for r in data["rows"]] == ["ndcg@10", "hit@10", "novelty@10"] * 2


def test_extra_and_nan_are_json_safe(results: Results) -> None:
    results.extra = {"split": {"train": 10}}
    results.rows.append(ResultRow.from_seeds("broken", "ndcg@10", [math.nan]))
    data = results.to_dict()
    assert data["extra"] == {"split": {"train": 10}}
    text = json.dumps(data, allow_nan=False)  # NaN would be invalid JSON
    assert json.loads(text)["rows"][-1]["value"] is None


def test_write_creates_every_file(results: Results, tmp_path: Path) -> None:
    paths = results.write(tmp_path / "out")
    assert [p.name for p in paths] == ["results.json", "report.md", "comparison.png"]
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    data = json.loads(paths[0].read_text())
    assert data == json.loads(json.dumps(results.to_dict()))
    png = paths[2].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temp files


def test_report_md_contains_the_table(results: Results, tmp_path: Path) -> None:
    report = results.write(tmp_path)[1].read_text()
    assert "| model | ndcg@10 | hit@10 | novelty@10 |" in report
    sasrec_line = next(line for line in report.splitlines() if line.startswith("| sasrec |"))
    assert "0.1650 ± 0.0027" in sasrec_line
    # identical seeds: a zero-width interval
    assert "| popular | 0.0500 ± 0.0000 | 0.1000 ± 0.0000 | 5.0000 ± 0.0000 |" in report
    assert "| fit_s | 812.40 |" in report and "loo-full" in report
    assert "comparison.png" in report


def test_roundtrip_through_json(results: Results, tmp_path: Path) -> None:
    path = results.write(tmp_path)[0]
    back = Results.from_dict(json.loads(path.read_text()))
    assert back.rows == results.rows
    assert back.models == ["sasrec", "popular"]
    assert back.to_dict() == results.to_dict()


def test_empty_results_still_write(tmp_path: Path) -> None:
    paths = Results("evaluate", "toy", "random").write(tmp_path)
    assert "_No results._" in paths[1].read_text()
    assert paths[2].read_bytes().startswith(b"\x89PNG")


def test_single_seed_rows_have_no_interval(tmp_path: Path) -> None:
    rows = rows_from_seeds("pop", [{"recall@10": 0.25, "n_users": 3}])
    assert rows == [ResultRow("pop", "recall@10", 0.25, (0.25, 0.25), (0.25,))]
    report = Results("evaluate", "toy", "random", seeds=[0], rows=rows).to_markdown()
    assert "| pop | 0.2500 |" in report


def test_rich_table(results: Results) -> None:
    table = rich_table(results)
    assert [c.header for c in table.columns] == ["metric", *results.models]
    assert table.row_count == 3
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "sasrec" in text and "0.1650 ± 0.0027" in text and "eval_s" in text
