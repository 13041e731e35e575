"""HSTU and SASRec on MovieLens-1M under the HSTU paper's protocol (``loo-hstu``).

Usage::

    python benchmarks/hstu_ml1m.py [--models hstu,sasrec] [--seeds 0,1,2] [--data-dir DIR]
        [--threads 2] [--device cpu] [--set hstu.lr=0.004 ...] [--checkpoints DIR]
        [--out FILE] [--quick]

1. **Data** (``freshrec.data.splits``, protocol ``loo-hstu``): every ML-1M rating is an
   event (no k-core filter: 6,040 users, 3,706 items); per user, events in time order; the
   last is the test target, the one before it the validation target.
2. **Fit** on train with early stopping on the validation NDCG@10; then ``observe(valid)`` so
   the test input ends with the validation item. Each fit saves a checkpoint after every
   epoch in ``--checkpoints/<model>-seed<N>`` (``TorchRecommender.checkpoint_to``): run the
   same command again after a stopped process and each unfinished fit resumes after its
   last epoch (finished runs already in ``--out`` are kept and skipped).
3. **Score**: full ranking over all items, masking each user's latest 200 history items
   (train + validation), as the reference code does; HR@10 and NDCG@10 over all users.
4. **Output**: per (model, seed) the metrics, the fit seconds of this process (and the epoch
   it resumed from), epochs and the validation curve; mean/min/max per model; written
   atomically to ``--out`` after every fit; a Markdown table on stdout. Threads are pinned.

``hstu-large`` is ``hstu`` with ``n_blocks=8, n_heads=2`` (the paper's HSTU-large).
``--quick`` runs 300 users for 2 epochs, to check the harness in a minute.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "hstu_ml1m.json"
DEFAULT_CHECKPOINTS = Path("/tmp/freshrec-checkpoints")
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "hstu": ("hstu", {}),
    "hstu-large": ("hstu", {"n_blocks": 8, "n_heads": 2}),
    "sasrec": ("sasrec", {}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="hstu,sasrec", help=f"of {sorted(PRESETS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--set", action="append", default=[], help="model.param=value")
    parser.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINTS))
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    events, split, masked = load_loo_hstu(args.threads, args.data_dir, args.quick)
    import numpy as np
    import torch

    from freshrec.config import model_params, parse_overrides
    from freshrec.models import REGISTRY
    from freshrec.models.torch.precision import bf16_support
    from freshrec.persist import atomic_write_text

    counts = {
        "users": int(len(np.unique(split.test.user))),
        "items": int(len(np.unique(events.item))),
        "events": int(len(events)),
    }
    print(f"data: {counts}", flush=True)
    overrides = parse_overrides(args.set)
    out = Path(args.out) if args.out else DEFAULT_OUT
    if args.quick and not args.out:
        out = Path("/tmp/hstu_ml1m_quick.json")
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    report: dict[str, Any] = {
        "command": "python benchmarks/hstu_ml1m.py " + " ".join(argv or sys.argv[1:]),
        "protocol": "loo-hstu (every rating, leave-one-out, full ranking, latest 200 masked)",
        "counts": counts,
        "machine": machine(args.threads),
        "cpu_model": cpu_model(),
        "bf16_support": bf16_support(device),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "runs": [],
    }
    if out.is_file() and not args.quick:
        report["runs"] = json.loads(out.read_text())["runs"]
    done = {(run["model"], run["seed"]) for run in report["runs"]}
    for preset in args.models.split(","):
        name, preset_params = PRESETS[preset]
        for seed in (int(s) for s in args.seeds.split(",")):
            if (preset, seed) in done:
                continue
            base = {"seed": seed, "device": args.device, **preset_params}
            params = model_params(preset, REGISTRY[name], overrides, base=base)
            if args.quick:
                params["n_epochs"] = 2
            folder = Path(args.checkpoints) / f"{preset}-seed{seed}"
            model = REGISTRY[name](**params).checkpoint_to(folder)
            resumed_from = _epochs_saved(folder)
            start = time.perf_counter()
            model.fit(split.train, valid=split.valid)
            fit_s = time.perf_counter() - start
            model.observe(split.valid)
            run = {
                "model": preset,
                "seed": seed,
                "command": report["command"],
                "threads": args.threads,
                "params": model.get_params(),
                "fit_s_this_process": round(fit_s, 1),
                "resumed_after_epoch": resumed_from,
                "epochs_run": len(model.history_.loss),
                "best_epoch": model.history_.best_epoch,
                "valid_ndcg": [round(v, 4) for v in model.history_.valid_ndcg],
                **score_loo_hstu(model, split, masked),
            }
            print(json.dumps(run), flush=True)
            report["runs"].append(run)
            report["summary"] = summarize(report["runs"])
            atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(table(report.get("summary", {})))
    return 0


_METRICS = {"hr@10": "hit@10", "ndcg@10": "ndcg@10"}


def load_loo_hstu(threads: int, data_dir: str | None, quick: bool) -> tuple[Any, Any, Any]:
    """Pin ``threads``, load ML-1M (its first 300 users with ``quick``) and split it by
    ``loo-hstu``: ``(events, split, masked)``, ``masked`` each user's latest 200 train +
    validation events (the items a test ranking leaves out)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import numpy as np
    import torch

    from freshrec.cli.options import default_data_dir
    from freshrec.data.batch import EventBatch
    from freshrec.data.registry import load_dataset
    from freshrec.data.splits import HSTU_WINDOW, latest_per_user, split_by_name

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    folder = default_data_dir(Path(data_dir) if data_dir else None)
    events = load_dataset("ml-1m", data_dir=folder).events
    if quick:
        events = events.take(np.isin(events.user, np.unique(events.user)[:300]))
    split = split_by_name(events, "loo-hstu")
    masked = latest_per_user(EventBatch.concat([split.train, split.valid]), HSTU_WINDOW)
    return events, split, masked


def score_loo_hstu(model: Any, split: Any, masked: Any) -> dict[str, float]:
    """Test HR@10 and NDCG@10 of ``model`` under ``loo-hstu`` (full ranking, ``masked`` left
    out), rounded to 4 digits."""
    from freshrec.evaluation.protocols import evaluate_ranking

    metrics = evaluate_ranking(
        model, masked, split.test, k=(10,), metrics=("hit", "ndcg"), protocol="full"
    )
    return {
        "hr@10": round(float(metrics["hit@10"]), 4),
        "ndcg@10": round(float(metrics["ndcg@10"]), 4),
    }


def _epochs_saved(folder: Path) -> int:
    from freshrec.models.torch.checkpoint import read_progress

    return int(read_progress(folder).get("epochs_done", 0))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        row: dict[str, Any] = {"seeds": [r["seed"] for r in mine]}
        for metric in ("hr@10", "ndcg@10"):
            values = [r[metric] for r in mine]
            row[metric] = round(sum(values) / len(values), 4)
            row[f"{metric} min-max"] = [min(values), max(values)]
        row["epochs_run"] = [r["epochs_run"] for r in mine]
        summary[name] = row
    return summary


def table(summary: dict[str, Any]) -> str:
    lines = ["| model | seeds | HR@10 | NDCG@10 | NDCG@10 min-max | epochs |", "|---" * 6 + "|"]
    for name, row in summary.items():
        low, high = row["ndcg@10 min-max"]
        lines.append(
            f"| {name} | {len(row['seeds'])} | {row['hr@10']:.4f} | {row['ndcg@10']:.4f} "
            f"| {low:.4f}-{high:.4f} | {row['epochs_run']} |"
        )
    return "\n".join(lines)


def machine(threads: int) -> str:
    return (
        f"{platform.system()} {platform.release()} ({platform.machine()}), "
        f"{os.cpu_count()} CPUs, {threads} threads, Python {platform.python_version()}"
    )


def cpu_model() -> str:
    path = Path("/proc/cpuinfo")
    for line in path.read_text().splitlines() if path.is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
