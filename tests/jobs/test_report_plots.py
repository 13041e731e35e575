"""comparison.png: one panel per family of metrics, a figure size that reads at a glance."""

from __future__ import annotations

import struct

import pytest

from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results, chart_panels

MODELS = ("popular", "item-knn", "user-knn", "biased-mf", "bpr", "als")
RANKING = ("recall@10", "ndcg@10", "precision@10", "hit@10", "mrr@10", "map@10")


def _row(model: str, metric: str, value: float) -> ResultRow:
    return ResultRow(model, metric, value, (value, value), (value,))


@pytest.fixture
def demo_like() -> Results:
    """What `freshrec demo` reports: six models, ranking and list metrics, RMSE/MAE for one."""
    rows = []
    for j, model in enumerate(MODELS):
        rows += [
            _row(model, metric, 0.05 + 0.03 * j + 0.01 * i) for i, metric in enumerate(RANKING)
        ]
        rows += [
            _row(model, "coverage@10", 0.02 + 0.1 * j),
            _row(model, "novelty@10", 7.0 + 0.8 * j),
            _row(model, "gini@10", 0.99 - 0.1 * j),
        ]
        if model == "biased-mf":
            rows += [_row(model, "rmse", 0.95), _row(model, "mae", 0.75)]
    return Results("demo", "ml-100k", "temporal-user", seeds=[0], rows=rows)


def test_each_family_of_metrics_has_its_own_panel(demo_like: Results) -> None:
    panels = {panel.title: panel.metrics for panel in chart_panels(demo_like)}
    assert panels == {
        "ranking accuracy": RANKING,
        "beyond accuracy": ("coverage@10", "gini@10"),
        "novelty (bits)": ("novelty@10",),
        "rating error": ("rmse", "mae"),
    }


def test_rating_error_is_drawn_apart_with_only_the_models_that_have_it(demo_like: Results) -> None:
    axes = {ax.get_title(): ax for ax in demo_like.figure().axes}
    assert set(axes) == {
        "ranking accuracy",
        "beyond accuracy",
        "novelty (bits)",
        "rating error\n(biased-mf only)",
    }
    rating = axes["rating error\n(biased-mf only)"]
    assert [t.get_text() for t in rating.get_xticklabels()] == ["rmse ↓", "mae ↓"]
    assert len(rating.patches) == 2  # two bars, no empty slots for the five other models
    ranking = axes["ranking accuracy"]
    assert len(ranking.patches) == len(RANKING) * len(MODELS)
    assert "rmse" not in {t.get_text() for t in ranking.get_xticklabels()}
    assert ranking.get_ylim()[1] < 1.0  # its scale is not stretched by RMSE or novelty


def test_the_png_has_a_sensible_size(demo_like: Results) -> None:
    png = demo_like.plot()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert 700 <= width <= 1600 and 400 <= height <= 1200
    assert width / height < 2.0


def test_metrics_outside_the_families_keep_their_own_scale() -> None:
    rows = [_row("a", "compute_s", 120.0), _row("a", "churn", 0.3), _row("a", "ndcg@10", 0.2)]
    panels = chart_panels(Results("arena", "toy", "arena", rows=rows))
    assert [(p.title, p.metrics) for p in panels] == [
        ("ranking accuracy", ("ndcg@10",)),
        ("other", ("churn",)),
        ("compute_s", ("compute_s",)),
    ]


def test_no_results_still_draw() -> None:
    fig = Results("evaluate", "toy", "random").figure()
    assert [ax.texts[0].get_text() for ax in fig.axes] == ["no results"]
