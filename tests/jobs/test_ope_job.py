"""``freshrec ope``: a policy learned on the first rounds, judged off-policy on the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freshrec.cli.main import main
from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset
from freshrec.jobs.ope import POLICY_NAMES, build_policy, run_ope_job


def _uniform_log(n: int = 4000, n_items: int = 5, seed: int = 0) -> Dataset:
    """A uniformly random logging policy; item 4 pays 0.5, the others 0.1."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, n_items, n)
    clicks = rng.random(n) < np.where(items == 4, 0.5, 0.1)
    events = EventBatch(
        np.arange(n),
        items,
        clicks.astype(np.float64),
        timestamp=np.arange(n, dtype=np.float64),
        propensity=np.full(n, 1.0 / n_items),
    )
    return Dataset("uniform-log", events)


def test_the_logging_policy_judged_by_ips_is_its_own_mean_reward():
    results = run_ope_job(_uniform_log(), "uniform", n_bootstrap=50)
    on_policy = results.row("logging policy", "on-policy")
    assert results.row("uniform", "ips").value == pytest.approx(on_policy.value, rel=1e-12)


def test_a_policy_that_learned_the_best_item_is_valued_near_that_item_s_reward():
    results = run_ope_job(_uniform_log(), "thompson", n_bootstrap=200)
    for method in ("ips", "snips", "dr"):
        row = results.row("thompson", method)
        assert row.ci95[0] <= row.value <= row.ci95[1]
        assert row.value > 0.35  # near item 4's 0.5; the logging policy earns about 0.18
    assert results.row("logging policy", "on-policy").value < 0.22
    assert results.params["rounds_learned"] == 2000


def test_every_named_policy_can_be_built_and_unknown_ones_are_refused():
    assert all(build_policy(name).get_params() is not None for name in POLICY_NAMES)
    with pytest.raises(ValueError, match="unknown policy 'greedy'"):
        build_policy("greedy")


def test_the_command_refuses_data_without_propensities(tmp_path, capsys):
    code = main(["ope", "--dataset", "synthetic", "--out", str(tmp_path / "x")])
    assert code != 0 and "synthetic has no propensities" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()


def test_the_command_on_the_open_bandit_sample(tmp_path, data_dir):
    out = tmp_path / "ope"
    args = ["ope", "--dataset", "obd-random-all", "--policy", "thompson", "--n-bootstrap", "50"]
    assert main([*args, "--out", str(out), "--data-dir", str(data_dir)]) == 0
    written = json.loads((out / "results.json").read_text())
    assert {row["metric"] for row in written["rows"]} >= {"ips", "snips", "dm", "dr", "on-policy"}
    assert written["params"]["len_list"] == 3 and written["params"]["n_actions"] == 80
    assert (out / "comparison.png").stat().st_size > 0
