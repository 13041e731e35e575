"""Transfer: fine-tune from the source domain vs train from scratch, at 1/5/20/100% of target data.

Usage::

    python benchmarks/transfer_cdr.py [--data-dir DIR] [--seeds 0,1,2]
        [--fractions 0.01,0.05,0.2,1.0] [--threads 1] [--out FILE]

Question: users already active in one domain (Amazon Sports) arrive in another (Clothing)
where they have done little. Does a Clothing model that starts from their Sports vectors
recommend better than one trained on the Clothing data alone?

Protocol, per seed:

1. **Data**: the DisenCDR Sports x Clothing pair (``amazon-cdr-sports``,
   ``amazon-cdr-clothing``; every user is in both; item ids are per domain). Source: all
   Sports training events. Target: the Clothing training events, subsampled per user with
   ``freshrec.update.transfer.subsample_per_user(fraction, seed)`` (each user keeps about
   ``fraction`` of their events; a user may keep none at small fractions). Test: the
   Clothing ``test.txt`` (one held-out item per user, an item seen in training).
2. **Models**: BPR with the settings in ``SETTINGS`` for every arm (one setting, chosen
   before the runs from two candidates x two epoch counts tried on seed 0 for both arms
   alike: 64 factors, ``lr=0.03``, ``l2=0.01`` and 32 factors, ``lr=0.05``, ``l2=0.03``;
   30 and 100 epochs).

   - ``scratch``: ``fit`` on the target subsample.
   - ``transfer``: ``freshrec.update.transfer.fine_tune_from``: the source BPR (fitted on
     Sports with the same settings and seed, but ``SOURCE_EPOCHS`` epochs: pretraining runs
     to convergence, once) gives every user's starting vector; item
     vectors start at random; then the same epochs on the target subsample. Users with no
     target event keep their Sports vector.
   - ``popular``: Clothing popularity over the subsample (a reference).
3. **Evaluation**: full ranking over the Clothing items the model knows, each user's
   Clothing training items (all of them, not only the subsample) masked; NDCG@10 and
   Recall@10 over the test users (``freshrec.evaluation.protocols.evaluate_ranking``).
4. **Output**: per fraction and arm the per-seed values and their mean, written atomically
   to ``--out`` after each seed, and a Markdown table. Threads pinned to ``--threads``.

No text features: this pair has no titles, so the text-encoder variant of the issue is not
run here (the cold-start benchmark, ``cold_start_text.py``, covers text transfer into new
items).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "transfer_cdr.json"
SETTINGS = {"n_factors": 32, "lr": 0.05, "l2": 0.03, "n_epochs": 30}
SOURCE_EPOCHS = 100  # the source is pretrained to convergence, once per seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fractions", default="0.01,0.05,0.2,1.0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from freshrec.threads import pin_threads

    pin_threads(args.threads)
    from freshrec.cli.options import default_data_dir
    from freshrec.data.amazon import load_amazon_cdr_domain
    from freshrec.evaluation.protocols import evaluate_ranking
    from freshrec.jobs.report import machine_summary
    from freshrec.models.bpr import BPR
    from freshrec.models.popular import MostPopular
    from freshrec.persist import atomic_write_text
    from freshrec.update.transfer import fine_tune_from, subsample_per_user

    folder = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    pair = folder / "amazon-cdr-disencdr"
    source_events = load_amazon_cdr_domain(pair, "sports").events
    target_events = load_amazon_cdr_domain(pair, "clothing").events
    test = load_amazon_cdr_domain(pair, "clothing", split="test").events
    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    report: dict[str, Any] = {
        "command": "python benchmarks/transfer_cdr.py " + " ".join(argv or sys.argv[1:]),
        "settings": SETTINGS,
        "source_epochs": SOURCE_EPOCHS,
        "counts": {
            "source_events": len(source_events),
            "target_events": len(target_events),
            "test_events": len(test),
        },
        "machine": machine_summary() + f", {args.threads} thread(s)",
        "date": time.strftime("%Y-%m-%d"),
        "runs": [],
    }

    def score(model: Any) -> dict[str, float]:
        result = evaluate_ranking(model, target_events, test, k=10, metrics=("ndcg", "recall"))
        return {"ndcg@10": float(result["ndcg@10"]), "recall@10": float(result["recall@10"])}

    for seed in seeds:
        source = BPR(**{**SETTINGS, "n_epochs": SOURCE_EPOCHS}, seed=seed).fit(source_events)
        for fraction in fractions:
            subset = subsample_per_user(target_events, fraction, seed=seed)
            arms = {
                "popular": MostPopular().fit(subset),
                "scratch": BPR(**SETTINGS, seed=seed).fit(subset),
                "transfer": fine_tune_from(source, BPR(**SETTINGS, seed=seed), subset),
            }
            for arm, model in arms.items():
                run = {"seed": seed, "fraction": fraction, "arm": arm, "events": len(subset)}
                run.update(score(model))
                report["runs"].append(run)
                print(json.dumps(run), flush=True)
        report["summary"] = summarize(report["runs"])
        atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    print(table(report["summary"]))
    return 0


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for fraction in dict.fromkeys(r["fraction"] for r in runs):
        for arm in dict.fromkeys(r["arm"] for r in runs):
            mine = [r for r in runs if r["fraction"] == fraction and r["arm"] == arm]
            rows.append(
                {
                    "fraction": fraction,
                    "arm": arm,
                    "seeds": [r["seed"] for r in mine],
                    "ndcg@10": round(sum(r["ndcg@10"] for r in mine) / len(mine), 5),
                    "ndcg@10 per seed": [round(r["ndcg@10"], 5) for r in mine],
                    "recall@10": round(sum(r["recall@10"] for r in mine) / len(mine), 5),
                }
            )
    return rows


def table(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| target data | arm | NDCG@10 (mean) | per seed | Recall@10 |",
        "|---:|---|---:|---|---:|",
    ]
    for row in summary:
        seeds = ", ".join(f"{v:.4f}" for v in row["ndcg@10 per seed"])
        lines.append(
            f"| {row['fraction']:.0%} | {row['arm']} | {row['ndcg@10']:.4f} | {seeds} | "
            f"{row['recall@10']:.4f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
