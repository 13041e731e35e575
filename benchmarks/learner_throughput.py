"""Learner throughput: ML-1M replayed from a SQLite log through streaming biased MF, guarded.

Usage::

    python benchmarks/learner_throughput.py [--data-dir DIR] [--seeds 0,1,2]
                                            [--checkpoint-every 10000] [--out FILE]

The 1,000,209 ratings of ML-1M in time order, ``event_id`` = row number, are appended to a new
SQLite log (not timed). Per seed, in one process, threads pinned to 1:

- **in memory**: ``BiasedMF(seed)`` learns the same events through the same strategy
  (:class:`~freshrec.update.strategies.Streaming`, micro-batches of 1,000, one epoch each)
  from an in-memory batch: the cost of learning alone.
- **learner**: :class:`~freshrec.live.learner.Learner` on the SQLite log (opened cold) with
  ``BiasedMF(seed)``: reads each micro-batch from the log, learns it, checkpoints every
  ``--checkpoint-every`` events, publishes a candidate every 100,000 events and checks it
  on the next 25,000 with the guard (RMSE against the stable version, churn), promoting or
  rejecting it. Timed from opening the log to the last event learned.

The numba kernels are compiled before the first timed run. Reported: events/s of each and
their ratio (learner over in-memory; the issue's goal is >= 0.5), medians over the seeds,
every run in the JSON. Both models end with the same parameters (the learner learns the same
batches); the script checks it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "learner_throughput.json"
MICRO_BATCH, CANDIDATE_EVERY, GUARD_EVENTS = 1000, 100_000, 25_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"
    import numpy as np

    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.log import Cursor, open_log
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    events = load_dataset("ml-1m", data_dir).events.sort_by_time()
    events = events.with_columns(event_id=np.arange(len(events), dtype=np.int64))
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'ml-1m.db'}"
        with open_log(url) as log:
            log.append(events)
            stored = log.window(Cursor.START)  # the events as the log returns them
        _in_memory(stored[:2000], 0)  # compile the numba kernels before anything is timed
        for seed in (int(s) for s in args.seeds.split(",")):
            memory_s, in_memory = _in_memory(stored, seed)
            learner_s, learned, status = _learner(url, Path(folder) / f"reg{seed}", seed, args)
            same = bool(np.array_equal(in_memory.item_factors_, learned.item_factors_))
            runs.append(
                {
                    "seed": seed,
                    "events": len(stored),
                    "in_memory_s": memory_s,
                    "learner_s": learner_s,
                    "in_memory_events_per_s": len(stored) / memory_s,
                    "learner_events_per_s": len(stored) / learner_s,
                    "ratio": memory_s / learner_s,
                    "promoted": status.promoted,
                    "rejected": status.rejected,
                    "same_parameters": same,
                }
            )
            print(json.dumps(runs[-1]), flush=True)
    summary = {
        key: statistics.median(r[key] for r in runs)
        for key in ("in_memory_events_per_s", "learner_events_per_s", "ratio")
    }
    results = {
        "command": "python benchmarks/learner_throughput.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary(),
        "date": time.strftime("%Y-%m-%d"),
        "settings": {
            "micro_batch": MICRO_BATCH,
            "candidate_every": CANDIDATE_EVERY,
            "guard_events": GUARD_EVENTS,
            "checkpoint_every": args.checkpoint_every,
            "threads": 1,
        },
        "median": summary,
        "runs": runs,
    }
    atomic_write_text(args.out, json.dumps(results, indent=2))
    print(json.dumps(summary))
    print(f"wrote {args.out}")
    return 0


def _in_memory(events: Any, seed: int) -> tuple[float, Any]:
    from freshrec.models import BiasedMF
    from freshrec.update.strategies import Streaming

    model = BiasedMF(seed=seed)
    start = time.perf_counter()
    Streaming(micro_batch=MICRO_BATCH, epochs=1).step(model, events)
    return time.perf_counter() - start, model


def _learner(url: str, registry_dir: Path, seed: int, args: argparse.Namespace) -> Any:
    from freshrec.live import Registry
    from freshrec.live.learner import Learner
    from freshrec.log import open_log
    from freshrec.models import BiasedMF

    start = time.perf_counter()
    learner = Learner(
        open_log(url),
        Registry(registry_dir),
        BiasedMF(seed=seed),
        micro_batch=MICRO_BATCH,
        candidate_every=CANDIDATE_EVERY,
        guard_events=GUARD_EVENTS,
        checkpoint_every=args.checkpoint_every,
    )
    status = learner.run()
    return time.perf_counter() - start, learner.model, status


if __name__ == "__main__":
    raise SystemExit(main())
