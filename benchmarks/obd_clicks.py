"""Click prediction on the Open Bandit Dataset sample, prequential: FTRL-FM and a CTR baseline.

Usage::

    python benchmarks/obd_clicks.py [--data-dir DIR] [--orders 0,1,2] [--out FILE]

The sample shipped with the data (10,000 logged rounds per policy and campaign, 38-69
clicks each) is too small for an AUC bar (issue 5 asks for a report): the AUCs below carry
intervals of about +-0.05. Per log (``obd-{random,bts}-{all,men,women}``) and event order
(0: time order, ties in file order; 1, 2: seeded permutations):

- **FTRL-FM** (``FTRLFM.learn_predict``, its defaults, settings fixed here): fields item,
  position, the four hashed user features and the three categorical item features; pairs
  item x position and item x each user feature.
- **CTR baseline**: each (item, position)'s clicks over shows so far with a Beta prior at
  the global click rate so far (strength 10), predicted before the round is counted.

Both predict each round before learning it; AUC and log loss over all rounds of the order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "obd_clicks.json"
LOGS = tuple(f"obd-{p}-{c}" for p in ("random", "bts") for c in ("all", "men", "women"))
USER_FIELDS = tuple(f"context.user_feature_{n}" for n in range(4))
FIELDS = (
    ("item", "context.position")
    + USER_FIELDS
    + tuple(f"item.item_feature_{n}" for n in range(1, 4))
)
PAIRS = ("item*context.position",) + tuple(f"item*{field}" for field in USER_FIELDS)
PRIOR_STRENGTH = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--orders", default="0,1,2")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.data.stream import time_ordered
    from freshrec.evaluation.metrics import auc, log_loss
    from freshrec.jobs.report import machine_summary
    from freshrec.models.ftrl import FTRLFM
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    rows: list[dict[str, Any]] = []
    for name in LOGS:
        data = load_dataset(name, data_dir)
        timed = time_ordered(data.events)
        for order in (int(o) for o in args.orders.split(",")):
            index = np.arange(len(timed))
            if order:
                index = np.random.default_rng(order).permutation(len(timed))
            events = timed.take(index)
            labels = (events.value > 0).astype(int)
            model = FTRLFM(fields=FIELDS, pairs=PAIRS)
            ftrl = model.learn_predict(events, data.items)
            baseline = ctr_baseline(events)
            row = {
                "log": name,
                "order": order,
                "rounds": len(events),
                "clicks": int(labels.sum()),
                "ftrl_fm_auc": round(auc(labels, ftrl), 4),
                "ctr_auc": round(auc(labels, baseline), 4),
                "ftrl_fm_log_loss": round(log_loss(labels, ftrl), 5),
                "ctr_log_loss": round(log_loss(labels, baseline), 5),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {
        name: {
            key: round(statistics.fmean(r[key] for r in rows if r["log"] == name), 4)
            for key in ("ftrl_fm_auc", "ctr_auc", "ftrl_fm_log_loss", "ctr_log_loss")
        }
        for name in LOGS
    }
    report = {
        "command": "python benchmarks/obd_clicks.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + ", 1 thread",
        "date": time.strftime("%Y-%m-%d"),
        "fields": FIELDS,
        "pairs": PAIRS,
        "summary": summary,
        "runs": rows,
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def ctr_baseline(events: Any) -> np.ndarray:
    """Prequential click rate of each (item, position), shrunk to the global rate so far."""
    keys = np.char.add(
        events.item.astype(str),
        np.char.add("@", np.asarray(events.context["position"]).astype(str)),
    )
    _, codes = np.unique(keys, return_inverse=True)
    clicks = np.zeros(codes.max() + 1)
    shows = np.zeros(codes.max() + 1)
    out = np.empty(len(codes))
    total_clicks = 0.0
    for row, code in enumerate(codes.ravel()):
        rate = (total_clicks + 1.0) / (row + 2.0)
        out[row] = (clicks[code] + PRIOR_STRENGTH * rate) / (shows[code] + PRIOR_STRENGTH)
        label = float(events.value[row] > 0)
        clicks[code] += label
        shows[code] += 1.0
        total_clicks += label
    return out


if __name__ == "__main__":
    sys.exit(main())
