"""Two replicas and an active + standby learner on one Redis Streams log, under fixed-rate load.

Usage::

    python benchmarks/serve_replicas.py [--rate 200] [--duration 60] [--ingest-rate 500]
                                        [--micro-batch 100] [--candidate-every 500]
                                        [--guard-events 250] [--checkpoint-every 5000]
                                        [--warm-events 200000] [--kill-at 30] [--lease-ms 3000]
                                        [--monotonic-rate 20] [--workers 32] [--seed 0]
                                        [--redis redis://127.0.0.1:6379/0] [--data-dir DIR]
                                        [--out FILE]

Set-up (timed, reported): a Redis Streams log under a fresh key prefix (deleted afterwards)
holding the first ``--warm-events`` ML-1M ratings in time order (``event_id`` = row number); a
BPR (32 factors, 10 epochs, seed 0) learned from them, published and promoted as ``v000001``
in a registry folder, and written as the learners' first checkpoint.

Processes, all on this machine and sharing the log and the registry folder:

- two replicas, ``python -m freshrec serve --log URL --registry DIR --no-learn --port P``
  (each polls the registry every 0.2 s and folds the log's new events into its users);
- two learners, ``python -m freshrec learn --log URL --registry DIR --model bpr --follow
  --consumer NAME --lease-ms N`` (BPR as above, streaming, ``--micro-batch``, a candidate
  every ``--candidate-every`` events checked by the guard on the next ``--guard-events``,
  default margin 0.02; one thread each): the first to take the lease is active, the other
  stands by. As a supervisor would, the benchmark replaces a learner that exits (a lost
  lease: reported) or that it killed with a new standby.

Then an event feeder POSTs the next ML-1M ratings to the replicas in turn (``POST /v1/events``,
batches of a tenth of ``--ingest-rate`` every 0.1 s; the replicas' per-user rate limit is
lifted, as a replay compresses years into a minute), so the learner publishes, and the guard
promotes, a candidate about every ``--candidate-every / --ingest-rate`` seconds. After 10 s of
feeding and 5 s of warm-up load (discarded), the measured run: ``--duration`` s of
``GET /v1/users/{user}/recommendations?k=10&exclude_seen=true`` (users drawn, seeded, from the
first version's) at ``--rate`` per second, open loop, round robin over both replicas
(``benchmarks/loadgen.py``). Beside it two clients alternate between the replicas at
``--monotonic-rate`` requests/s each: one sends ``X-Freshrec-Min-Version`` (monotonic reads),
the other (the control) does not. At ``--kill-at`` s (0: never) the active learner gets
SIGKILL; the standby takes over (timed until it holds the lease and has loaded the newest
checkpoint, and until the next promotion) and a new standby is started.

Reported: failures of the open loop (bar 0), backward steps of the monotonic client (bar 0;
the control shows what the header prevents), and for each promotion recorded in the registry's
journal during the run, the seconds from its ``promote`` record to each replica's swap to it or
a later version (``GET /v1/models``'s ``served`` history; one machine, one clock): p50, p99,
max over the promotions of the later replica (bar: p99 <= 1 s, with >= 30 promotions). Also
what the feeder's events became, the CPU each process used and the load average (other work on
the machine shows there). Threads pinned to 1 in every process.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import Alternation, alternate, run_load, window  # noqa: E402
from serve_freshness import (  # noqa: E402  (the service benchmarks' helpers)
    RESULTS,
    cpu_model,
    free_port,
    git_commit,
    ml1m_prefix,
    wait_ready,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 5.0
LEAD_S = 10.0  # seconds of feeding before the warm-up load
LEASE_MS = 3000
PICKUP_BAR_S = 1.0
MIN_PROMOTIONS = 30
MODEL: dict[str, Any] = {"n_factors": 32, "n_epochs": 10, "seed": 0}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--ingest-rate", type=float, default=500.0, help="events/s posted")
    parser.add_argument("--micro-batch", type=int, default=100)
    parser.add_argument("--candidate-every", type=int, default=500)
    parser.add_argument("--guard-events", type=int, default=250)
    parser.add_argument("--checkpoint-every", type=int, default=5000)
    parser.add_argument("--warm-events", type=int, default=200_000)
    parser.add_argument("--kill-at", type=float, default=30.0, help="0: no kill")
    parser.add_argument("--lease-ms", type=int, default=LEASE_MS, help="the learners' lease")
    parser.add_argument("--monotonic-rate", type=float, default=20.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--data-dir", default=None, help="datasets folder (ML-1M)")
    parser.add_argument("--out", default=str(RESULTS / "serve_replicas.json"))
    args = parser.parse_args(argv)
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    os.environ["NUMBA_NUM_THREADS"] = "1"

    import redis

    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text
    from freshrec.threads import pin_threads

    pin_threads(1)
    learner_settings = {
        "micro_batch": args.micro_batch,
        "candidate_every": args.candidate_every,
        "guard_events": args.guard_events,
        "checkpoint_every": args.checkpoint_every,
        "overrides": {"bpr": dict(MODEL)},
    }
    results: dict[str, Any] = {
        "command": (
            "python benchmarks/serve_replicas.py " + " ".join(argv or sys.argv[1:])
        ).rstrip(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": git_commit(),
        "machine": machine_summary(),
        "cpu_model": cpu_model(),
        "settings": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
            "model": {"class": "BPR", "params": MODEL},
            "learner": {**learner_settings, "strategy": "streaming", "margin": 0.02},
            "replica_poll_s": 0.2,
            "warmup_s": WARMUP_S,
            "lead_s": LEAD_S,
            "request": "GET /v1/users/{user}/recommendations?k=K&exclude_seen=true",
            "replicas": "python -m freshrec serve --log URL --registry DIR --no-learn",
        },
    }
    prefix = f"freshrec-bench:{uuid.uuid4().hex}"
    url = f"{args.redis}?prefix={prefix}"
    db = redis.Redis.from_url(args.redis)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            needed = args.warm_events + int(args.ingest_rate * (LEAD_S + WARMUP_S + args.duration))
            _, events = ml1m_prefix(args.data_dir, needed + 10 * int(args.ingest_rate))
            model, results["prepare"] = prepare(work, url, events[: args.warm_events], args)
            rng = np.random.default_rng(args.seed)
            users = [str(u) for u in rng.choice(np.array(model.user_map_.ids), 20_000)]
            del model
            results["run"] = run(
                work, url, events[args.warm_events :], users, args, learner_settings, processes
            )
    finally:
        for process in processes:
            stop(process)
        keys = list(db.scan_iter(match=f"{prefix}:*"))
        if keys:
            db.delete(*keys)
    results["bars"] = bars(results["run"])
    atomic_write_text(args.out, json.dumps(results, indent=2))
    print_table(results)
    print(f"wrote {args.out}")
    return 0


def prepare(
    work: Path, url: str, events: Any, args: argparse.Namespace
) -> tuple[Any, dict[str, Any]]:
    """The warm start: events into the Redis log, the first version learned, promoted and
    checkpointed where the learners resume."""
    from freshrec.live import Registry
    from freshrec.live.learner import Learner
    from freshrec.log import open_log
    from freshrec.models import BPR

    log = open_log(url)
    started = time.perf_counter()
    for start in range(0, len(events), 50_000):
        log.append(events[start : start + 50_000])
    appended = time.perf_counter()
    model = BPR(**MODEL).learn_from_log(log)
    learned = time.perf_counter()
    registry = Registry(work / "registry")
    registry.promote(registry.publish(model), reason="warm start")
    settings = {
        "micro_batch": args.micro_batch,
        "candidate_every": args.candidate_every,
        "guard_events": args.guard_events,
        "checkpoint_every": args.checkpoint_every,
    }
    Learner(log, registry, model, **settings).checkpoint()
    log.close()
    return model, {
        "warm_events": len(events),
        "append_s": appended - started,
        "learn_s": learned - appended,
        "users": model.n_users,
        "items": model.n_items,
    }


def run(
    work: Path,
    url: str,
    stream: Any,
    users: list[str],
    args: argparse.Namespace,
    learner_settings: dict[str, Any],
    processes: list[subprocess.Popen[bytes]],
) -> dict[str, Any]:
    """Start the replicas and learners, feed, load, kill; what was measured."""
    from freshrec.serving.client import Client

    registry = work / "registry"
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    replicas = [start_replica(work, url, registry, port, n) for n, port in enumerate(ports)]
    processes += replicas
    learners = Learners(work, url, learner_settings, args.lease_ms, processes)
    first = learners.start()
    report: dict[str, Any] = {"learner_start_s": learners.wait_active(first, 120.0)}
    learners.start()  # the standby
    report["replica_start_s"] = [wait_ready(u, p) for u, p in zip(urls, replicas, strict=True)]
    learners.supervise()

    feeder = Feeder(urls, stream, args.ingest_rate)
    feeder.start()
    time.sleep(LEAD_S)
    paths = [
        f"/v1/users/{u}/recommendations?k={args.k}&exclude_seen=true"
        for u in users * (1 + int(args.rate * args.duration) // len(users))
    ]

    def recommend(client: Client, i: int) -> tuple[int, bytes]:
        return client.request("GET", paths[i])

    load = {"rate": args.rate, "workers": args.workers}
    report["warmup"] = run_load(urls, recommend, duration_s=WARMUP_S, **load).summary()

    report["loadavg_start"] = os.getloadavg()
    before = cpu_seconds(named(replicas, learners.processes))
    alternating: dict[str, Alternation] = {}

    def alternating_client(name: str, monotonic: bool) -> None:
        alternating[name] = alternate(
            urls,
            users,
            rate=args.monotonic_rate,
            duration_s=args.duration,
            monotonic=monotonic,
            k=args.k,
        )

    threads = [
        threading.Thread(target=alternating_client, args=(name, monotonic))
        for name, monotonic in (("monotonic", True), ("control", False))
    ]
    kill: dict[str, Any] = {}
    t0 = time.time()
    if args.kill_at > 0:
        threads.append(
            threading.Thread(target=learners.kill_active, args=(t0 + args.kill_at, registry, kill))
        )
    for thread in threads:
        thread.start()
    result = run_load(urls, recommend, duration_s=args.duration, **load)
    t1 = t0 + args.duration
    for thread in threads:
        thread.join()
    feeder.stop()
    after = cpu_seconds(named(replicas, learners.processes))
    if "killed_unix" in kill:
        kill["at_s"] = kill["killed_unix"] - t0

    time.sleep(1.0)  # the last promotion's pickup
    models = []
    for replica_url in urls:
        with Client(replica_url) as client:
            models.append(client.models())
    learners.stop_supervising()
    journal = read_journal(registry)
    report.update(
        {
            "load": result.summary(),
            "per_second": [
                {k: v for k, v in window(result, t, t + 1.0).items() if k != "rate"}
                for t in range(int(np.ceil(args.duration)))
            ],
            "per_replica": [
                {"url": u, **result.replica_result(r).summary()} for r, u in enumerate(urls)
            ],
            "alternating": {
                name: {**seen.summary(), **explain(seen, journal, t0)}
                for name, seen in alternating.items()
            },
            "promotions": pickups(journal, [m["served"] for m in models], t0, t1),
            "journal_during_run": {
                action: sum(1 for r in journal if r["action"] == action and t0 <= r["time"] < t1)
                for action in ("publish", "promote", "reject", "rollback")
            },
            "serving_after": [m["serving"] for m in models],
            "stable_after": models[0]["labels"]["stable"],
            "feeder": feeder.report(),
            "kill": kill,
            "learner_exits": [{**e, "at_s": e["unix"] - t0} for e in learners.exits if "unix" in e],
            "cpu_cores": cores_used(before, after),
            "loadavg_end": os.getloadavg(),
            "learner_logs": {
                name: (work / f"{name}.log").read_text(errors="replace").splitlines()[-3:]
                for name in sorted(learners.processes)
            },
        }
    )
    return report


# -- processes ----------------------------------------------------------------------------
def start_replica(
    work: Path, url: str, registry: Path, port: int, n: int
) -> subprocess.Popen[bytes]:
    """``python -m freshrec serve --log URL --registry DIR --no-learn`` on ``port``."""
    command = [sys.executable, "-m", "freshrec", "serve", "--port", str(port), "--no-learn"]
    command += ["--log", url, "--registry", str(registry), "--data-dir", str(work / f"r{n}")]
    output = open(work / f"replica-{n}.log", "ab")  # noqa: SIM115 (closed with the process)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "FRESHREC_USER_EVENTS_PER_S": "1e9"}
    return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)


class Learners:
    """The learner processes, as a supervisor keeps them: two at a time, one active and one
    standby; one that exits (a lost lease) or is killed is replaced by a new standby. Each
    writes its output to ``work/learner-N.log``."""

    def __init__(
        self,
        work: Path,
        url: str,
        settings: dict[str, Any],
        lease_ms: int,
        processes: list[subprocess.Popen[bytes]],
    ) -> None:
        import redis

        self.work = work
        self.url = url
        self.settings = settings
        self.lease_ms = lease_ms
        self.all = processes  # every process started, for the clean-up
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.exits: list[dict[str, Any]] = []
        self.killed: set[str] = set()
        plain, _, prefix = url.partition("?prefix=")
        self.db = redis.Redis.from_url(plain)
        self.lease_key = f"{prefix}:learners:bpr:lease"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="supervisor", daemon=True)

    def command(self, name: str) -> list[str]:
        """``freshrec learn`` as the learner ``name``: active once it holds the lease."""
        settings = self.settings
        command = [sys.executable, "-m", "freshrec", "learn", "--log", self.url]
        command += ["--registry", str(self.work / "registry"), "--model", "bpr", "--follow"]
        command += ["--consumer", name, "--lease-ms", str(self.lease_ms)]
        for option in ("micro_batch", "candidate_every", "guard_events", "checkpoint_every"):
            command += [f"--{option.replace('_', '-')}", str(settings[option])]
        for param, value in settings["overrides"]["bpr"].items():
            command += ["--set", f"bpr.{param}={value}"]
        return command

    def start(self) -> str:
        """Start a learner (it waits for the lease); its name."""
        name = f"learner-{len(self.processes)}"
        output = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            self.command(name),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},  # one thread each (main)
        )
        self.processes[name] = process
        self.all.append(process)
        return name

    def holder(self) -> str | None:
        """The learner holding the lease (the active one), if any."""
        found: Any = self.db.get(self.lease_key)
        return found.decode() if isinstance(found, bytes) else found

    def active_lines(self, name: str) -> int:
        file = self.work / f"{name}.log"
        text = file.read_text(errors="replace") if file.exists() else ""
        return sum(line.startswith("active:") for line in text.splitlines())

    def wait_active(self, name: str, timeout_s: float) -> float:
        """Seconds until ``name`` says it is active (it has loaded the newest checkpoint:
        ``freshrec learn`` prints ``active: NAME from event N``)."""
        started = time.perf_counter()
        while self.active_lines(name) == 0:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.processes[name].returncode}")
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"{name} not active after {timeout_s} s")
            time.sleep(0.01)
        return time.perf_counter() - started

    def supervise(self) -> None:
        self._thread.start()

    def stop_supervising(self) -> None:
        self._stop.set()
        self._thread.join()

    def _supervise(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                for name, process in list(self.processes.items()):
                    if process.poll() is None or name in self.killed:
                        continue
                    if any(e["learner"] == name for e in self.exits):
                        continue
                    tail = (self.work / f"{name}.log").read_text(errors="replace")
                    self.exits.append(
                        {
                            "learner": name,
                            "returncode": process.returncode,
                            "unix": time.time(),
                            "last_line": (tail.strip().splitlines() or [""])[-1][:300],
                            "replaced_by": self.start(),
                        }
                    )

    def kill_active(self, at: float, registry: Path, kill: dict[str, Any]) -> None:
        """At unix time ``at``, SIGKILL the learner holding the lease; time until another
        holds it and has loaded the newest checkpoint, and until the next promotion."""
        time.sleep(max(0.0, at - time.time()))
        with self._lock:
            name = self.holder()
            if name not in self.processes:
                kill["error"] = f"no learner of ours holds the lease (holder {name!r})"
                return
            self.killed.add(name)
            self.processes[name].send_signal(signal.SIGKILL)
            killed = time.time()
            self.processes[name].wait()
            fresh = self.start()
        kill.update({"killed": name, "killed_unix": killed, "started": fresh})
        deadline = killed + 60.0
        while time.time() < deadline:
            holder = self.holder()
            if holder not in (None, name) and self.active_lines(holder) > 0:
                kill.update({"took_over": holder, "takeover_s": time.time() - killed})
                break
            time.sleep(0.01)
        while time.time() < deadline:
            after = [
                r["time"]
                for r in read_journal(registry)
                if r["action"] == "promote" and r["time"] > killed
            ]
            if after:
                kill["first_promotion_after_s"] = after[0] - killed
                break
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the feeder ---------------------------------------------------------------------------
class Feeder:
    """POSTs the stream's events to the replicas in turn: ``rate / 10`` every 0.1 s."""

    def __init__(self, urls: list[str], stream: Any, rate: float) -> None:
        self.urls = urls
        self.stream = stream
        self.batch = max(1, int(rate / 10))
        self.rate = rate
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "failed_posts": 0}
        self.took_ms: list[float] = []
        self.rejections: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _feed(self) -> None:
        from freshrec.serving.client import Client, jsonable_events

        clients = [Client(u, timeout_s=30.0) for u in self.urls]
        began = time.perf_counter()
        for n, start in enumerate(range(0, len(self.stream), self.batch)):
            if self._stop.wait(max(0.0, began + n * self.batch / self.rate - time.perf_counter())):
                break
            events = jsonable_events(self.stream[start : start + self.batch])
            sent = time.perf_counter()
            try:
                answer = clients[n % len(clients)].send_events(events)
            except Exception as error:  # counted, and the feeding goes on
                self.counts["failed_posts"] += 1
                self.rejections.append(f"{type(error).__name__}: {error}"[:200])
                continue
            self.took_ms.append((time.perf_counter() - sent) * 1000)
            for key in ("accepted", "duplicate", "rejected"):
                self.counts[key] += answer[key]
            self.rejections += answer["rejections"][: max(0, 5 - len(self.rejections))]
        for client in clients:
            client.close()

    def report(self) -> dict[str, Any]:
        took = np.array(self.took_ms) if self.took_ms else np.zeros(1)
        return {
            **self.counts,
            "batch": self.batch,
            "posts": len(self.took_ms),
            "post_p50_ms": float(np.percentile(took, 50)),
            "post_p99_ms": float(np.percentile(took, 99)),
            "first_rejections": self.rejections[:5],
        }


# -- what was measured --------------------------------------------------------------------
def read_journal(registry: Path) -> list[dict[str, Any]]:
    from freshrec.live import Registry

    return Registry(registry).journal()


def number(version: str) -> int:
    return int(version[1:])


def pickups(
    journal: list[dict[str, Any]], served: list[list[dict[str, Any]]], t0: float, t1: float
) -> dict[str, Any]:
    """For each promotion recorded in ``[t0, t1)``: seconds from its journal record to each
    replica's first swap to that version or a later one."""
    rows = []
    for record in journal:
        if record["action"] != "promote" or not t0 <= record["time"] < t1:
            continue
        v = number(record["version"])
        row: dict[str, Any] = {"version": record["version"], "at_s": record["time"] - t0}
        for r, history in enumerate(served):
            swap = next((s for s in history if number(s["version"]) >= v), None)
            row[f"replica_{r}_s"] = None if swap is None else swap["since"] - record["time"]
            row[f"replica_{r}_skipped"] = swap is not None and swap["version"] != record["version"]
        times = [row[f"replica_{r}_s"] for r in range(len(served))]
        row["both_s"] = None if None in times else max(times)
        rows.append(row)
    both = np.array([r["both_s"] for r in rows if r["both_s"] is not None])
    figures: dict[str, Any] = {
        "count": len(rows),
        "never_served": sum(r["both_s"] is None for r in rows),
    }
    if len(both):
        figures.update(
            {
                "p50_s": float(np.percentile(both, 50)),
                "p99_s": float(np.percentile(both, 99)),
                "max_s": float(both.max()),
                "min_s": float(both.min()),
            }
        )
        for r in range(len(served)):
            mine = np.array([x[f"replica_{r}_s"] for x in rows if x[f"replica_{r}_s"] is not None])
            figures[f"replica_{r}"] = {
                "p50_s": float(np.percentile(mine, 50)),
                "p99_s": float(np.percentile(mine, 99)),
                "max_s": float(mine.max()),
                "skipped": sum(bool(x[f"replica_{r}_skipped"]) for x in rows),
            }
    return {**figures, "each": rows}


def explain(seen: Alternation, journal: list[dict[str, Any]], t0: float) -> dict[str, Any]:
    """The backward steps that follow a rollback in the registry (to that version or an
    older one), which monotonic reads allow."""
    rollbacks = [r for r in journal if r["action"] == "rollback"]
    steps = seen.backward_steps()
    after_rollback = [
        step
        for step in steps
        if any(
            r["time"] <= t0 + step["at_s"] and number(r["version"]) <= number(step["version"])
            for r in rollbacks
        )
    ]
    return {
        "backward_steps_after_rollback": len(after_rollback),
        "backward_steps_unexplained": len(steps) - len(after_rollback),
        "first_backward_steps": steps[:10],
    }


def named(
    replicas: list[subprocess.Popen[bytes]], learners: dict[str, subprocess.Popen[bytes]]
) -> dict[str, subprocess.Popen[bytes]]:
    return {**{f"replica-{n}": p for n, p in enumerate(replicas)}, **learners}


def cpu_seconds(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds so far of each process (by name; a killed one is left out), this process
    (load generator and feeder) and the machine (busy: all but idle and iowait)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {"wall": time.perf_counter()}
    for name, process in processes.items():
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[name] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    own = os.times()
    found["benchmark"] = own.user + own.system
    total = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    found["machine"] = (sum(total) - total[3] - total[4]) / tick
    return found


def cores_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    wall = after["wall"] - before["wall"]
    return {
        key: round((after[key] - before[key]) / wall, 3)
        for key in before
        if key != "wall" and key in after
    }


def bars(run: dict[str, Any]) -> dict[str, Any]:
    promotions = run["promotions"]
    monotonic = run["alternating"]["monotonic"]
    p99 = promotions.get("p99_s")
    return {
        "failed_requests": run["load"]["failed"],
        "zero_failed": run["load"]["failed"] == 0,
        "monotonic_backward_steps": monotonic["backward_steps"],
        "monotonic_backward_steps_unexplained": monotonic["backward_steps_unexplained"],
        "never_backwards": monotonic["backward_steps_unexplained"] == 0,
        "monotonic_failed": monotonic["failed"],
        "control_backward_steps": run["alternating"]["control"]["backward_steps"],
        "promotions": promotions["count"],
        "enough_promotions": promotions["count"] >= MIN_PROMOTIONS,
        "pickup_p99_s": p99,
        "pickup_p99_within_1s": p99 is not None and p99 <= PICKUP_BAR_S,
    }


def print_table(results: dict[str, Any]) -> None:
    run = results["run"]
    print("| requests to | sent | failed | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in [(r["url"], r) for r in run["per_replica"]] + [("both", run["load"])]:
        print(
            f"| {name} | {s['sent']} | {s['failed']} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} "
            f"| {s['max_ms']:.1f} |"
        )
    for name, seen in run["alternating"].items():
        print(f"{name} alternating client: {json.dumps(seen)}")
    figures = {k: v for k, v in run["promotions"].items() if k != "each"}
    print(f"promotions: {json.dumps(figures)}")
    print(f"kill: {json.dumps(run['kill'])}")
    print(json.dumps(results["bars"], indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
