"""Online biased MF, test-then-train per event: freshrec against river, RMSE and events/second.

Usage::

    python benchmarks/online_mf_river.py [--datasets ml-100k,ml-1m] [--seeds 0,1,2]
        [--data-dir DIR] [--venv DIR] [--out FILE] [--no-install]

What it does, in one run:

1. **Peer in its own virtualenv**, pinned for the comparison. The script creates
   (when missing) ``benchmarks/.venv-river`` (``--venv``) and installs ``river==0.26.1``
   there; river runs in a subprocess with that Python, on the same events.
2. **Data.** Every rating of ML-100K (100,000) and ML-1M (1,000,209), in timestamp order
   with ties in file order (``freshrec.data.stream.time_ordered``), as (user, item, rating).
3. **Same settings** (river's documented ML-100K ones): 10 factors, bias SGD step 0.025,
   latent SGD step 0.05, latents drawn from N(0, 0.1), no L2, predictions clipped to [1, 5]
   (the gradient uses the unclipped prediction, as river's ``PredClipper`` does).
   river: ``reco.BiasedMF(n_factors=10, bias_optimizer=optim.SGD(0.025),
   latent_optimizer=optim.SGD(0.05), latent_initializer=Normal(0, 0.1, seed))``.
   freshrec: ``BiasedMF(n_factors=10, lr=0.05, bias_lr=0.025, l2=0, l2_latent=0,
   init_std=0.1, clip=(1, 5), seed=seed)``.
4. **Protocol, per event, in order**: predict, score the metric, learn. river: a Python loop
   over the replayed ids (``predict_one``, clip, ``metrics.RMSE.update``, ``learn_one``).
   freshrec: ``BiasedMF.learn_predict(events)`` (id encoding, table growth and one compiled
   predict-then-learn loop), then the RMSE of the predictions with numpy.
5. **Timing**, end to end as above (data loading excluded), wall clock; events per second
   is the count over that time. freshrec's numba compilation happens once, on a 10-event
   warm-up, before any timing; its seconds are reported separately. Each library's figure
   is the median of the ``--seeds`` runs; RMSE is the mean.
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
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "online_mf_river.json"
DEFAULT_VENV = REPO_ROOT / "benchmarks" / ".venv-river"
RIVER_VERSION = "0.26.1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="ml-100k,ml-1m")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--inner-river", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inner_river:
        print(json.dumps(river_run(Path(args.inner_river), args.seed)))
        return 0
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.data.stream import time_ordered
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    python = ensure_venv(args.venv, args.no_install)
    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    seeds = [int(s) for s in args.seeds.split(",")]
    compile_s = warm_up()
    report: dict[str, Any] = {
        "command": "python benchmarks/online_mf_river.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + ", 1 thread",
        "date": time.strftime("%Y-%m-%d"),
        "river": RIVER_VERSION,
        "freshrec_compile_s": compile_s,
        "datasets": {},
    }
    for name in args.datasets.split(","):
        events = time_ordered(load_dataset(name, data_dir).events)
        with tempfile.TemporaryDirectory() as folder:
            arrays = Path(folder) / "events.npz"
            np.savez(arrays, user=events.user, item=events.item, rating=events.value)
            theirs = [run_river(python, arrays, seed) for seed in seeds]
        ours = [freshrec_run(events, seed) for seed in seeds]
        row = {
            "events": len(events),
            "river_rmse": statistics.fmean(r["rmse"] for r in theirs),
            "freshrec_rmse": statistics.fmean(r["rmse"] for r in ours),
            "river_events_per_s": statistics.median(r["events_per_s"] for r in theirs),
            "freshrec_events_per_s": statistics.median(r["events_per_s"] for r in ours),
            "river_runs": theirs,
            "freshrec_runs": ours,
        }
        row["speedup"] = row["freshrec_events_per_s"] / row["river_events_per_s"]
        row["rmse_gap"] = row["freshrec_rmse"] - row["river_rmse"]
        report["datasets"][name] = row
        print(
            f"{name}: RMSE river {row['river_rmse']:.4f} freshrec {row['freshrec_rmse']:.4f}; "
            f"events/s river {row['river_events_per_s']:,.0f} freshrec "
            f"{row['freshrec_events_per_s']:,.0f} ({row['speedup']:.0f}x)",
            flush=True,
        )
        atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


def freshrec_settings(seed: int) -> dict[str, Any]:
    return {
        "n_factors": 10,
        "n_epochs": 1,
        "lr": 0.05,
        "bias_lr": 0.025,
        "l2": 0.0,
        "l2_latent": 0.0,
        "init_std": 0.1,
        "clip": (1.0, 5.0),
        "shuffle": False,
        "seed": seed,
    }


def warm_up() -> float:
    """Compile freshrec's loop on 10 events; return the seconds it took."""
    from freshrec.data.batch import EventBatch
    from freshrec.models.biased_mf import BiasedMF

    tiny = EventBatch(np.arange(10), np.arange(10), np.full(10, 3.0))
    start = time.perf_counter()
    BiasedMF(**freshrec_settings(0)).learn_predict(tiny)
    return time.perf_counter() - start


def freshrec_run(events: Any, seed: int) -> dict[str, float]:
    from freshrec.models.biased_mf import BiasedMF

    model = BiasedMF(**freshrec_settings(seed))
    start = time.perf_counter()
    predictions = model.learn_predict(events)
    rmse = float(np.sqrt(np.mean((predictions - events.value) ** 2)))
    seconds = time.perf_counter() - start
    return {"seed": seed, "rmse": rmse, "seconds": seconds, "events_per_s": len(events) / seconds}


def run_river(python: Path, arrays: Path, seed: int) -> dict[str, float]:
    command = [str(python), __file__, "--inner-river", str(arrays), "--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def river_run(arrays: Path, seed: int) -> dict[str, float]:
    """The river side (runs in the river virtualenv)."""
    from river import metrics, optim, reco

    data = np.load(arrays, allow_pickle=False)
    users, items, ratings = (data[k].tolist() for k in ("user", "item", "rating"))
    model = reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
        l2_bias=0.0,
        l2_latent=0.0,
    )
    rmse = metrics.RMSE()
    start = time.perf_counter()
    for user, item, rating in zip(users, items, ratings, strict=True):
        guess = min(max(model.predict_one(user, item), 1.0), 5.0)
        rmse.update(rating, guess)
        model.learn_one(user, item, rating)
    seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "rmse": rmse.get(),
        "seconds": seconds,
        "events_per_s": len(ratings) / seconds,
    }


def ensure_venv(venv: Path, no_install: bool) -> Path:
    """The venv's Python, after creating it and installing river when needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import river; print(river.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == RIVER_VERSION:
            return python
    if no_install:
        raise SystemExit(f"{venv} lacks river=={RIVER_VERSION}; run without --no-install")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", f"river=={RIVER_VERSION}"]
    subprocess.run(pip, check=True)
    subprocess.run(probe, check=True)
    return python


if __name__ == "__main__":
    sys.exit(main())
