"""The replay method on MIND impressions, and why its estimates there are biased.

Usage::

    python benchmarks/replay_mind.py [--data-dir DIR] [--out FILE]

The replay method (Li et al., WSDM 2011) is unbiased only for a log whose action was drawn
uniformly at random from the candidates. MIND's impressions are shortlists that the news
service chose, with no propensities. This script applies the method as it is often applied
to such logs and measures how far the log is from its premise:

1. **Rounds**: every shown news of ``mind-small-sample`` is one logged round, in time order
   (action: the news; reward: its click; candidates: every news shown anywhere in the
   sample; propensity assumed uniform, as the method requires).
2. **Policies**, deterministic, each picking one news of the catalogue per round: *popular*
   (most clicks in the earlier rounds, ties by id) and *random* (a fixed seeded draw per
   round, seed 0). Replay keeps the rounds where the policy's pick is the logged news; the
   estimate is their mean click.
3. **Premise checks**: the matched rounds against the number expected from a uniformly
   random log (rounds / catalogue size), and how concentrated the shows are (share of shows
   of the most shown 1% of news; a uniform log would give about 1%).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "replay_mind.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    events = load_dataset("mind-small-sample", data_dir).events.sort_by_time()
    items, actions = np.unique(events.item, return_inverse=True)
    rewards = events.value
    n_rounds, n_items = len(actions), len(items)
    picks = {"popular": popular_picks(actions, rewards, n_items), "random": None}
    picks["random"] = np.random.default_rng(0).integers(0, n_items, n_rounds)
    result: dict[str, Any] = {
        "command": "python benchmarks/replay_mind.py",
        "rounds": n_rounds,
        "catalogue": n_items,
        "click_rate_of_the_log": float(rewards.mean()),
        "uniform_log_expected_matches": n_rounds / n_items,
        "top_1pct_share_of_shows": top_share(actions, n_items, 0.01),
        "policies": {},
        "machine": machine_summary(),
    }
    for name, chosen in picks.items():
        matched = chosen == actions
        result["policies"][name] = {
            "replay_estimate": float(rewards[matched].mean()) if matched.any() else None,
            "matched_rounds": int(matched.sum()),
            "matched_over_uniform_expectation": float(matched.sum() / (n_rounds / n_items)),
        }
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def popular_picks(actions: np.ndarray, rewards: np.ndarray, n_items: int) -> np.ndarray:
    """The most clicked news of the earlier rounds at each round (ties: lowest index)."""
    clicks = np.zeros(n_items)
    out = np.empty(len(actions), np.int64)
    for t, (action, reward) in enumerate(zip(actions.tolist(), rewards.tolist(), strict=True)):
        out[t] = int(np.argmax(clicks))
        clicks[action] += reward
    return out


def top_share(actions: np.ndarray, n_items: int, share: float) -> float:
    """The share of shows that go to the most shown ``share`` of the catalogue."""
    shows = np.sort(np.bincount(actions, minlength=n_items))[::-1]
    return float(shows[: max(1, int(round(share * n_items)))].sum() / shows.sum())


if __name__ == "__main__":
    sys.exit(main())
