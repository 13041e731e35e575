"""Active and standby learners on Redis Streams: the active one killed, again and again.

Usage::

    python benchmarks/learner_standby.py [--data-dir DIR] [--model bpr] [--events 200000]
                                         [--kills 10] [--seed 0] [--ingest-rate 2000]
                                         [--redis redis://127.0.0.1:6379/0] [--out FILE]

Events: the first ``--events`` ratings of ML-1M in time order, ``event_id`` = row number.
The reference is one learner on a SQLite log holding all of them. Then, on a new Redis Streams
log (a fresh key prefix, deleted afterwards), this process ingests the events in batches of 500
at ``--ingest-rate`` events/s while two learner processes run
:func:`~freshrec.live.standby.run_active_or_standby` (lease 1 s): the first to take the lease
learns, the other waits. ``--kills`` positions are drawn (seeded); when the active learner
reports that it has learned past the next one, it is killed with SIGKILL while it holds
pending entries, the standby takes over, and a new standby is started.

Reported: the largest absolute difference between the final models' scores (bar 1e-6), the
entries left pending in the group at the end (bar 0), the pending entries the killed learner
held at each kill, and the seconds from each kill until the standby applied its next event
(the lease's time to live, loading the checkpoint, reading on). Threads pinned to 1.
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
import uuid
from pathlib import Path
from typing import Any

from learner_crash import MODELS, SETTINGS, paced_ingest  # the kill benchmark's settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "learner_standby.json"

_WORKER = """
import sys, json
from freshrec.threads import pin_threads
pin_threads(1)
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.live.standby import StreamGroup, run_active_or_standby
from freshrec.log import open_log
import freshrec.models as models
url, registry, model, consumer = sys.argv[1:5]
total, settings = int(sys.argv[5]), json.loads(sys.argv[6])
log = open_log(url)
group = StreamGroup(log, model, consumer=consumer, lease_ms=1000)

def make():
    learner = Learner(log, Registry(registry), getattr(models, model)(seed=0), **settings)
    print("active", learner.status().position, flush=True)
    return learner

status = run_active_or_standby(make, group, follow=True, poll_s=0.05, until=total,
                               on_status=lambda s: print("at", s.position, flush=True))
print("done", status.position, flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="bpr")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ingest-rate", type=float, default=2000.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"
    import numpy as np
    import redis

    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.live import Registry
    from freshrec.live.learner import Learner
    from freshrec.live.standby import StreamGroup
    from freshrec.log import open_log
    from freshrec.persist import atomic_write_text

    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    events = load_dataset("ml-1m", data_dir).events.sort_by_time()[: args.events]
    events = events.with_columns(event_id=np.arange(len(events), dtype=np.int64))
    model = MODELS[args.model]
    prefix = f"freshrec-bench:{uuid.uuid4().hex}"
    url = f"{args.redis}?prefix={prefix}"
    client = redis.Redis.from_url(args.redis)
    try:
        with tempfile.TemporaryDirectory() as folder:
            clean_log = open_log(f"sqlite:///{Path(folder) / 'clean.db'}")
            clean_log.append(events)
            clean = Learner(clean_log, Registry(Path(folder) / "clean"), _model(model), **SETTINGS)
            clean.run()
            log = open_log(url)
            group = StreamGroup(log, model, consumer="observer")
            group.join()
            took: list[float] = []
            ingest = threading.Thread(
                target=paced_ingest, args=(log, events, args.ingest_rate, took), daemon=True
            )
            ingest.start()
            kills = _run(url, Path(folder) / "registry", model, len(events), group, args)
            ingest.join()
            final = Learner(log, Registry(Path(folder) / "registry"), _model(model), **SETTINGS)
            users = np.array(clean.model.user_map_.ids)
            items = final.model.item_map_.encode(np.array(clean.model.item_map_.ids))
            diff = np.abs(
                clean.model.score_batch(np.arange(clean.model.n_users))
                - final.model.score_batch(final.model.user_map_.encode(users))[:, items]
            ).max()
            result = {
                "command": "python benchmarks/learner_standby.py " + " ".join(argv or sys.argv[1:]),
                "machine": machine_summary(),
                "date": time.strftime("%Y-%m-%d"),
                "model": args.model,
                "events": len(events),
                "settings": SETTINGS,
                "lease_ms": 1000,
                "ingest_s": took[0],
                "max_abs_score_diff": float(diff),
                "final_position": final.status().position,
                "pending_at_end": group.pending(),
                "kills": kills,
            }
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    atomic_write_text(args.out, json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "kills"}))
    print(f"wrote {args.out}")
    return 0


def _model(name: str) -> Any:
    import freshrec.models as models

    return getattr(models, name)(seed=0)


def _run(
    url: str, registry: Path, model: str, total: int, group: Any, args: argparse.Namespace
) -> list[dict[str, Any]]:
    import numpy as np

    targets = iter(np.sort(np.random.default_rng(args.seed).choice(total, args.kills, False)))
    target = next(targets, None)
    active = _worker(url, registry, model, "learner-0", total)
    assert active.stdout is not None
    active.stdout.readline()  # "active ..."
    standby = _worker(url, registry, model, "learner-1", total)
    kills: list[dict[str, Any]] = []
    serial = 2
    while True:
        line = active.stdout.readline()
        if not line or line.startswith("done"):
            break
        if target is None or int(line.split()[1]) < target:
            continue
        held = group.pending()
        active.send_signal(signal.SIGKILL)
        killed_at = time.perf_counter()
        active.wait()
        active, standby = standby, _worker(url, registry, model, f"learner-{serial}", total)
        serial += 1
        assert active.stdout is not None
        resumed = int(active.stdout.readline().split()[1])  # "active POSITION"
        active.stdout.readline()  # its first status: the next event applied
        kills.append(
            {
                "killed_at": int(line.split()[1]),
                "pending_held": held,
                "resumed_at": resumed,
                "takeover_s": time.perf_counter() - killed_at,
            }
        )
        target = next(targets, None)
    active.wait()
    standby.send_signal(signal.SIGKILL)
    standby.wait()
    return kills


def _worker(url: str, registry: Path, model: str, consumer: str, total: int) -> Any:
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, url, str(registry), model, consumer, str(total)]
        + [json.dumps(SETTINGS)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


if __name__ == "__main__":
    raise SystemExit(main())
