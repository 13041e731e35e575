"""Recovery after an abrupt drift: drift-triggered updating against a fixed schedule.

Usage::

    python benchmarks/drift_recovery.py [--seeds 0,1,2] [--out FILE] [--quick]

Protocol, per seed:

1. **Stream** (``freshrec.data.drifting.drifting_stream``): 1,000 users, 500 items,
   420,000 events whose items follow the users' tastes (``taste_choice=2``); an abrupt drift
   at event 220,000 re-draws the tastes of 60% of the users.
2. **Model**: BPR (32 factors, the settings below) fitted on the first 20,000 events.
3. **Windows** of 2,000 events after that (200 windows, the drift starting window 100),
   prequential: the current model ranks all items for every user of the window (nothing
   masked: users come back to items) and NDCG@10 is scored against the items they take in
   the window; then the strategy sees the window.
4. **Update**: both strategies use the same one, a full retrain from scratch on the latest
   20,000 events (a sliding window), so every update costs the same.
   - *drift-triggered* (``OnDrift(action="full", burst=B, spacing=S)``): Page-Hinkley (the
     library default) on blocks of 50 top-10 misses; an alarm starts ``B`` retrains ``S``
     windows apart, the first at once. Two policies: ``follow-up`` (B=2, S=11: now, and
     again once the sliding window holds only events after the alarm) and ``burst``
     (B=12, S=1: every window for 12 windows).
   - *fixed schedule* (``FullRetrain(every=E, offset=o)``): ``E`` = the number of windows
     over the drift-triggered run's number of retrains, rounded down (so it retrains at
     least as often: the same or more compute); the drift falls at an unknown point of a
     fixed schedule, so it runs at four phases ``o`` = 0, E/4, E/2, 3E/4 and its recovery
     is their median.
5. **Recovery**: the pre-drift level is the strategy's mean NDCG@10 over the 10 windows
   before the drift; a strategy has recovered at the end of the first window after the
   drift whose NDCG@10 reaches it. Events from the drift to that point (``None``: not
   within the stream, counted as its remaining length in the ratios, which are then lower
   bounds). The bar: fixed / drift-triggered >= 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "drift_recovery.json"
STREAM = {"n_users": 1000, "n_items": 500, "n_events": 420_000, "taste_choice": 2.0}
DRIFT_AT, SHARE, WARM, WINDOW = 220_000, 0.6, 20_000, 2_000
BPR_PARAMS = {"n_factors": 32, "n_epochs": 30, "lr": 0.05, "l2": 0.001}
RETRAIN_EVENTS = 20_000
POLICIES = {"follow-up": {"burst": 2, "spacing": 11}, "burst": {"burst": 12, "spacing": 1}}
PRE_WINDOWS = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--quick", action="store_true", help="a small stream, to check the script")
    args = parser.parse_args(argv)
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    sizes = _sizes(args.quick)
    runs = [run_seed(int(seed), sizes) for seed in args.seeds.split(",")]
    summary = {}
    for policy in POLICIES:
        triggered = [r[policy]["drift-triggered"]["recovery_events"] for r in runs]
        fixed = [r[policy]["fixed schedule"]["recovery_events"] for r in runs]
        summary[policy] = {
            "drift-triggered recovery events, per seed": triggered,
            "fixed schedule recovery events (median of phases), per seed": fixed,
            "ratio per seed": [round(f / t, 2) for f, t in zip(fixed, triggered, strict=True)],
            "median ratio": round(
                statistics.median(f / t for f, t in zip(fixed, triggered, strict=True)), 2
            ),
        }
    report = {
        "command": "python benchmarks/drift_recovery.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary(),
        "date": time.strftime("%Y-%m-%d"),
        "settings": {**sizes, "bpr": BPR_PARAMS, "retrain_events": RETRAIN_EVENTS,
                     "policies": POLICIES, "share": SHARE},
        "runs": runs,
        "summary": summary,
    }  # fmt: skip
    out = Path(args.out)
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"stream": {**STREAM, "n_events": 100_000}, "drift_at": 60_000, "warm": 20_000,
                "window": 2_000}  # fmt: skip
    return {"stream": STREAM, "drift_at": DRIFT_AT, "warm": WARM, "window": WINDOW}


def _page_hinkley() -> Any:
    """The detector of the measured runs (OnDrift's default until issue 18)."""
    from freshrec.drift.detectors import RiverDetector

    return RiverDetector("page-hinkley", threshold=1.0, delta=0.02, mode="up")


def run_seed(seed: int, sizes: dict[str, Any]) -> dict[str, Any]:
    """Each policy and its fixed schedule on one seed's stream."""
    from freshrec.data.drifting import Drift, drifting_stream
    from freshrec.models.bpr import BPR
    from freshrec.update.strategies import FullRetrain, OnDrift

    stream = drifting_stream(
        **sizes["stream"], drifts=[Drift("abrupt", at=sizes["drift_at"], share=SHARE)], seed=seed
    )
    events = stream.events
    base = BPR(**BPR_PARAMS, seed=seed).fit(events[: sizes["warm"]])
    n_windows = (len(events) - sizes["warm"]) // sizes["window"]
    out: dict[str, Any] = {"seed": seed}
    for policy, params in POLICIES.items():
        triggered = OnDrift(
            action="full", window=RETRAIN_EVENTS, detector=_page_hinkley, block=50, **params
        )
        runs = {"drift-triggered": _replay(base, triggered, events, sizes, n_windows)}
        every = max(1, n_windows // max(runs["drift-triggered"]["updates"], 1))
        phases = [
            _replay(base, FullRetrain(every, RETRAIN_EVENTS, offset=o), events, sizes, n_windows)
            for o in sorted({0, every // 4, every // 2, 3 * every // 4})
        ]
        runs["fixed schedule"] = {
            "every": every,
            "recovery_events": statistics.median(p["recovery_events"] for p in phases),
            "phases": phases,
        }
        out[policy] = runs
        print(
            f"seed {seed} {policy}: drift-triggered {runs['drift-triggered']['recovery_events']}"
            f" events ({runs['drift-triggered']['updates']} retrains), fixed every {every}: "
            f"{[p['recovery_events'] for p in phases]}",
            flush=True,
        )
    return out


def _replay(
    base: Any, strategy: Any, events: Any, sizes: dict[str, Any], n_windows: int
) -> dict[str, Any]:
    import copy

    from freshrec.data.batch import EventBatch
    from freshrec.evaluation.protocols import evaluate_ranking

    model = copy.deepcopy(base)
    warm, window = sizes["warm"], sizes["window"]
    strategy.prime(events[:warm])
    ndcg, updated, seconds = [], [], 0.0
    for index in range(n_windows):
        batch = events[warm + index * window : warm + (index + 1) * window]
        result = evaluate_ranking(model, EventBatch.empty(), batch, k=10, metrics=("ndcg",))
        ndcg.append(round(float(result["ndcg@10"]), 4))
        report = strategy.step(model, batch)
        if report.trained:
            updated.append(index)
        seconds += report.seconds
    drift_window = (sizes["drift_at"] - warm) // window
    before = ndcg[drift_window - PRE_WINDOWS : drift_window]
    level = sum(before) / len(before)
    recovered = next((i for i in range(drift_window + 1, n_windows) if ndcg[i] >= level), None)
    end = warm + (n_windows if recovered is None else recovered + 1) * window
    return {
        "ndcg@10": ndcg,
        "pre_drift_ndcg@10": round(level, 4),
        "post_drift_low": min(ndcg[drift_window:]),
        "updates": len(updated),
        "update_windows": updated,
        "compute_s": round(seconds, 2),
        "drift_window": drift_window,
        "recovered": recovered is not None,
        "recovery_events": end - sizes["drift_at"],
    }


if __name__ == "__main__":
    sys.exit(main())
