"""Hot swap of ``freshrec serve`` under fixed-rate load: promotions, rollbacks, SIGTERM.

Usage::

    python benchmarks/serve_hot_swap.py [--rate 200] [--duration 60] [--every 2]
                                        [--rollback-duration 20] [--sigterm-runs 5]
                                        [--sigterm-duration 10] [--events 500000]
                                        [--versions 32] [--epochs 10] [--workers 32]
                                        [--seed 0] [--data-dir DIR] [--work-dir DIR]
                                        [--out FILE]

Set-up (timed, reported): a service data folder (``--work-dir``, else a temporary one) with a
SQLite log holding the first ``--events`` ratings of ML-1M in time order and a registry with
``--versions`` BPR versions, all prepared before the server starts: each learned from the
whole log by ``learn_from_log`` with its own seed (0, 1, ...) and ``--epochs`` epochs (the
other hyperparameters the defaults), so every version's cursor is the log's head and a swap
folds in no events; the first is promoted. Then the server runs as a separate process,
``python -m freshrec serve --port P --data-dir DIR --model bpr --no-learn`` (no learner: the
only swaps are the benchmark's).

Load: ``GET /v1/users/{user}/recommendations?k=10&exclude_seen=true`` for users drawn
(seeded, uniformly) from the model's users, open loop at ``--rate`` per second
(``benchmarks/loadgen.py``: latency from each request's scheduled time, ``--workers``
threads). Phases, on the same server and rate:

1. **warm-up**: 5 s, discarded (reported apart);
2. **steady**: ``--duration`` s without promotions: the steady p99;
3. **swaps**: ``--duration`` s while a thread promotes the next version every ``--every`` s
   through the API (``POST /v1/models/{version}/promote``: the registry's label moves, then
   the server loads, checks and swaps the version before answering); "during swaps" are the
   requests scheduled within ``--window`` (0.5 s) after each promotion was sent; then
   ``GET /v1/models`` must name the last promoted version as serving and stable;
4. **rollback**: ``--rollback-duration`` s with ``POST /v1/models/rollback`` every
   ``--every`` s alternating with promotions (promote first);
5. **SIGTERM**: ``--sigterm-runs`` times, a fresh server, ``--sigterm-duration`` s of load
   with SIGTERM sent to the server halfway; each request's send time, end, and failure
   (exception class and message) are recorded and classified against the signal.

Bars: no failed request in phases 2-4; p99 during swaps <= 2x the steady p99; after SIGTERM,
no request the server had accepted ends in a reset or truncated answer. Figures for each
phase also include the server's own time per route (``/metrics``) and the load average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import LoadResult, run_load, window  # noqa: E402
from serve_freshness import (  # noqa: E402  (the freshness benchmark's set-up)
    RESULTS,
    cpu_model,
    free_port,
    git_commit,
    ml1m_prefix,
    model_for,
    prepare_service,
    request_histogram,
    route_seconds,
    start_server,
    stop_server,
    wait_ready,
)

WARMUP_S = 5.0
SWAP_RATIO_BAR = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between swaps")
    parser.add_argument("--window", type=float, default=0.5, help="seconds after a swap")
    parser.add_argument("--rollback-duration", type=float, default=20.0)
    parser.add_argument("--sigterm-runs", type=int, default=5)
    parser.add_argument("--sigterm-duration", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--versions", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="datasets folder (ML-1M)")
    parser.add_argument("--work-dir", default=None, help="service data folder (else temporary)")
    parser.add_argument("--out", default=str(RESULTS / "serve_hot_swap.json"))
    args = parser.parse_args(argv)

    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    results: dict[str, Any] = {
        "command": "python benchmarks/serve_hot_swap.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "commit": git_commit(),
        "machine": machine_summary(),
        "cpu_model": cpu_model(),
        "settings": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "data_dir", "work_dir")},
            "model": {"class": "BPR", "params": {"n_epochs": args.epochs, "seed": "0, 1, ..."}},
            "request": "GET /v1/users/{user}/recommendations?k=K&exclude_seen=true",
            "warmup_s": WARMUP_S,
            "server": "python -m freshrec serve --model bpr --no-learn (separate process)",
        },
        "phases": {},
    }

    def save() -> None:
        atomic_write_text(args.out, json.dumps(results, indent=2))

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work_dir or scratch)
        _, events = ml1m_prefix(args.data_dir, args.events)
        models = [model_for("bpr", seed=s, n_epochs=args.epochs) for s in range(args.versions)]
        model, prepare = prepare_service(work, events, models)
        del models
        results["prepare"] = {**prepare, "learn_s_total": sum(prepare["learn_s"])}
        versions: list[str] = prepare["versions"]
        print(json.dumps({"prepare_s": results["prepare"]["learn_s_total"]}), flush=True)

        rng = np.random.default_rng(args.seed)
        known = [str(u) for u in model.user_map_.ids]
        n_max = int(args.rate * max(args.duration, args.rollback_duration, WARMUP_S)) + 1
        paths = [
            f"/v1/users/{quote(u, safe='')}/recommendations?k={args.k}&exclude_seen=true"
            for u in rng.choice(known, n_max)
        ]

        def recommend(client: Any, i: int) -> tuple[int, bytes]:
            return client.request("GET", paths[i])  # type: ignore[no-any-return]

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_server(work, "bpr", port)
        try:
            results["server_start_s"] = wait_ready(url, process)
            load = {"rate": args.rate, "workers": args.workers}

            phase = Phase(url, "warmup", process.pid)
            phase.finish(run_load(url, recommend, duration_s=WARMUP_S, **load), [])
            results["phases"]["warmup"] = phase.report
            print(phase.line(), flush=True)

            phase = Phase(url, "steady", process.pid)
            steady = run_load(url, recommend, duration_s=args.duration, **load)
            phase.finish(steady, [])
            results["phases"]["steady"] = phase.report
            print(phase.line(), flush=True)
            save()

            order = itertools.cycle(versions[1:] + versions[:1])
            actions = [("promote", next(order)) for _ in _times(args.duration, args.every)]
            phase = Phase(url, "swaps", process.pid)
            swaps, done = phase.run(recommend, actions, args.duration, args.every, load)
            phase.finish(swaps, done)
            last = [a["version"] for a in done if a["ok"]][-1]
            phase.report.update(swap_figures(steady, swaps, done, args.window))
            phase.report["serving_after"] = check_serving(url, last)
            results["phases"]["swaps"] = phase.report
            print(phase.line(), flush=True)
            save()

            n_rollback = len(_times(args.rollback_duration, args.every))
            plan = [
                ("promote", next(order)) if n % 2 == 0 else ("rollback", None)
                for n in range(n_rollback)
            ]
            phase = Phase(url, "rollback", process.pid)
            rolled, done = phase.run(recommend, plan, args.rollback_duration, args.every, load)
            phase.finish(rolled, done)
            expected = _expected_stable(last, done)
            phase.report["serving_after"] = check_serving(url, expected)
            results["phases"]["rollback"] = phase.report
            print(phase.line(), flush=True)
            save()
        finally:
            results["server_exit"] = stop_server(process, work)

        results["phases"]["sigterm"] = [
            sigterm_run(work, recommend, args, n) for n in range(args.sigterm_runs)
        ]
        for run in results["phases"]["sigterm"]:
            print(json.dumps({"sigterm": run["classes"]}), flush=True)

    results["bars"] = bars(results)
    save()
    print_table(results)
    print(f"wrote {args.out}")
    return 0


def _times(duration_s: float, every_s: float) -> list[float]:
    """When actions are sent: every ``every_s`` from ``every_s`` on, before ``duration_s``."""
    return [t for t in np.arange(every_s, duration_s, every_s).tolist() if t < duration_s - 1e-9]


def _expected_stable(before: str, done: list[dict[str, Any]]) -> str:
    """The stable version after ``done`` (promotions and rollbacks), starting at ``before``."""
    stable, previous = before, None
    for action in done:
        if not action["ok"]:
            continue
        if action["action"] == "promote":
            stable, previous = action["version"], stable
        else:
            stable, previous = previous, None
    assert stable is not None
    return stable


class Phase:
    """One load phase: its load result, the server's histogram before and after, the
    load average, and the admin actions sent during it."""

    def __init__(self, url: str, name: str, server_pid: int) -> None:
        self.url = url
        self.name = name
        self.server_pid = server_pid
        self.before = request_histogram(url)
        self.cpu = cpu_seconds(server_pid)
        self.report: dict[str, Any] = {"loadavg_start": os.getloadavg()}

    def run(
        self,
        make_request: Any,
        actions: list[tuple[str, str | None]],
        duration_s: float,
        every_s: float,
        load: dict[str, Any],
    ) -> tuple[LoadResult, list[dict[str, Any]]]:
        """Run the load while a thread sends ``actions`` every ``every_s`` (its own client)."""
        done: list[dict[str, Any]] = []
        times = _times(duration_s, every_s)[: len(actions)]
        t0 = time.perf_counter() + 0.05  # as run_load's own start (its first slot)
        admin = threading.Thread(target=_act, args=(self.url, actions, times, t0, done))
        admin.start()
        result = run_load(self.url, make_request, duration_s=duration_s, **load)
        admin.join()
        return result, done

    def finish(self, result: LoadResult, done: list[dict[str, Any]]) -> None:
        self.report["loadavg_end"] = os.getloadavg()
        self.report["cpu_cores"] = cores_used(self.cpu, cpu_seconds(self.server_pid))
        self.report["load"] = result.summary()
        self.report["per_second"] = [
            window(result, s, min(s + 1.0, result.duration_s))
            for s in range(int(np.ceil(result.duration_s)))
        ]
        self.report["server"] = route_seconds(request_histogram(self.url), self.before)
        if done:
            self.report["actions"] = done
            took = np.array([a["took_ms"] for a in done])
            self.report["action_took_ms"] = {
                "p50": float(np.percentile(took, 50)),
                "max": float(took.max()),
                "failed": sum(not a["ok"] for a in done),
            }

    def line(self) -> str:
        s = self.report["load"]
        figures = {k: s[k] for k in ("sent", "failed", "p50_ms", "p99_ms", "max_ms", "errors")}
        return json.dumps({self.name: {**figures, "cpu_cores": self.report["cpu_cores"]}})


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server, this process and the whole machine (busy), and the
    wall clock (from /proc; Linux only)."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    server = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    own = os.times()
    total = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    machine = (sum(total) - total[3] - total[4]) / tick  # all but idle and iowait
    return {
        "wall": time.perf_counter(),
        "server": server,
        "benchmark": own.user + own.system,
        "machine": machine,
    }


def cores_used(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
    """Average cores busy between two :func:`cpu_seconds` readings: the server, this process
    (the load generator), everything else on the machine, and the machine in all."""
    wall = end["wall"] - start["wall"]
    used = {k: (end[k] - start[k]) / wall for k in ("server", "benchmark", "machine")}
    return {
        "server": round(used["server"], 3),
        "benchmark": round(used["benchmark"], 3),
        "other": round(used["machine"] - used["server"] - used["benchmark"], 3),
        "machine": round(used["machine"], 3),
        "wall_s": round(wall, 2),
    }


def _act(
    url: str,
    actions: list[tuple[str, str | None]],
    times: list[float],
    t0: float,
    done: list[dict[str, Any]],
) -> None:
    from freshrec.serving.client import Client

    with Client(url, timeout_s=30.0) as client:
        for (action, version), at in zip(actions, times, strict=False):
            time.sleep(max(0.0, t0 + at - time.perf_counter()))
            sent = time.perf_counter()
            record: dict[str, Any] = {"action": action, "version": version}
            try:
                answer = client.promote(version) if action == "promote" else client.rollback()
                record.update(ok=True, serving=answer["serving"], labels=answer["labels"])
                if action == "rollback":
                    record["version"] = answer["serving"]
            except Exception as error:  # recorded, counted as a failed action
                record.update(ok=False, error=f"{type(error).__name__}: {error}")
            record["at_s"] = sent - t0
            record["took_ms"] = (time.perf_counter() - sent) * 1000
            done.append(record)


def swap_figures(
    steady: LoadResult, swaps: LoadResult, done: list[dict[str, Any]], window_s: float
) -> dict[str, Any]:
    """p99 of the requests scheduled within ``window_s`` after each promotion, against the
    steady run's p99 (and the swap run's other requests)."""
    inside = np.zeros(len(swaps.scheduled_s), dtype=bool)
    failed_inside = 0
    for action in done:
        start = action["at_s"]
        inside |= (swaps.scheduled_s >= start) & (swaps.scheduled_s < start + window_s)
        failed_inside += int(
            ((swaps.failed_s >= start) & (swaps.failed_s < start + window_s)).sum()
        )
    during, outside = swaps.latencies_ms[inside], swaps.latencies_ms[~inside]
    steady_p99 = float(np.percentile(steady.latencies_ms, 99))
    during_p99 = float(np.percentile(during, 99)) if len(during) else float("nan")
    return {
        "window_s": window_s,
        "promotions": len(done),
        "during_swaps": {
            "requests": int(len(during) + failed_inside),
            "failed": failed_inside,
            "p50_ms": float(np.percentile(during, 50)) if len(during) else None,
            "p99_ms": during_p99,
            "max_ms": float(during.max()) if len(during) else None,
        },
        "between_swaps": {
            "requests": int(len(outside)),
            "p50_ms": float(np.percentile(outside, 50)) if len(outside) else None,
            "p99_ms": float(np.percentile(outside, 99)) if len(outside) else None,
        },
        "steady_p99_ms": steady_p99,
        "ratio_p99_during_to_steady": during_p99 / steady_p99,
    }


def check_serving(url: str, expected: str) -> dict[str, Any]:
    """``GET /v1/models``: the serving version and the stable label against ``expected``."""
    from freshrec.serving.client import Client

    time.sleep(0.5)  # more than one poll of the store (0.2 s)
    with Client(url) as client:
        answer = client.models()
    return {
        "expected": expected,
        "serving": answer["serving"],
        "stable": answer["labels"]["stable"],
        "ok": answer["serving"] == answer["labels"]["stable"] == expected,
    }


# -- SIGTERM under load ------------------------------------------------------------------------
def sigterm_run(work: Path, recommend: Any, args: argparse.Namespace, n: int) -> dict[str, Any]:
    """A fresh server; load for ``--sigterm-duration`` s; SIGTERM halfway; every request
    classified against the signal (see :func:`classify`)."""
    import signal

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(work, "bpr", port)
    start_s = wait_ready(url, process)
    signal_at = args.sigterm_duration / 2
    t0 = time.perf_counter() + 0.05  # as run_load's own start
    log: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()

    def traced(client: Any, i: int) -> tuple[int, bytes]:
        sent = time.perf_counter() - t0
        try:
            status, body = recommend(client, i)
        except Exception as error:
            with lock:
                log[i] = {
                    "sent_s": sent,
                    "end_s": time.perf_counter() - t0,
                    "error": type(error).__name__,
                    "message": str(error)[:200],
                }
            raise
        with lock:
            log[i] = {"sent_s": sent, "end_s": time.perf_counter() - t0, "status": status}
        return status, body

    signalled: dict[str, float] = {}

    def terminate() -> None:
        time.sleep(max(0.0, t0 + signal_at - time.perf_counter()))
        signalled["at_s"] = time.perf_counter() - t0
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        signalled["exit_s"] = time.perf_counter() - t0

    killer = threading.Thread(target=terminate)
    killer.start()
    result = run_load(
        url,
        traced,
        rate=args.rate,
        duration_s=args.sigterm_duration,
        workers=args.workers,
        drain_s=5.0,
    )
    killer.join()
    ended = stop_server(process, work)
    return {
        "run": n,
        "server_start_s": start_s,
        "signal_s": signalled["at_s"],
        "server_exit_s": signalled.get("exit_s"),
        "returncode": ended["returncode"],
        "server_output_tail": ended["output_tail"],
        "load": result.summary(),
        "classes": classify(log, result, signalled["at_s"]),
    }


def classify(log: dict[int, dict[str, Any]], result: LoadResult, signal_s: float) -> dict:
    """Each request by when it was sent (before or after the signal) and how it ended.

    ``in_flight_at_signal``: sent before the signal, ended after it; these had reached the
    server (or its listen queue) and must end with a complete answer. A request that raised
    ends as its exception class: ``ConnectionRefusedError`` (nothing listens any more: the
    server never accepted it), ``RemoteDisconnected``/``ConnectionResetError`` (the connection
    closed before any byte of an answer), ``IncompleteRead`` (a truncated answer).
    ``never_sent``: slots the load generator did not start (the schedule ran out, or the
    drain ended).
    """
    classes: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    in_flight: Counter[str] = Counter()
    for entry in log.values():
        when = "before" if entry["sent_s"] < signal_s else "after"
        outcome = f"HTTP {entry['status']}" if "status" in entry else entry["error"]
        classes[f"sent_{when}_signal: {outcome}"] += 1
        if "error" in entry:
            messages[f"{entry['error']}: {entry['message']}"] += 1
        if entry["sent_s"] < signal_s <= entry["end_s"]:
            in_flight[outcome] += 1
    return {
        "sent": result.sent,
        "started": len(log),
        "never_sent": result.sent - len(log),
        "by_outcome": dict(sorted(classes.items())),
        "in_flight_at_signal": dict(in_flight),
        "failure_messages": dict(messages.most_common(10)),
        "loadgen_failed_kinds": result.errors,
        "last_ok_sent_s": max(
            (e["sent_s"] for e in log.values() if 200 <= e.get("status", 0) < 300), default=None
        ),
    }


# -- summary --------------------------------------------------------------------------------
def bars(results: dict[str, Any]) -> dict[str, Any]:
    phases = results["phases"]
    swaps = phases["swaps"]
    failed = {name: phases[name]["load"]["failed"] for name in ("steady", "swaps", "rollback")}
    truncated = {
        "in_flight_failed": sum(
            n
            for run in phases["sigterm"]
            for kind, n in run["classes"]["in_flight_at_signal"].items()
            if not kind.startswith("HTTP 2")
        ),
        "incomplete_reads": sum(
            n
            for run in phases["sigterm"]
            for kind, n in run["classes"]["by_outcome"].items()
            if "IncompleteRead" in kind
        ),
    }
    return {
        "failed_requests": failed,
        "zero_failed": not any(failed.values()),
        "swap_p99_ratio": swaps["ratio_p99_during_to_steady"],
        "swap_p99_within_2x": swaps["ratio_p99_during_to_steady"] <= SWAP_RATIO_BAR,
        "serving_last_promoted": swaps["serving_after"]["ok"],
        "rollback_serving_ok": phases["rollback"]["serving_after"]["ok"],
        "sigterm": truncated,
        "sigterm_ok": not any(truncated.values()),
    }


def print_table(results: dict[str, Any]) -> None:
    print("| phase | sent | failed | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name in ("steady", "swaps", "rollback"):
        s = results["phases"][name]["load"]
        print(
            f"| {name} | {s['sent']} | {s['failed']} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} "
            f"| {s['max_ms']:.1f} |"
        )
    d = results["phases"]["swaps"]["during_swaps"]
    print(
        f"| during swaps | {d['requests']} | {d['failed']} | {d['p50_ms']:.1f} | "
        f"{d['p99_ms']:.1f} | {d['max_ms']:.1f} |"
    )
    print(json.dumps(results["bars"], indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
