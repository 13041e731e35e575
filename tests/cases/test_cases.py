"""The case studies: quick runs on the real data, the blend utility, per-impression metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from freshrec.cases import CASES, Blend, choose_weights, run_case, search_weights, zscore_rows
from freshrec.cases.common import blend_scores, ranking_objective, simplex_grid
from freshrec.cases.news import _Impressions
from freshrec.cases.social import FriendsHistory
from freshrec.checks import checkerboard_events
from freshrec.cli.main import main
from freshrec.data import EventBatch
from freshrec.models import ItemKNN, MostPopular
from tests.conftest import dataset_dir

EXPECTED_METRICS = {
    "ecommerce": {"hit@10", "ndcg@10", "coverage@10"},
    "news": {"auc", "mrr", "ndcg@5", "ndcg@10"},
    "social": {"recall@10", "ndcg@10", "hit@10", "coverage@10"},
}


def _check_written(out: Path, name: str) -> dict[str, object]:
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0] and results["command"] == f"case {name}"
    assert EXPECTED_METRICS[name] <= {row["metric"] for row in results["rows"]}
    assert {"hybrid"} <= {row["model"] for row in results["rows"]}
    values = [row["value"] for row in results["rows"] if row["metric"] in EXPECTED_METRICS[name]]
    assert values and all(v is not None and math.isfinite(v) for v in values)
    report = (out / "report.md").read_text()
    assert "Blend weights" in report and "| hybrid |" in report
    for png in ("comparison.png", "weights.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    return results


@pytest.mark.parametrize("name", ["news", "social"])
def test_case_quick_run_writes_its_report(name, data_dir, tmp_path):
    dataset_dir(data_dir, CASES[name][1])
    results, written = run_case(name, tmp_path / name, data_dir=data_dir, quick=True)
    assert [p.name for p in written] == [
        "results.json",
        "report.md",
        "comparison.png",
        "weights.png",
    ]
    _check_written(tmp_path / name, name)
    weights = results.extra["blends"]["hybrid"]["weights"]
    assert math.isclose(sum(weights.values()), 1.0)


def test_cli_runs_the_ecommerce_case(data_dir, tmp_path, capsys):
    dataset_dir(data_dir, CASES["ecommerce"][1])
    out = tmp_path / "ecommerce"
    code = main(["case", "ecommerce", "--quick", "--data-dir", str(data_dir), "--out", str(out)])
    assert code == 0
    results = _check_written(out, "ecommerce")
    assert {r["model"] for r in results["rows"]} == {"gru4rec", "caser", "item-knn", "hybrid"}
    printed = capsys.readouterr().out
    assert "hybrid" in printed and "wrote" in printed


def test_cli_unknown_case_is_a_clear_error(tmp_path, capsys):
    assert main(["case", "films", "--out", str(tmp_path)]) == 2
    assert "ecommerce, news, social" in capsys.readouterr().out


# -- blending -------------------------------------------------------------------------------
def test_zscore_rows_centres_and_scales_each_row():
    rng = np.random.default_rng(0)
    scores = rng.normal(3.0, 5.0, size=(4, 50)) * np.arange(1, 5)[:, None]
    z = zscore_rows(scores)
    assert np.allclose(z.mean(axis=1), 0.0) and np.allclose(z.std(axis=1), 1.0)
    assert np.array_equal(np.argsort(z, axis=1), np.argsort(scores, axis=1))


def test_weights_chosen_on_validation_match_or_beat_every_component():
    # two noisy views of the same relevance: together they rank better than either alone
    rng = np.random.default_rng(1)
    n_users, n_items = 200, 60
    truth = rng.normal(size=(n_users, n_items))
    relevant_rows = np.argsort(-truth, axis=1)[:, :3]
    import scipy.sparse as sp

    relevant = sp.csr_matrix(
        (np.ones(relevant_rows.size), (np.repeat(np.arange(n_users), 3), relevant_rows.ravel())),
        shape=(n_users, n_items),
    )
    components = {
        "a": zscore_rows(truth + rng.normal(scale=1.5, size=truth.shape)),
        "b": zscore_rows(10 * truth + rng.normal(scale=15.0, size=truth.shape)),
        "noise": zscore_rows(rng.normal(size=truth.shape)),
    }
    search = search_weights(components, ranking_objective(relevant, k=10), steps=10)
    singles = {name: search.single(name) for name in components}
    assert search.score >= max(singles.values())
    assert search.score > max(singles.values())  # the two views complement each other
    assert search.weight_map()["noise"] <= 0.2
    assert len(search.tried) == len(simplex_grid(3, 10))
    mixed = blend_scores([components[n] for n in search.names], search.weights)
    assert ranking_objective(relevant, k=10)(mixed) == search.score


def test_blend_of_fitted_models_ranks_and_chooses_weights():
    events = checkerboard_events()
    train, valid = events[:150], events[150:]
    models = {"knn": ItemKNN().fit(train), "pop": MostPopular().fit(train)}
    blend = Blend(models).fit(train)
    search = choose_weights(blend, train, valid, steps=5)
    assert search.score >= max(search.single("knn"), search.single("pop"))
    assert blend.weights == search.weight_map()
    scores = blend.score_batch(np.arange(blend.n_users))
    assert scores.shape == (blend.n_users, blend.n_items) and np.isfinite(scores).all()
    only_knn = Blend(models, {"knn": 1.0}).fit(train)
    user = blend.user_map_.decode([0])[0]
    knn_order = [s.item for s in models["knn"].recommend(user, k=5)]
    assert [s.item for s in only_knn.recommend(user, k=5)] == knn_order


def test_friends_history_scores_the_share_of_friends():
    events = EventBatch(np.array([1, 2, 2, 3, 4]), np.array(["a", "b", "c", "b", "d"]), np.ones(5))
    friends = np.array([[1, 2], [1, 3], [2, 1], [4, 1]])
    model = FriendsHistory().fit(events, friends=friends)
    assert model.score(1, ["a", "b", "c", "d"]).tolist() == [0.0, 1.0, 0.5, 0.0]
    assert model.score(3, ["b"]).tolist() == [0.0]  # no friends: nothing to share


# -- per-impression evaluation --------------------------------------------------------------
def test_impressions_are_ranked_within_themselves():
    # impression 1: clicks at ranks 2 and 4 of 4; impression 2: the click ranks first of 2
    events = EventBatch(
        np.array(["u", "u", "u", "u", "v", "v"], dtype=object),
        np.array(["n1", "n2", "n3", "n4", "n2", "n5"], dtype=object),
        np.array([0, 1, 0, 1, 1, 0]),
        context={"impression_id": np.array([1, 1, 1, 1, 2, 2])},
    )
    shown = _Impressions(events)
    assert shown.items.shape == (2, 4) and shown.labels[1].tolist() == [1, 0, -1, -1]
    scores = np.array([[0.4, 0.3, 0.2, 0.1], [0.9, 0.1, 0.0, 0.0]])
    result = shown.metrics(scores)
    assert result["n_impressions"] == 2
    assert result["auc"] == pytest.approx((0.25 + 1.0) / 2)
    assert result["mrr"] == pytest.approx(((1 / 2 + 1 / 4) / 2 + 1.0) / 2)
    ndcg_1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert result["ndcg@10"] == pytest.approx((ndcg_1 + 1.0) / 2)
    assert shown.mean_auc(scores) == pytest.approx(0.625)
