"""Structure changes, measured: int8 rows, function-preserving widening, migration MF -> NeuMF.

Usage::

    python benchmarks/structure_ops.py [--data-dir DIR] [--seeds 0,1,2] [--threads 1]
        [--parts quantize,widen,migrate] [--out FILE]

Protocol (one split per dataset, fixed with seed 0; model seeds vary):

1. **quantize** (ML-1M, RecBole protocol: ratings >= 3, per-user random 8:1:1): BPR with its
   defaults (64 factors, 100 epochs) fitted on train; test NDCG@10 (full ranking, train and
   validation items masked) before and after ``freshrec.update.structure.quantize_embeddings``
   (int8 rows + one float32 scale per row). Bytes: float32 user+item tables vs the int8 form
   with its scales.
2. **widen** (same split): BPR with 32 factors fitted on train (100 epochs). Widened to 64
   with ``widen_factors``: the largest absolute score change over every (user, item) pair.
   Then both the narrow and the widened model continue on the training events for 20 more
   epochs (``partial_fit`` with ``replay=train``), each with the step size of
   ``FINETUNE_LRS`` that gives it the best validation NDCG@10 (the same grid, so the same
   tuning budget, for both); test NDCG@10 of each at its chosen step. ``--widen-epochs``
   and ``--widen-lrs`` change the budget and the grid (results under
   ``widen_<epochs>_epochs`` when the epochs differ from 20).
3. **migrate** (ML-100K, temporal-user split with the last 20% of each user's training events
   as validation): NeuMF (32 factors, hidden (64, 32), the library defaults otherwise) for a
   fixed budget of ``MIGRATE_EPOCHS`` epochs, validation NDCG@10 after each, from (a) random
   initialisation and (b) GMF tables migrated (``migrate_embeddings``, by id) from a BPR
   with 32 factors fitted on the same training events. Reported: the epoch at which (a)
   reaches its best validation NDCG@10, the first epoch at which (b) reaches that value, and
   their ratio (the bar: <= 50%).

Results per seed and their means are written atomically to ``--out`` after each part (the
parts not run keep their earlier results there); a summary goes to stdout. Threads are
pinned with ``freshrec.threads.pin_threads``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "structure_ops.json"
MIGRATE_EPOCHS = 30

FINETUNE_LRS = (0.03, 0.01, 0.003)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parts", default="quantize,widen,migrate")
    parser.add_argument("--widen-epochs", type=int, default=20)
    parser.add_argument("--widen-lrs", default=",".join(str(lr) for lr in FINETUNE_LRS))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from freshrec.threads import pin_threads

    pin_threads(args.threads)
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    seeds = [int(s) for s in args.seeds.split(",")]
    report: dict[str, Any] = {
        "command": "python benchmarks/structure_ops.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + f", {args.threads} thread(s)",
        "date": time.strftime("%Y-%m-%d"),
    }
    parts = args.parts.split(",")
    if Path(args.out).is_file():  # keep the parts not run this time
        previous = json.loads(Path(args.out).read_text())
        report = {**previous, **report}
        report["command"] = f"{previous['command']} ; {report['command']}"
    if {"quantize", "widen"} & set(parts):
        from freshrec.data.splits import random_split

        events = load_dataset("ml-1m", data_dir, min_rating=3.0).events
        split = random_split(events, seed=0)
        if "quantize" in parts:
            report["quantize"] = summarize([quantize_run(split, seed) for seed in seeds])
            _write(atomic_write_text, args.out, report)
        if "widen" in parts:
            lrs = tuple(float(lr) for lr in args.widen_lrs.split(","))
            runs = [widen_run(split, seed, args.widen_epochs, lrs) for seed in seeds]
            key = "widen" if args.widen_epochs == 20 else f"widen_{args.widen_epochs}_epochs"
            report[key] = summarize(runs)
            _write(atomic_write_text, args.out, report)
    if "migrate" in parts:
        from freshrec.data.splits import temporal_user_split

        events = load_dataset("ml-100k", data_dir).events
        outer = temporal_user_split(events)
        inner = temporal_user_split(outer.train)
        report["migrate"] = summarize([migrate_run(inner.train, inner.test, s) for s in seeds])
        _write(atomic_write_text, args.out, report)
    print(json.dumps({k: v.get("mean") for k, v in report.items() if isinstance(v, dict)}))
    return 0


def test_ndcg(model: Any, split: Any) -> float:
    from freshrec.evaluation.protocols import evaluate_ranking

    result = evaluate_ranking(
        model, split.train, split.test, k=10, exclude=[split.valid], metrics=("ndcg",)
    )
    return float(result["ndcg@10"])


def quantize_run(split: Any, seed: int) -> dict[str, float]:
    from freshrec.models.bpr import BPR
    from freshrec.update.structure import quantize_embeddings

    model = BPR(threshold=3.0, seed=seed).fit(split.train)
    fp32_bytes = sum(model.table_nbytes().values())
    before = test_ndcg(model, split)
    after = test_ndcg(quantize_embeddings(model), split)
    int8_bytes = sum(model.table_nbytes().values())
    return {
        "seed": seed,
        "ndcg_fp32": before,
        "ndcg_int8": after,
        "relative_drop": (before - after) / before,
        "bytes_fp32": fp32_bytes,
        "bytes_int8": int8_bytes,
        "bytes_ratio": int8_bytes / fp32_bytes,
    }


def widen_run(
    split: Any, seed: int, more_epochs: int = 20, lrs: tuple[float, ...] = FINETUNE_LRS
) -> dict[str, Any]:
    from freshrec.models.bpr import BPR
    from freshrec.models.torch.training import ValidationNDCG
    from freshrec.update.structure import widen_factors

    narrow = BPR(n_factors=32, threshold=3.0, seed=seed).fit(split.train)
    users = np.arange(narrow.n_users)
    scores = narrow.score_batch(users)
    widened = widen_factors(copy.deepcopy(narrow), 64, seed=seed)
    change = float(np.abs(widened.score_batch(users) - scores).max())
    out: dict[str, Any] = {"seed": seed, "max_score_change": change}
    out["ndcg_before"] = test_ndcg(narrow, split)
    for name, start in (("narrow", narrow), ("widened", widened)):
        tried = {}
        for lr in lrs:
            model = copy.deepcopy(start).set_params(n_epochs=more_epochs, lr=lr)
            model.partial_fit(split.train[:0], replay=split.train)
            tried[lr] = (ValidationNDCG(model, split.valid)(), model)
        best = max(tried, key=lambda lr: tried[lr][0])
        out[f"valid_{name}_by_lr"] = {str(lr): round(v, 4) for lr, (v, _) in tried.items()}
        out[f"lr_{name}"] = best
        out[f"ndcg_{name}_finetuned"] = test_ndcg(tried[best][1], split)
    return out


def migrate_run(train: Any, valid: Any, seed: int) -> dict[str, float]:
    from freshrec.models.bpr import BPR
    from freshrec.models.neumf import NeuMF
    from freshrec.update.structure import migrate_embeddings

    def neumf() -> NeuMF:
        return NeuMF(n_factors=32, n_epochs=MIGRATE_EPOCHS, patience=MIGRATE_EPOCHS, seed=seed)

    scratch = neumf().fit(train, valid=valid).history_.valid_ndcg
    source = BPR(n_factors=32, seed=seed).fit(train)
    migrated = neumf().set_params(n_epochs=0).fit(train)
    migrate_embeddings(source, migrated, {"user_factors_": "user_gmf", "item_factors_": "item_gmf"})
    migrated.set_params(n_epochs=MIGRATE_EPOCHS)
    curve = migrated.partial_fit(train[:0], replay=train, valid=valid).history_.valid_ndcg
    best_epoch = int(np.argmax(scratch)) + 1
    reached = [e + 1 for e, v in enumerate(curve) if v >= max(scratch)]
    return {
        "seed": seed,
        "scratch_best_ndcg": float(max(scratch)),
        "scratch_best_epoch": best_epoch,
        "migrated_best_ndcg": float(max(curve)),
        "migrated_epoch_to_scratch_best": reached[0] if reached else None,
        "epoch_ratio": reached[0] / best_epoch if reached else None,
        "scratch_curve": [round(v, 4) for v in scratch],
        "migrated_curve": [round(v, 4) for v in curve],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and k != "seed"]
    mean = {}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        mean[key] = float(np.mean(values)) if len(values) == len(runs) else None
    return {"runs": runs, "mean": mean}


def _write(write: Any, out: str, report: dict[str, Any]) -> None:
    write(Path(out), json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
