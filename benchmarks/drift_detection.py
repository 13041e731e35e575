"""Drift detection on synthetic streams with a known abrupt drift: delay and false alarms.

Usage::

    python benchmarks/drift_detection.py [--seeds 10,...,19] [--out FILE]

Protocol, per seed:

1. **Streams** (``freshrec.data.drifting.drifting_stream``; 1,000 users, 500 items):
   a *drift stream* of 200,000 events with an abrupt drift at event 100,000 that re-draws
   the tastes of 50% of the users, and a *drift-free stream* of 220,000 events (another
   seed).
2. **Signal**: the absolute error of an online biased MF that predicts each rating before
   learning it (``freshrec.drift.error_stream``; river's ML-100K settings: 10 factors,
   SGD 0.05 / 0.025, no L2). The first 20,000 events (the model's burn-in) are not watched.
3. **Detectors** (``freshrec.drift.RiverDetector`` over river 0.26), each reading the
   signal event by event or as means of blocks of 50 events (``alarms(..., block=50)``).
   The first one was chosen on seeds 0-3 (never used here) from ADWIN (delta 0.002,
   1e-4) and Page-Hinkley (threshold 1 or 2, delta 0.02 or 0.05) on blocks of 50 and 100;
   the others are river's defaults, for reference.
4. **Scores** (``freshrec.drift.score_alarms``): the delay from the drift to the first
   alarm after it (missed when none); false alarms per 100,000 events on the watched part
   of the drift-free stream (200,000 events). Median delay over seeds; detection rate;
   mean false-alarm rate.
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
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "drift_detection.json"
BURN_IN = 20_000
DRIFT_AT = 100_000
DETECTORS: list[tuple[str, str, dict[str, Any], int]] = [
    ("page-hinkley up, blocks of 50 (chosen)", "page-hinkley",
     {"threshold": 1.0, "delta": 0.02, "mode": "up"}, 50),
    ("adwin (river defaults), per event", "adwin", {}, 1),
    ("page-hinkley up (river defaults), per event", "page-hinkley", {"mode": "up"}, 1),
    ("kswin (river defaults), blocks of 50", "kswin", {"seed": 0}, 50),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=",".join(str(s) for s in range(10, 20)))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    from freshrec.data.drifting import Drift, drifting_stream
    from freshrec.drift import RiverDetector, alarms, error_stream, score_alarms
    from freshrec.jobs.report import machine_summary
    from freshrec.models.biased_mf import BiasedMF
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    settings = {"n_factors": 10, "lr": 0.05, "bias_lr": 0.025, "l2": 0.0, "l2_latent": 0.0}
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in DETECTORS}
    for seed in seeds:
        drift = Drift("abrupt", at=DRIFT_AT, share=0.5)
        stream = drifting_stream(n_events=200_000, drifts=[drift], seed=seed)
        quiet = drifting_stream(n_events=220_000, seed=1000 + seed)
        errors = error_stream(BiasedMF(**settings, seed=seed), stream.events)[BURN_IN:]
        calm = error_stream(BiasedMF(**settings, seed=seed), quiet.events)[BURN_IN:]
        for label, name, params, block in DETECTORS:
            found = alarms(RiverDetector(name, **params), errors, block=block) + BURN_IN
            score = score_alarms(found, [DRIFT_AT], 200_000)
            false = len(alarms(RiverDetector(name, **params), calm, block=block))
            runs[label].append(
                {"seed": seed, "delay": score.delays[0], "false_per_100k": false * 1e5 / len(calm)}
            )
            print(label, runs[label][-1], flush=True)
    summary = {}
    for label, rows in runs.items():
        delays = [r["delay"] for r in rows if r["delay"] is not None]
        summary[label] = {
            "median_delay": statistics.median(delays) if delays else None,
            "detected": f"{len(delays)}/{len(rows)}",
            "false_alarms_per_100k": statistics.fmean(r["false_per_100k"] for r in rows),
        }
        print(label, summary[label])
    report = {
        "command": "python benchmarks/drift_detection.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + ", 1 thread",
        "date": time.strftime("%Y-%m-%d"),
        "seeds": seeds,
        "summary": summary,
        "runs": runs,
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
