"""Click prediction on MIND impressions, prequential: freshrec's FTRL-FM against Vowpal Wabbit.

Usage::

    python benchmarks/ftrl_fm_vw.py [--data-dir DIR] [--orders 0,1,2] [--venv DIR] [--out FILE]

What it does, in one run:

1. **Peer in its own virtualenv**: ``benchmarks/.venv-vw`` with ``vowpalwabbit==9.11.9``
   (created when missing); VW runs in a subprocess on the same rows.
2. **Data**: ``mind-small-sample`` (5,000 impressions, 189,359 shown news, 7,542 clicks).
   Each shown news is one event, label click/no click. Fields: user id, news id, and the
   news category and subcategory from ``news.tsv`` (``None`` where the sample lacks the
   row).
3. **Orders**: order 0 is time order (ties in file order); orders 1 and 2 are random
   permutations (seeded by the order number).
4. **Models, settings fixed here, no tuning on either side**: freshrec
   ``FTRLFM(fields=(user, item, item.category, item.subcategory), pairs=(user*item,
   user*item.category, user*item.subcategory), n_bits=18, n_factors=8)`` with its other
   defaults. VW: ``--loss_function logistic --link logistic -b 18 -q ui -q uc -q us``
   (namespaces u, i, c, s), its defaults otherwise (adaptive, normalized, invariant SGD).
5. **Protocol**: per event, predict the click probability, then learn the label
   (freshrec: ``FTRLFM.learn_predict``; VW: ``predict`` then ``learn`` per example line).
   AUC over all events of the order. Throughput: events over the wall time of the loop
   (freshrec: hashing plus the compiled pass; VW: building example strings, predict, learn;
   numba compilation excluded).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "ftrl_fm_vw.json"
DEFAULT_VENV = REPO_ROOT / "benchmarks" / ".venv-vw"
VW_VERSION = "9.11.9"
FIELDS = ("user", "item", "item.category", "item.subcategory")
PAIRS = ("user*item", "user*item.category", "user*item.subcategory")
VW_ARGS = "--loss_function logistic --link logistic -b 18 -q ui -q uc -q us --quiet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--orders", default="0,1,2")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--inner-vw", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner_vw:
        print(json.dumps(vw_run(Path(args.inner_vw))))
        return 0
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.data.stream import time_ordered
    from freshrec.evaluation.metrics import auc
    from freshrec.jobs.report import machine_summary
    from freshrec.models.ftrl import FTRLFM
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    python = ensure_venv(args.venv)
    data = load_dataset(
        "mind-small-sample", default_data_dir(Path(args.data_dir) if args.data_dir else None)
    )
    timed = time_ordered(data.events)
    lookup = {
        name: dict(zip(data.items.ids.tolist(), data.items.columns[name].tolist(), strict=True))
        for name in ("category", "subcategory")
    }
    FTRLFM(fields=FIELDS, pairs=PAIRS).learn_predict(timed[:10], data.items)  # compile
    runs = []
    for order in (int(o) for o in args.orders.split(",")):
        rows = (
            np.arange(len(timed))
            if order == 0
            else np.random.default_rng(order).permutation(len(timed))
        )
        events = timed.take(rows)
        labels = (events.value > 0).astype(int)
        start = time.perf_counter()
        predicted = FTRLFM(fields=FIELDS, pairs=PAIRS).learn_predict(events, data.items)
        ours_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            table = Path(folder) / "rows.json"
            table.write_text(
                json.dumps(
                    {
                        "label": labels.tolist(),
                        "user": [str(u) for u in events.user.tolist()],
                        "item": [str(i) for i in events.item.tolist()],
                        "category": [str(lookup["category"].get(i)) for i in events.item.tolist()],
                        "subcategory": [
                            str(lookup["subcategory"].get(i)) for i in events.item.tolist()
                        ],
                    }
                )
            )
            command = [str(python), __file__, "--inner-vw", str(table)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
        run = {
            "order": order,
            "freshrec_auc": auc(labels, predicted),
            "vw_auc": auc(labels, np.asarray(theirs["predictions"])),
            "freshrec_events_per_s": len(events) / ours_s,
            "vw_events_per_s": len(events) / theirs["seconds"],
        }
        runs.append(run)
        print(json.dumps(run), flush=True)
    summary = {
        key: statistics.fmean(r[key] for r in runs)
        for key in ("freshrec_auc", "vw_auc", "freshrec_events_per_s", "vw_events_per_s")
    }
    summary["auc_gap"] = summary["freshrec_auc"] - summary["vw_auc"]
    summary["throughput_ratio"] = summary["freshrec_events_per_s"] / summary["vw_events_per_s"]
    print(json.dumps(summary))
    report: dict[str, Any] = {
        "command": "python benchmarks/ftrl_fm_vw.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + ", 1 thread",
        "date": time.strftime("%Y-%m-%d"),
        "vw": VW_VERSION,
        "vw_args": VW_ARGS,
        "fields": FIELDS,
        "pairs": PAIRS,
        "events": len(timed),
        "summary": summary,
        "runs": runs,
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


def vw_run(table: Path) -> dict[str, Any]:
    """VW's side, in its virtualenv: predict then learn each row; return predictions, time."""
    from vowpalwabbit import Workspace

    rows = json.loads(table.read_text())
    model = Workspace(VW_ARGS)

    def clean(token: str) -> str:
        return token.replace(" ", "_").replace(":", "_").replace("|", "_")

    predictions = []
    start = time.perf_counter()
    for label, user, item, category, subcategory in zip(
        rows["label"],
        rows["user"],
        rows["item"],
        rows["category"],
        rows["subcategory"],
        strict=True,
    ):
        features = f"|u {clean(user)} |i {clean(item)} |c {clean(category)} |s {clean(subcategory)}"
        predictions.append(model.predict(features))
        model.learn(f"{1 if label else -1} {features}")
    seconds = time.perf_counter() - start
    model.finish()
    return {"predictions": predictions, "seconds": seconds}


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import vowpalwabbit; print(vowpalwabbit.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == VW_VERSION:
            return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", f"vowpalwabbit=={VW_VERSION}", "numpy"]
    subprocess.run(pip, check=True)
    subprocess.run(probe, check=True)
    return python


if __name__ == "__main__":
    sys.exit(main())
