"""The prequential report: a stream that never settles is not called converged; counts are
whole numbers."""

from __future__ import annotations

import json

import numpy as np
from rich.console import Console

from freshrec.evaluation.prequential import PrequentialResult, convergence_events
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.prequential import write_prequential
from freshrec.jobs.report import Results, rich_table

POSITIONS = np.array([1000, 2000, 3000, 4000, 5000])


def _results(run: PrequentialResult) -> Results:
    rows = [
        ResultRow.from_seeds("bpr", name, [value])
        for name, value in run.summary().figures().items()
    ]
    return Results("prequential", "toy", "prequential (rmse, window 1000, delay 0)", [0], rows)


def test_a_metric_that_only_meets_its_final_value_at_the_end_has_not_converged():
    assert convergence_events(POSITIONS, np.array([1.0, 0.9, 0.8, 0.7, 0.6])) is None
    assert convergence_events(POSITIONS, np.array([1.0, 0.9, 0.8, 0.6, 0.6])) == 4000
    assert convergence_events(POSITIONS[:1], np.array([0.6])) is None


def test_the_report_says_not_converged(tmp_path):
    falling = np.array([1.0, 0.9, 0.8, 0.7, 0.6])
    run = PrequentialResult("rmse", POSITIONS, falling, falling, 0.65, np.full(5, np.nan))
    paths = write_prequential(tmp_path, _results(run), run)
    report = paths[1].read_text()
    assert "**Not converged:**" in report
    rows = json.loads(paths[0].read_text())["rows"]
    assert next(r for r in rows if r["metric"] == "convergence_events")["value"] is None


def test_convergence_prints_as_a_whole_number(tmp_path):
    settled = np.array([1.0, 0.8, 0.6, 0.6, 0.6])
    run = PrequentialResult("rmse", POSITIONS, settled, settled, 0.65, np.full(5, np.nan))
    results = _results(run)
    report = write_prequential(tmp_path, results, run)[1].read_text()
    assert "Not converged" not in report
    assert "| bpr | 0.7200 | 0.7200 | 0.6000 | 0.6500 | -0.0700 | 3,000 | 0.0000 | – |" in report
    console = Console(record=True, width=100)
    console.print(rich_table(results))
    text = console.export_text()
    assert "3,000" in text and "3000.0000" not in text
