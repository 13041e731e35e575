"""Open Bandit Dataset loader: synthetic files for the rules, the shipped logs for the counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from freshrec.data.obd import load_open_bandit
from freshrec.data.registry import load_dataset
from freshrec.errors import DataError

HEADER = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0\n"


def _log(root: Path, rows: list[str]) -> Path:
    folder = root / "bts" / "women"
    folder.mkdir(parents=True)
    (folder / "women.csv").write_text(HEADER + "".join(rows))
    (folder / "item_context.csv").write_text(",item_id,item_feature_0\n0,1,0.5\n")
    return root


def test_bad_click_names_the_row_and_field(tmp_path):
    root = _log(
        tmp_path,
        [
            "0,2019-11-24 00:00:00+00:00,1,1,0,0.5,a,0.1\n",
            "1,2019-11-24 00:00:01+00:00,1,1,x,0.5,a,0.1\n",
        ],
    )
    with pytest.raises(DataError, match="line 3.*click"):
        load_open_bandit(root, "bts", "women")
    lenient = load_open_bandit(root, "bts", "women", mode="lenient")
    assert len(lenient.events) == 1 and lenient.report.n_skipped == 1


def test_unknown_policy_or_campaign_is_refused(tmp_path):
    with pytest.raises(ValueError, match="policy"):
        load_open_bandit(tmp_path, "greedy")
    with pytest.raises(ValueError, match="campaign"):
        load_open_bandit(tmp_path, "bts", "kids")


@pytest.mark.parametrize(
    ("name", "items", "clicks", "low", "high"),
    [
        ("obd-random-all", 80, 38, 0.0125, 0.0125),
        ("obd-random-men", 34, 46, 0.0294118, 0.0294118),
        ("obd-bts-all", 80, 42, 4.5e-05, 0.95424),
        ("obd-bts-women", 46, 46, 1e-06, 0.9628),
    ],
)
def test_shipped_logs_match_their_documented_counts(data_dir, name, items, clicks, low, high):
    data = load_dataset(name, data_dir)
    events = data.events
    assert len(events) == 10_000 and int(events.value.sum()) == clicks
    assert len(np.unique(events.item)) <= items == len(data.items)
    assert events.propensity.min() == pytest.approx(low, rel=1e-5)
    assert events.propensity.max() == pytest.approx(high, rel=1e-5)
    assert set(np.unique(events.context["position"])) == {1.0, 2.0, 3.0}
    assert np.all(np.diff(events.event_id) == 1)
