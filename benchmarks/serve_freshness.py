"""Freshness of ``freshrec serve``: from an event's POST to the first recommendation that uses it.

Usage::

    python benchmarks/serve_freshness.py --model bpr|sasrec [--trials 1000] [--events 500000]
                                         [--k 100] [--poll-ms 2] [--seed 0]
                                         [--data-dir DIR] [--work-dir DIR] [--out FILE]

Set-up (timed, reported): a service data folder (``--work-dir``, else a temporary one) with a
SQLite log (``events.db``) holding the first ``--events`` ratings of ML-1M in time order
(``event_id`` = row number) and a registry with one stable version learned from it by
``model.learn_from_log(log)`` (BPR: the defaults; SASRec: the defaults but 2 epochs, see
``MODELS``), published and promoted. Then the server starts as a separate process,
``python -m freshrec serve --port P --data-dir DIR --model M --no-learn``: the embedded
default (SQLite log, the store woken by each ``POST /v1/events``, ``fold_in`` for BPR and
``observe`` for SASRec), but no learner, so no swap of the shared parameters interferes.

Each trial takes a user the model knows (distinct, seeded order) and one item the model knows
that the user never rated in the whole of ML-1M, then with one :class:`Client`:

1. ``GET /v1/users/{user}/recommendations?k=K&exclude_seen=false`` (the answer before);
2. ``POST /v1/events`` of ``{user, item, value 5, a fresh event_id, timestamp after the
   log's last}``; the answer's ``cursor`` is the event's (one writer: the head);
3. ``GET`` again every ``--poll-ms`` until the answer's ``user_cursor`` covers that cursor
   (integers as text in a SQLite log) and its scores differ from the answer before.

Latency runs from just before the POST to the end of that answer. Reported: p50, p90, p99,
max and mean over the trials, how many needed more than one poll, the POST's own time, the
answers whose cursor covered the event with unchanged scores (should be none), the server's
own mean time per route (``/metrics``), and the load average. Bars: p99 <= 1 s, goal 100 ms.
Threads are not pinned: the server runs as ``freshrec serve`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"
MODELS: dict[str, dict[str, Any]] = {
    "bpr": {"class": "BPR", "params": {"seed": 0}},
    "sasrec": {"class": "SASRec", "params": {"n_epochs": 2, "seed": 0}},
}
FRESHNESS_BAR_S = 1.0
FRESHNESS_GOAL_S = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per trial at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="datasets folder (ML-1M)")
    parser.add_argument("--work-dir", default=None, help="service data folder (else temporary)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    out = Path(args.out or RESULTS / f"serve_freshness_{args.model}.json")

    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    results: dict[str, Any] = {
        "command": "python benchmarks/serve_freshness.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "commit": git_commit(),
        "machine": machine_summary(),
        "cpu_model": cpu_model(),
        "loadavg_start": os.getloadavg(),
        "settings": {
            "model": args.model,
            "model_params": MODELS[args.model],
            "events": args.events,
            "trials": args.trials,
            "k": args.k,
            "exclude_seen": False,
            "poll_ms": args.poll_ms,
            "seed": args.seed,
            "server": "python -m freshrec serve --no-learn (separate process, defaults)",
        },
    }
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work_dir or scratch)
        ml1m, events = ml1m_prefix(args.data_dir, args.events)
        model, prepare = prepare_service(work, events, [model_for(args.model)])
        results["prepare"] = prepare
        print(json.dumps({"prepare": prepare}), flush=True)
        with serving(work, args.model) as (url, server):
            results["server_start_s"] = server["start_s"]
            trials = run_trials(url, model, ml1m, events, args)
            results["server_metrics"] = route_seconds(request_histogram(url))
        results["server_exit"] = server.get("exit")
    results["loadavg_end"] = os.getloadavg()
    results["figures"] = summarize(trials)
    results["bar_p99_le_1s"] = results["figures"]["p99_ms"] <= FRESHNESS_BAR_S * 1000
    results["goal_p99_le_100ms"] = results["figures"]["p99_ms"] <= FRESHNESS_GOAL_S * 1000
    results["trials"] = trials
    atomic_write_text(out, json.dumps(results, indent=2))
    figures = results["figures"]
    print("| model | trials | p50 ms | p90 ms | p99 ms | max ms | >1 poll | failed |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.model} | {figures['trials']} | {figures['p50_ms']:.1f} | "
        f"{figures['p90_ms']:.1f} | {figures['p99_ms']:.1f} | {figures['max_ms']:.1f} | "
        f"{figures['more_than_one_poll']} | {figures['failed']} |"
    )
    print(f"wrote {out}")
    return 0


# -- set-up shared with serve_hot_swap.py --------------------------------------------------
def git_commit() -> str:
    """The repository's commit, with ``+dirty`` when ``freshrec/`` has uncommitted changes."""

    def git(*args: str) -> str:
        found = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return found.stdout.strip()

    return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain", "freshrec") else "")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``unknown`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def ml1m_prefix(data_dir: str | None, n_events: int) -> tuple[Any, Any]:
    """All of ML-1M in time order, and its first ``n_events`` with ``event_id`` = row."""
    from freshrec.cli.options import default_data_dir
    from freshrec.data.registry import load_dataset

    folder = default_data_dir(Path(data_dir) if data_dir else None)
    everything = load_dataset("ml-1m", folder).events.sort_by_time()
    prefix = everything[:n_events]
    return everything, prefix.with_columns(event_id=np.arange(len(prefix), dtype=np.int64))


def model_for(name: str, **params: Any) -> Any:
    """A new model of ``MODELS[name]`` (``params`` on top of its settings)."""
    import freshrec.models as models
    from freshrec.models.sasrec import SASRec

    spec = MODELS[name]
    cls = SASRec if spec["class"] == "SASRec" else getattr(models, spec["class"])
    return cls(**{**spec["params"], **params})


def prepare_service(work: Path, events: Any, models: list[Any]) -> tuple[Any, dict[str, Any]]:
    """Write ``events`` into ``work/events.db``, learn each of ``models`` from it and publish
    them in order into ``work/registry`` (the first one promoted); the first model, timings."""
    from freshrec.live.registry import Registry
    from freshrec.log import open_log

    started = time.perf_counter()
    log = open_log(f"sqlite:///{work / 'events.db'}")
    log.append(events)
    append_s = time.perf_counter() - started
    registry = Registry(work / "registry", keep=len(models) + 10)
    learn_s, versions = [], []
    for model in models:
        started = time.perf_counter()
        model.learn_from_log(log)
        learn_s.append(time.perf_counter() - started)
        versions.append(registry.publish(model))
    registry.promote(versions[0])
    log.close()
    first = models[0]
    return first, {
        "log_events": len(events),
        "append_s": append_s,
        "learn_s": learn_s if len(learn_s) > 1 else learn_s[0],
        "versions": versions,
        "model_users": first.n_users,
        "model_items": first.n_items,
        "model_cursor": first.cursor_,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    work: Path, model: str, port: int, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """``python -m freshrec serve ... --no-learn [extra]`` over ``work``; output into
    work/server.log."""
    command = [sys.executable, "-m", "freshrec", "serve", "--port", str(port)]
    command += ["--data-dir", str(work), "--model", model, "--no-learn", *extra]
    output = open(work / "server.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        command,
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> float:
    """Seconds until ``GET /readyz`` answers 200 (raises when the process ends or times out)."""
    from freshrec.serving.client import Client

    started = time.perf_counter()
    with Client(url, timeout_s=5.0) as client:
        while time.perf_counter() - started < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                status, _ = client.request("GET", "/readyz")
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")


@contextmanager
def serving(
    work: Path, model: str, extra: Sequence[str] = (), timeout_s: float = 120.0
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server over ``work`` (``extra``: more ``freshrec serve`` options) while the block
    runs (``timeout_s``: to get ready); SIGTERM and wait at the end.

    Yields the URL and a dict: ``start_s``, ``process``, and once stopped ``exit`` (return
    code, seconds from SIGTERM to exit, the last lines of its output).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(work, model, port, extra)
    info: dict[str, Any] = {"process": process}
    try:
        info["start_s"] = wait_ready(url, process, timeout_s)
        yield url, info
    finally:
        info["exit"] = stop_server(process, work)


def stop_server(process: subprocess.Popen[bytes], work: Path) -> dict[str, Any]:
    """SIGTERM (unless it has exited), wait up to 30 s (then SIGKILL); how it ended."""
    started = time.perf_counter()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    lines = (work / "server.log").read_text(errors="replace").splitlines()
    return {
        "returncode": code,
        "stop_s": time.perf_counter() - started,
        "output_tail": lines[-20:],
    }


_SAMPLE = re.compile(r"^freshrec_request_seconds_(sum|count|bucket)\{(.*)\} (\S+)$")


def request_histogram(url: str) -> dict[str, dict[str, Any]]:
    """The server's ``freshrec_request_seconds`` histogram from ``/metrics``: per
    ``"METHOD route status"``, its ``sum``, ``count`` and cumulative ``buckets`` by bound."""
    from freshrec.serving.client import Client

    with Client(url) as client:
        text = client.metrics()
    found: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        kind, labels, value = match.groups()
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        key = f"{fields['method']} {fields['route']} {fields['status']}"
        entry = found.setdefault(key, {"sum": 0.0, "count": 0, "buckets": {}})
        if kind == "bucket":
            entry["buckets"][fields["le"]] = int(float(value))
        else:
            entry[kind] = float(value) if kind == "sum" else int(float(value))
    return found


def route_seconds(
    now: dict[str, dict[str, Any]], since: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Per route: requests, mean ms and the cumulative share under each bucket bound, between
    two :func:`request_histogram` snapshots (``since=None``: from the start)."""
    since = since or {}
    out = {}
    for key, entry in sorted(now.items()):
        before = since.get(key, {"sum": 0.0, "count": 0, "buckets": {}})
        count = entry["count"] - before["count"]
        if count <= 0:
            continue
        share = {
            le: round((n - before["buckets"].get(le, 0)) / count, 5)
            for le, n in entry["buckets"].items()
        }
        out[key] = {
            "count": count,
            "mean_ms": 1000 * (entry["sum"] - before["sum"]) / count,
            "share_under_s": share,
        }
    return out


# -- the trials ------------------------------------------------------------------------------
def run_trials(
    url: str, model: Any, ml1m: Any, events: Any, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One trial per distinct known user (see the module docstring)."""
    from freshrec.data.batch import ids_array
    from freshrec.serving.client import Client

    rng = np.random.default_rng(args.seed)
    users = np.array(model.user_map_.ids, dtype=object)
    users = users[rng.permutation(len(users))][: args.trials]
    if len(users) < args.trials:
        raise ValueError(f"{len(users)} known users, fewer than {args.trials} trials")
    known_items = ids_array(list(model.item_map_.ids))
    rated_by: dict[Any, set[Any]] = {}
    for user, item in zip(ml1m.user.tolist(), ml1m.item.tolist(), strict=True):
        rated_by.setdefault(user, set()).add(item)
    last_ts = float(events.timestamp.max())
    next_id = len(events)
    trials = []
    with Client(url, timeout_s=args.timeout) as client:
        for n, user in enumerate(users.tolist()):
            pool = [i for i in known_items.tolist() if i not in rated_by.get(user, ())]
            item = pool[int(rng.integers(len(pool)))]
            event = {
                "event_id": next_id + n,
                "user": user,
                "item": item,
                "value": 5.0,
                "timestamp": last_ts + 1 + n,
            }
            trials.append(one_trial(client, user, event, args))
            if (n + 1) % 100 == 0:
                done = [t["latency_ms"] for t in trials if t["latency_ms"] is not None]
                print(
                    f"{n + 1} trials: p50 {np.percentile(done, 50):.1f} ms, "
                    f"p99 {np.percentile(done, 99):.1f} ms",
                    flush=True,
                )
    return trials


def one_trial(client: Any, user: Any, event: dict[str, Any], args: argparse.Namespace) -> dict:
    """GET, POST the event, poll until an answer covers it with changed scores."""
    before = scores_of(client.recommend(user, args.k, exclude_seen=False))
    started = time.perf_counter()
    posted = client.send_events([event])
    post_ms = (time.perf_counter() - started) * 1000
    if posted["accepted"] != 1:
        raise RuntimeError(f"the event was not accepted: {posted}")
    cursor = int(posted["cursor"])
    polls = covered_unchanged = 0
    latency_ms = None
    first_cover_ms = None
    while time.perf_counter() - started < args.timeout:
        time.sleep(args.poll_ms / 1000)
        answer = client.recommend(user, args.k, exclude_seen=False)
        polls += 1
        if int(answer["user_cursor"]) < cursor:
            continue
        now_ms = (time.perf_counter() - started) * 1000
        first_cover_ms = first_cover_ms if first_cover_ms is not None else now_ms
        if scores_of(answer) != before:
            latency_ms = now_ms
            break
        covered_unchanged += 1
    return {
        "user": user,
        "item": event["item"],
        "cursor": cursor,
        "post_ms": post_ms,
        "polls": polls,
        "latency_ms": latency_ms,
        "first_cover_ms": first_cover_ms,
        "covered_unchanged": covered_unchanged,
    }


def scores_of(answer: dict[str, Any]) -> list[tuple[Any, float]]:
    return [(entry["item"], entry["score"]) for entry in answer["items"]]


def summarize(trials: list[dict[str, Any]]) -> dict[str, Any]:
    done = np.array([t["latency_ms"] for t in trials if t["latency_ms"] is not None])
    post = np.array([t["post_ms"] for t in trials])
    polls = np.array([t["polls"] for t in trials])
    p50, p90, p99 = np.percentile(done, [50, 90, 99]) if len(done) else (np.nan,) * 3
    return {
        "trials": len(trials),
        "failed": int(len(trials) - len(done)),
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "max_ms": float(done.max()) if len(done) else None,
        "mean_ms": float(done.mean()) if len(done) else None,
        "more_than_one_poll": int((polls > 1).sum()),
        "polls_p50": float(np.percentile(polls, 50)),
        "polls_max": int(polls.max()),
        "post_p50_ms": float(np.percentile(post, 50)),
        "post_p99_ms": float(np.percentile(post, 99)),
        "covered_but_unchanged": int(sum(t["covered_unchanged"] for t in trials)),
    }


if __name__ == "__main__":
    raise SystemExit(main())
