"""How HSTU's quality grows with size on ML-1M (loo-hstu), each size with the same time budget.

Usage::

    python benchmarks/hstu_scaling.py [--points sasrec,hstu-1,hstu,hstu-4,hstu-large]
        [--budget-s 1800] [--clock cpu] [--seed 0] [--data-dir DIR] [--threads 2] [--device cpu]
        [--out FILE] [--plot docs/img/hstu_scaling.png] [--checkpoints DIR] [--quick]

Each point is a model size, from SASRec's (2 blocks, d=50) to HSTU-large (8 layers, 2 heads,
d=50). A point first times one training epoch (a probe, not counted), then trains for as many
epochs as fit in ``--budget-s`` seconds with the cosine schedule at ``lr=0.004`` (its warm-up
and decay spread over exactly those epochs), choosing the epoch on the validation NDCG@10,
and is scored like ``benchmarks/hstu_ml1m.py`` (full ranking, latest 200 masked). Recorded
per point: non-embedding parameters (everything but the item and position tables), training
seconds, epochs and the validation curve against time. The PNG plots test NDCG@10 against
non-embedding parameters (left) and validation NDCG@10 against training seconds (right).

``--clock cpu`` (the default) counts the process's CPU seconds (all its threads: with
``--threads 2`` about twice the wall time), so another process on the machine slows a point
but does not take epochs from it; the curve spreads a fit's CPU seconds evenly over its
epochs (each does the same work). ``--clock wall`` counts wall seconds (for ``--device cuda``,
where the work is not the process's CPU time).
Fits are checkpointed (``--checkpoints``), so a stopped run resumes; finished points in
``--out`` are kept.
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
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "hstu_scaling.json"
POINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "sasrec": ("sasrec", {}),
    "hstu-1": ("hstu", {"n_blocks": 1}),
    "hstu": ("hstu", {}),
    "hstu-4": ("hstu", {"n_blocks": 4, "n_heads": 2}),
    "hstu-large": ("hstu", {"n_blocks": 8, "n_heads": 2}),
}
SCHEDULE = {"lr": 0.004, "lr_schedule": "cosine"}
EMBEDDINGS = ("item_embedding", "position_embedding")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default=",".join(POINTS))
    parser.add_argument("--budget-s", type=float, default=1800.0)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoints", default="/tmp/freshrec-checkpoints/scaling")
    parser.add_argument("--out", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, split, masked = load_loo_hstu(args.threads, args.data_dir, args.quick)
    from freshrec.models import REGISTRY
    from freshrec.persist import atomic_write_text

    out = Path(args.out) if args.out else DEFAULT_OUT
    if args.quick and not args.out:
        out = Path("/tmp/hstu_scaling_quick.json")
    report: dict[str, Any] = {
        "command": "python benchmarks/hstu_scaling.py " + " ".join(argv or sys.argv[1:]),
        "budget_s": args.budget_s,
        "clock": args.clock,
        "seed": args.seed,
        "machine": machine(args.threads),
        "cpu_model": cpu_model(),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "points": [],
    }
    if out.is_file() and not args.quick:
        report["points"] = json.loads(out.read_text())["points"]
    done = {point["point"] for point in report["points"]}
    for label in args.points.split(","):
        if label in done:
            continue
        name, size = POINTS[label]
        params = {"seed": args.seed, "device": args.device, **SCHEDULE, **size}
        probe = REGISTRY[name](**{**params, "n_epochs": 1})
        began = clocks()
        probe.fit(split.train)
        probe_s = elapsed(began)
        n_epochs = 2 if args.quick else max(1, int(args.budget_s // probe_s[args.clock]))
        folder = Path(args.checkpoints) / f"{label}-seed{args.seed}"
        model = REGISTRY[name](**{**params, "n_epochs": n_epochs}).checkpoint_to(folder)
        began = clocks()
        model.fit(split.train, valid=split.valid)
        train_s = elapsed(began)
        model.observe(split.valid)
        history = model.history_
        per_epoch = train_s[args.clock] / len(history.loss)
        point = {
            "point": label,
            "params": model.get_params(),
            "non_embedding_params": non_embedding_params(model.module_),
            "probe_epoch_s": probe_s,
            "epochs": len(history.loss),
            "best_epoch": history.best_epoch,
            "train_s": train_s,
            "curve": [
                [round(per_epoch * (i + 1), 1), round(v, 4)]
                for i, v in enumerate(history.valid_ndcg)
            ],
            **score_loo_hstu(model, split, masked),
        }
        print(json.dumps(point), flush=True)
        report["points"].append(point)
        atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    if args.plot:
        budget = f"{args.budget_s:.0f} {args.clock} seconds"
        title = f"ML-1M (loo-hstu), {budget} per size, seed {args.seed}"
        plot(report["points"], Path(args.plot), title)
    print(table(report["points"]))
    return 0


def clocks() -> dict[str, float]:
    """Now, on both clocks: the process's CPU seconds and wall seconds."""
    return {"cpu": time.process_time(), "wall": time.perf_counter()}


def elapsed(began: dict[str, float]) -> dict[str, float]:
    """Seconds since ``began`` on each clock, rounded to 0.1."""
    now = clocks()
    return {name: round(now[name] - began[name], 1) for name in began}


def non_embedding_params(module: Any) -> int:
    """Parameters outside the item and position tables (the usual scaling-law count)."""
    return sum(
        int(p.numel()) for name, p in module.named_parameters() if not name.startswith(EMBEDDINGS)
    )


def table(points: list[dict[str, Any]]) -> str:
    lines = [
        "| point | non-embedding params | epochs | train CPU s / wall s | HR@10 | NDCG@10 |",
        "|---" * 6 + "|",
    ]
    for p in points:
        lines.append(
            f"| {p['point']} | {p['non_embedding_params']:,} | {p['epochs']} | "
            f"{p['train_s']['cpu']:.0f} / {p['train_s']['wall']:.0f} | {p['hr@10']:.4f} "
            f"| {p['ndcg@10']:.4f} |"
        )
    return "\n".join(lines)


def plot(points: list[dict[str, Any]], path: Path, title: str) -> None:
    """Test NDCG@10 against non-embedding parameters; validation NDCG@10 against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (size_axis, time_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
    hstu = [p for p in points if p["point"].startswith("hstu")]
    others = [p for p in points if p not in hstu]
    hstu.sort(key=lambda p: p["non_embedding_params"])
    size_axis.plot(
        [p["non_embedding_params"] for p in hstu],
        [p["ndcg@10"] for p in hstu],
        "o-",
        label="HSTU",
    )
    for p in others:
        size_axis.plot(p["non_embedding_params"], p["ndcg@10"], "s", label=p["point"])
    for p in points:
        size_axis.annotate(p["point"], (p["non_embedding_params"], p["ndcg@10"]), fontsize=8)
    size_axis.set_xscale("log")
    size_axis.set_xlabel("non-embedding parameters")
    size_axis.set_ylabel("test NDCG@10 (loo-hstu)")
    size_axis.legend()
    for p in points:
        times, values = zip(*p["curve"], strict=True)
        time_axis.plot(times, values, label=f"{p['point']} ({p['epochs']} epochs)")
    time_axis.set_xlabel("training seconds, validation included (on the budget's clock)")
    time_axis.set_ylabel("validation NDCG@10")
    time_axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
