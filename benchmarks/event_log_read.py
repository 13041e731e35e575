"""Event-log throughput on ML-1M: append the 1,000,209 ratings, then read them back.

Usage::

    python benchmarks/event_log_read.py [--data-dir DIR] [--backends memory,sqlite,redis]
                                        [--repeats 3] [--batch 100000] [--out FILE]

For each backend and repetition, a new, empty log (``memory://``; ``sqlite:///`` in a
temporary folder; Redis at ``--redis URL`` under a fresh key prefix, deleted afterwards):

- **append**: one ``EventLog.append`` of the whole dataset in file order, ``event_id`` =
  row number (so the log checks every id against its dedupe table), timed end to end
  (validation, dedupe, id encoding, block packing, commit).
- **read**: the log closed and opened again from its URL (a cold client), then
  ``read(cursor, --batch)`` in a loop until the end, each batch a full ``EventBatch`` with
  ``user_idx`` / ``item_idx``; timed from the open to the last batch. The events read are
  checked against the dataset.

Threads are pinned to 1 (``OMP/MKL/OPENBLAS/NUMBA`` variables set before numpy loads, then
``freshrec.threads.pin_threads(1)``: threadpoolctl, torch, numba); the work is single
threaded anyway. Redis runs as its own process (on the same machine). Figures are the
median of the repetitions, with every run in the JSON. The bar (issue): SQLite reads
>= 500,000 events/s, goal 1,000,000/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "event_log_read.json"
READ_BAR, READ_GOAL = 500_000, 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--backends", default="memory,sqlite,redis")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"  # before numpy and numba load
    import numpy as np

    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset
    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    data_dir = default_data_dir(Path(args.data_dir) if args.data_dir else None)
    events = load_dataset("ml-1m", data_dir).events
    events = events.with_columns(event_id=np.arange(len(events), dtype=np.int64))
    runs: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for backend in args.backends.split(","):
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                url, cleanup = _new_log_url(backend, Path(folder), args.redis)
                if url is None:
                    skipped[backend] = cleanup.__doc__ or "unavailable"
                    break
                try:
                    run = {"backend": backend, "repeat": repeat, **_run(url, events, args.batch)}
                finally:
                    cleanup()
            runs.append(run)
            print(json.dumps(run), flush=True)
    summary = {
        backend: {
            key: statistics.median(r[key] for r in runs if r["backend"] == backend)
            for key in ("append_events_per_s", "read_events_per_s", "append_s", "read_s")
        }
        for backend in dict.fromkeys(r["backend"] for r in runs)
    }
    sqlite_read = summary.get("sqlite", {}).get("read_events_per_s")
    report = {
        "command": "python benchmarks/event_log_read.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + ", 1 thread (pinned)",
        "date": time.strftime("%Y-%m-%d"),
        "dataset": "ml-1m",
        "n_events": len(events),
        "read_batch": args.batch,
        "repeats": args.repeats,
        "bar": {
            "sqlite_read_events_per_s": READ_BAR,
            "goal": READ_GOAL,
            "met": None if sqlite_read is None else sqlite_read >= READ_BAR,
        },
        "summary": summary,
        "skipped": skipped,
        "runs": runs,
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    _print_table(summary, len(events))
    return 0


def _run(url: str, events: Any, batch: int) -> dict[str, Any]:
    """Append ``events`` to a new log at ``url``, reopen it, read everything back."""
    import numpy as np

    from freshrec.log import Cursor, EventLog, MemoryBackend, open_log

    log = open_log(url)
    start = time.perf_counter()
    result = log.append(events)
    append_s = time.perf_counter() - start
    if result.accepted != len(events):
        raise RuntimeError(f"{url}: {result.accepted} of {len(events)} events accepted")
    backend = log.backend
    log.close()

    start = time.perf_counter()
    if isinstance(backend, MemoryBackend):  # memory: a new client over the same store
        log = EventLog(backend)
    else:
        log = open_log(url)
    cursor, n_read, n_batches, checksum = Cursor.START, 0, 0, 0.0
    while True:
        part = log.read(cursor, batch)
        if not len(part):
            break
        n_read += len(part)
        n_batches += 1
        checksum += float(part.events.value.sum(dtype=np.float64))
        cursor = part.next_cursor
    read_s = time.perf_counter() - start
    log.close()
    if n_read != len(events) or abs(checksum - float(events.value.sum(dtype=np.float64))) > 1e-3:
        raise RuntimeError(f"{url}: read back {n_read} events, expected {len(events)}")
    return {
        "append_s": round(append_s, 4),
        "read_s": round(read_s, 4),
        "append_events_per_s": round(len(events) / append_s),
        "read_events_per_s": round(n_read / read_s),
        "read_batches": n_batches,
    }


def _new_log_url(backend: str, folder: Path, redis_url: str) -> tuple[str | None, Any]:
    """The URL of a new, empty log, and a function that deletes it."""
    if backend == "memory":
        return "memory://", lambda: None
    if backend == "sqlite":
        return f"sqlite:///{folder / 'events.db'}", lambda: None
    if backend != "redis":
        raise ValueError(f"unknown backend {backend!r}")
    try:
        import redis

        from freshrec.log.redis_streams import RedisKeys

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
        client.ping()
    except Exception as err:  # no package or no server: report, do not fail the others

        def unavailable() -> None:
            pass

        unavailable.__doc__ = f"Redis unavailable at {redis_url}: {err}"
        return None, unavailable
    prefix = f"freshrec-bench:{uuid.uuid4().hex}"

    def cleanup() -> None:
        client.delete(*RedisKeys.under(prefix).all())
        client.close()

    return f"{redis_url}?prefix={prefix}", cleanup


def _print_table(summary: dict[str, dict[str, float]], n_events: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Event log on ML-1M ({n_events:,} events), median of runs")
    for column in ("backend", "append events/s", "append s", "read events/s", "read s"):
        table.add_column(column, justify="right")
    for backend, row in summary.items():
        table.add_row(
            backend,
            f"{row['append_events_per_s']:,.0f}",
            f"{row['append_s']:.2f}",
            f"{row['read_events_per_s']:,.0f}",
            f"{row['read_s']:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main())
