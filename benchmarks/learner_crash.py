"""Kill -9 of the learner at seeded random points during an ingest into SQLite: exactly once.

Usage::

    python benchmarks/learner_crash.py [--data-dir DIR] [--models bpr,biased-mf]
                                       [--events 200000] [--kills 20] [--seed 0]
                                       [--ingest-rate 2000] [--out FILE]

Events: the first ``--events`` ratings of ML-1M in time order, ``event_id`` = row number.
For each model (streaming, one epoch per micro-batch of 1,000 events, seed 0; a checkpoint
every 5,000 events, a candidate every 20,000, checked on the next 5,000):

- **clean**: the events appended to a new SQLite log, then one learner process runs to the
  head; its final checkpoint is the reference.
- **killed**: a new SQLite log; this process ingests the events in batches of 500 (with their
  ids) at ``--ingest-rate`` events/s while a learner process follows the log. ``--kills``
  positions are drawn (seeded) from the events; when the learner reports that it has learned
  past the next one, it is killed with SIGKILL and started again, resuming from its latest
  checkpoint. After the last kill it runs to the end of the ingest.

Reported per model: the largest absolute difference between the final models' scores (all
users x all items; the bar is 1e-6), whether both final cursors and event counts match the
log, and per restart the seconds from starting the process until it applied its next event
and until it next published a version (startup includes importing freshrec and torch).
Threads are pinned to 1 in every process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "learner_crash.json"
SETTINGS = {
    "micro_batch": 1000,
    "candidate_every": 20_000,
    "guard_events": 5_000,
    "checkpoint_every": 5_000,
}
MODELS = {"bpr": "BPR", "biased-mf": "BiasedMF"}

_WORKER = """
import sys, json
from freshrec.threads import pin_threads
pin_threads(1)
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.log import open_log
import freshrec.models as models
url, registry, model = sys.argv[1:4]
total, settings = int(sys.argv[4]), json.loads(sys.argv[5])
learner = Learner(open_log(url), Registry(registry), getattr(models, model)(seed=0), **settings)
start = learner.status().position
print("start", start, flush=True)
learner.run(max_events=total - start, follow=True, poll_s=0.05,
            on_status=lambda s: print("at", s.position, s.last_version or "-", flush=True))
print("done", learner.status().position, flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", default="bpr,biased-mf")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ingest-rate", type=float, default=2000.0)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"
    import numpy as np

    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    events = load_dataset("ml-1m", data_dir).events.sort_by_time()[: args.events]
    events = events.with_columns(event_id=np.arange(len(events), dtype=np.int64))
    results: dict[str, Any] = {
        "command": "python benchmarks/learner_crash.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary(),
        "date": time.strftime("%Y-%m-%d"),
        "events": len(events),
        "settings": SETTINGS,
        "models": {},
    }
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as folder:
            results["models"][name] = _compare(Path(folder), events, MODELS[name], args)
        print(json.dumps({name: _summary(results["models"][name])}), flush=True)
    atomic_write_text(args.out, json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


def _compare(folder: Path, events: Any, model: str, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from freshrec.log import open_log

    clean_url = f"sqlite:///{folder / 'clean.db'}"
    open_log(clean_url).append(events)
    start = time.perf_counter()
    _worker(clean_url, folder / "clean", model, len(events)).wait()
    clean_s = time.perf_counter() - start

    url = f"sqlite:///{folder / 'killed.db'}"
    log = open_log(url)
    start = time.perf_counter()
    positions = np.sort(np.random.default_rng(args.seed).choice(len(events), args.kills, False))
    ingest_s: list[float] = []
    ingest = threading.Thread(
        target=paced_ingest, args=(log, events, args.ingest_rate, ingest_s), daemon=True
    )
    ingest.start()
    restarts: list[dict[str, Any]] = []
    kills = iter(positions.tolist())
    target = next(kills, None)
    while True:
        started = time.perf_counter()
        worker = _worker(url, folder / "killed", model, len(events))
        assert worker.stdout is not None
        resumed_at = int(worker.stdout.readline().split()[1])
        restart: dict[str, Any] = {
            "resumed_at": resumed_at,
            "first_event_s": None,
            "publish_s": None,
        }
        finished = False
        for line in worker.stdout:
            word, position, *rest = line.split()
            if word == "done":
                finished = True
                break
            if restart["first_event_s"] is None:
                restart["first_event_s"] = time.perf_counter() - started
            if rest and rest[0] != "-" and restart["publish_s"] is None:
                restart["publish_s"] = time.perf_counter() - started
            if target is not None and int(position) >= target:
                worker.send_signal(signal.SIGKILL)
                restart["killed_at"] = int(position)
                target = next(kills, None)
                break
        worker.wait()
        restarts.append(restart)
        if finished:
            break
    ingest.join()
    return {
        "clean_s": clean_s,
        "ingest_s": ingest_s[0],
        "killed_s": time.perf_counter() - start,
        "restarts": restarts,
        **_same(folder / "clean", folder / "killed", open_log(url), len(events)),
    }


def paced_ingest(log: Any, events: Any, rate: float, took: list[float]) -> None:
    """Append ``events`` in batches of 500 at about ``rate`` events/s."""
    began = time.perf_counter()
    for start in range(0, len(events), 500):
        log.append(events[start : start + 500])
        time.sleep(max(0.0, began + (start + 500) / rate - time.perf_counter()))
    took.append(time.perf_counter() - began)


def _worker(url: str, registry: Path, model: str, total: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, url, str(registry), model, str(total)]
        + [json.dumps(SETTINGS)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def _same(clean: Path, killed: Path, log: Any, n_events: int) -> dict[str, Any]:
    import numpy as np

    from freshrec.base import RecommenderBase

    def final(registry: Path) -> Any:
        newest = sorted((registry / "checkpoints").iterdir())[-1]
        return RecommenderBase.load(newest)

    a, b = final(clean), final(killed)
    users = np.array(a.user_map_.ids)
    items = b.item_map_.encode(np.array(a.item_map_.ids))
    scores_a = a.score_batch(np.arange(a.n_users))
    scores_b = b.score_batch(b.user_map_.encode(users))[:, items]
    return {
        "max_abs_score_diff": float(np.abs(scores_a - scores_b).max()),
        "cursors_match_head": a.cursor_ == b.cursor_ == str(log.head()),
        "n_events": [int(a.n_events_), int(b.n_events_), n_events],
    }


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    restarts = result["restarts"][1:]
    first = [r["first_event_s"] for r in restarts if r["first_event_s"] is not None]
    publish = [r["publish_s"] for r in restarts if r["publish_s"] is not None]
    return {
        "max_abs_score_diff": result["max_abs_score_diff"],
        "cursors_match_head": result["cursors_match_head"],
        "n_events": result["n_events"],
        "kills": sum("killed_at" in r for r in result["restarts"]),
        "ingest_s": result["ingest_s"],
        "restarts_that_published": len(publish),
        "median_first_event_s": float(sorted(first)[len(first) // 2]) if first else None,
        "median_publish_s": float(sorted(publish)[len(publish) // 2]) if publish else None,
    }


if __name__ == "__main__":
    raise SystemExit(main())
