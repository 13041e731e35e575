"""Growing a trained SASRec by one block against training the deeper model from scratch.

Usage::

    python benchmarks/sasrec_growth.py [--data-dir DIR] [--seeds 0] [--threads 2]
        [--epochs 24] [--grown-epochs 12] [--lr 0.004] [--out FILE] [--quick]

The data and protocol of ``benchmarks/sequential_ml1m.py``: ML-1M, 5-core, leave-last-out
(``loo-full``), validation NDCG@10 over all items after every epoch. Per seed, four runs, one
after the other in this process (threads pinned to ``--threads``):

1. **small**: SASRec with 1 block, ``--epochs`` epochs, cosine schedule (peak ``--lr``): the
   live model before the structure change (its time is reported, not counted against growth).
2. **grown**: a copy of *small* with a second block appended by
   :func:`freshrec.update.structure.add_block` (identity start: the script checks that every
   score of 500 users is unchanged), then trained on the same training events for
   ``--grown-epochs`` more epochs (``partial_fit([], replay=train)``, the same schedule).
3. **continued** (control): a copy of *small* trained for the same extra epochs without the
   new block, to separate what the block adds from what more training adds.
4. **scratch**: SASRec with 2 blocks trained from scratch for ``--epochs`` epochs.

Each run's validation NDCG@10 is recorded with the wall seconds since the run began (the
epoch log records' timestamps). The goal (issue 19): *grown* reaches *scratch*'s best
validation NDCG@10 in at most 50% of the time *scratch* took to reach it. Test NDCG@10 /
HR@10 (``loo-full``, the validation item observed first) of each final model is reported too.
Results go to ``--out`` (JSON, written atomically after every seed).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "sasrec_growth.json"
N_CHECKED_USERS = 500


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=24, help="epochs of small and scratch")
    parser.add_argument("--grown-epochs", type=int, default=12, help="epochs after growing")
    parser.add_argument("--lr", type=float, default=0.004, help="peak of the cosine schedule")
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true", help="300 users, 2 epochs: a smoke run")
    return parser.parse_args(argv)


class EpochClock(logging.Handler):
    """Collects ``(seconds since start, validation NDCG@10)`` from the training log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.start = time.time()
        self.curve: list[tuple[float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "valid NDCG" in record.msg and isinstance(record.args, tuple):
            self.curve.append((round(record.created - self.start, 1), float(record.args[-1])))


def timed(train: Any) -> dict[str, Any]:
    """Run ``train()`` with an :class:`EpochClock` on the training logger; its curve."""
    logger = logging.getLogger("freshrec.training")
    clock = EpochClock()
    logger.addHandler(clock)
    logger.setLevel(logging.INFO)
    try:
        train()
    finally:
        logger.removeHandler(clock)
    return {"wall_s": round(time.time() - clock.start, 1), "curve": clock.curve}


def first_time_at(curve: list[tuple[float, float]], level: float) -> float | None:
    """Seconds at the first epoch whose validation NDCG@10 reaches ``level``."""
    return next((seconds for seconds, score in curve if score >= level), None)


def run_seed(split: Any, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from freshrec.evaluation.protocols import evaluate_ranking
    from freshrec.models.sasrec import SASRec
    from freshrec.update.structure import add_block

    epochs = 2 if args.quick else args.epochs
    grown_epochs = 1 if args.quick else args.grown_epochs
    recipe = {"lr": args.lr, "lr_schedule": "cosine", "seed": seed}
    runs: dict[str, Any] = {}

    small = SASRec(n_blocks=1, n_epochs=epochs, **recipe)
    runs["small"] = timed(lambda: small.fit(split.train, valid=split.valid))

    users = np.arange(min(N_CHECKED_USERS, small.n_users))
    before = small.score_batch(users)
    grown = copy.deepcopy(small)
    add_block(grown, seed=seed)
    change = float(np.abs(grown.score_batch(users) - before).max())
    print(f"seed {seed}: largest score change from the new block {change:.2e}", flush=True)

    no_events = split.train[:0]
    grown.set_params(n_epochs=grown_epochs)
    runs["grown"] = timed(
        lambda: grown.partial_fit(no_events, valid=split.valid, replay=split.train)
    )
    continued = copy.deepcopy(small).set_params(n_epochs=grown_epochs)
    runs["continued"] = timed(
        lambda: continued.partial_fit(no_events, valid=split.valid, replay=split.train)
    )
    scratch = SASRec(n_blocks=2, n_epochs=epochs, **recipe)
    runs["scratch"] = timed(lambda: scratch.fit(split.train, valid=split.valid))

    for name, model in (
        ("small", small),
        ("grown", grown),
        ("continued", continued),
        ("scratch", scratch),
    ):
        tested = copy.deepcopy(model).observe(split.valid)
        metrics = evaluate_ranking(
            tested,
            split.train,
            split.test,
            k=(10,),
            exclude=[split.valid],
            metrics=("hit", "ndcg"),
            protocol="full",
        )
        runs[name]["test"] = {
            "hr@10": round(float(metrics["hit@10"]), 4),
            "ndcg@10": round(float(metrics["ndcg@10"]), 4),
        }
        runs[name]["best_valid_ndcg"] = max((s for _, s in runs[name]["curve"]), default=None)

    best = runs["scratch"]["best_valid_ndcg"]
    scratch_s = first_time_at(runs["scratch"]["curve"], best)
    grown_s = first_time_at(runs["grown"]["curve"], best)
    return {
        "seed": seed,
        "largest_score_change": change,
        "runs": runs,
        "scratch_best_valid_ndcg": best,
        "scratch_s_to_best": scratch_s,
        "grown_s_to_scratch_best": grown_s,
        "time_ratio": round(grown_s / scratch_s, 3) if grown_s and scratch_s else None,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import numpy as np
    import torch

    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.data.splits import split_by_name
    from freshrec.persist import atomic_write_text

    torch.set_num_threads(args.threads)
    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    events = load_dataset("ml-1m", data_dir=data_dir).events
    if args.quick:
        events = events.take(np.isin(events.user, np.unique(events.user)[:300]))
    split = split_by_name(events, "loo-full")
    out = Path(args.out) if args.out else DEFAULT_OUT
    report: dict[str, Any] = {
        "command": "python benchmarks/sasrec_growth.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "cpu_model": cpu_model(),
        "threads": args.threads,
        "seeds": [],
    }
    for seed in (int(s) for s in args.seeds.split(",")):
        result = run_seed(split, seed, args)
        report["seeds"].append(result)
        atomic_write_text(out, json.dumps(report, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "runs"}), flush=True)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
