"""bf16 against float32 training of SASRec and HSTU on identical batches (ML-1M, loo-hstu).

Usage::

    python benchmarks/bf16_training.py [--models sasrec,hstu] [--epochs 2] [--seeds 0,1,2]
        [--data-dir DIR] [--threads 2] [--device cpu] [--out FILE] [--quick]

For each model: float32 fits with each seed and a bf16 fit with the first seed, all for the
same short budget of ``--epochs`` epochs at the published settings (no validation, no early
stopping). A bf16 fit and the float32 fit of the same seed draw the same batches, negatives
and dropout masks, so only the arithmetic differs. Reported per model:

- **step-time ratio**: bf16 training seconds per epoch over float32's (same seed; fit wall
  time over epochs, the window building included in both);
- **quality**: test HR@10 / NDCG@10 under ``loo-hstu`` after the budget, and whether the bf16
  value lies within the min-max of the float32 seeds.

The machine's bf16 hardware (``amx``, ``avx512_bf16``, ``emulated``, or ``cuda``) is recorded:
the ratio is that hardware's. Results go atomically to ``--out``; a table to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hstu_ml1m import commit, cpu_model, load_loo_hstu, machine, score_loo_hstu  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "bf16_training.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="sasrec,hstu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, split, masked = load_loo_hstu(args.threads, args.data_dir, args.quick)
    import torch

    from freshrec.models import REGISTRY
    from freshrec.models.torch.precision import bf16_support
    from freshrec.persist import atomic_write_text

    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out) if args.out else DEFAULT_OUT
    if args.quick and not args.out:
        out = Path("/tmp/bf16_training_quick.json")
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    report: dict[str, Any] = {
        "command": "python benchmarks/bf16_training.py " + " ".join(argv or sys.argv[1:]),
        "protocol": "loo-hstu; fixed budget of --epochs epochs, no early stopping",
        "machine": machine(args.threads),
        "cpu_model": cpu_model(),
        "device": args.device,
        "bf16_support": bf16_support(device),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "runs": [],
        "summary": {},
    }
    for name in args.models.split(","):
        plan = [("float32", seed) for seed in seeds] + [("bf16", seeds[0])]
        for precision, seed in plan:
            model = REGISTRY[name](
                n_epochs=args.epochs, seed=seed, device=args.device, precision=precision
            )
            start = time.perf_counter()
            model.fit(split.train)
            fit_s = time.perf_counter() - start
            model.observe(split.valid)
            run = {
                "model": name,
                "precision": precision,
                "seed": seed,
                "s_per_epoch": round(fit_s / args.epochs, 2),
                "final_loss": round(model.history_.loss[-1], 4),
                **score_loo_hstu(model, split, masked),
            }
            print(json.dumps(run), flush=True)
            report["runs"].append(run)
        report["summary"][name] = summarize([r for r in report["runs"] if r["model"] == name])
        atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(table(report["summary"]))
    return 0


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    single = [r for r in runs if r["precision"] == "float32"]
    (half,) = [r for r in runs if r["precision"] == "bf16"]
    (same_seed,) = [r for r in single if r["seed"] == half["seed"]]
    ratio = half["s_per_epoch"] / same_seed["s_per_epoch"]
    row: dict[str, Any] = {"step_time_ratio": round(ratio, 3)}
    for metric in ("hr@10", "ndcg@10"):
        low, high = min(r[metric] for r in single), max(r[metric] for r in single)
        row[f"float32 {metric} min-max"] = [low, high]
        row[f"bf16 {metric}"] = half[metric]
        row[f"bf16 {metric} within"] = low <= half[metric] <= high
    return row


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| model | bf16/float32 s per epoch | bf16 NDCG@10 | float32 NDCG@10 min-max | within |",
        "|---" * 5 + "|",
    ]
    for name, row in summary.items():
        low, high = row["float32 ndcg@10 min-max"]
        lines.append(
            f"| {name} | {row['step_time_ratio']:.3f} | {row['bf16 ndcg@10']:.4f} "
            f"| {low:.4f}-{high:.4f} | {row['bf16 ndcg@10 within']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
