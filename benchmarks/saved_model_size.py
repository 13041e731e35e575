"""Saved model size: a BPR model of ML-1M (64 factors) against its parameters and id map.

Usage::

    python benchmarks/saved_model_size.py [--data-dir DIR] [--epochs 5] [--out FILE]

Fits BPR (64 factors, its other defaults but ``--epochs``; the size of what is saved does not
depend on how long it trained) on all 1,000,209 ML-1M ratings, saves it, and compares the bytes
of the model folder (every file) with the bytes of its parameter tables (user factors, item
factors, item biases, as stored: float32) plus its id maps (the user and item ids as JSON). The
bar (issue 14): at most 1.2x. The events themselves live in the event log, not in the model:
for scale, the script also reports the bytes the same events take in a SQLite event log.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "saved_model_size.json"
BAR = 1.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"  # before numpy and numba load

    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.log import open_log
    from freshrec.models import BPR
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    data = load_dataset("ml-1m", default_data_dir(args.data_dir))
    started = time.perf_counter()
    model = BPR(n_factors=64, n_epochs=args.epochs, seed=0).fit(data.events)
    fit_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bpr-ml1m"
        model.save(folder)
        files = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
        log_path = Path(tmp) / "events.sqlite"
        with open_log(f"sqlite:///{log_path}") as log:
            log.append(data.events)
        log_bytes = sum(p.stat().st_size for p in Path(tmp).glob("events.sqlite*"))
    tables = {
        name: int(getattr(model, name).nbytes)
        for name in ("user_factors_", "item_factors_", "item_bias_")
    }
    id_maps = len(json.dumps(model.user_map_.to_dict())) + len(
        json.dumps(model.item_map_.to_dict())
    )
    reference = sum(tables.values()) + id_maps
    saved = sum(files.values())
    result: dict[str, Any] = {
        "command": "python benchmarks/saved_model_size.py " + " ".join(argv or []),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_summary(),
        "events": len(data.events),
        "model": repr(model),
        "fit_s": round(fit_s, 1),
        "files": files,
        "saved_bytes": saved,
        "parameter_bytes": tables,
        "id_map_bytes": id_maps,
        "reference_bytes": reference,
        "ratio": round(saved / reference, 4),
        "bar": BAR,
        "met": saved <= BAR * reference,
        "sqlite_log_bytes": log_bytes,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "files",
                    "saved_bytes",
                    "reference_bytes",
                    "ratio",
                    "met",
                    "sqlite_log_bytes",
                )
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
