"""Open-loop HTTP load generator for the freshrec service: fixed rate, no coordinated omission.

Usage::

    python benchmarks/loadgen.py --url URL [--url URL2 ...] [--rate 200] [--duration 60]
                                 [--user-count 1000] [--k 10] [--workers 32] [--seed 0]
                                 [--monotonic-rate 0] [--control] [--api-key K] [--out FILE]

As a script it sends ``GET /v1/users/{user}/recommendations?k=K`` for users drawn uniformly
(seeded) from ``1..--user-count``, prints a Markdown table of the summary and, with ``--out``,
writes it (with one summary per second of schedule) as JSON, atomically.

Several replicas: ``--url`` given more than once (or a comma-separated list) sends request
``i`` to replica ``i % n``; the table and the JSON give each replica's summary and the total.
``--monotonic-rate R`` adds one logical client that alternates between the replicas, R
requests per second, one at a time, sending the highest ``model_version`` it has seen
(``X-Freshrec-Min-Version``, :class:`~freshrec.serving.client.MonotonicReads`) and counting
the answers whose version is older than one it saw before (backward steps: 0 unless the
registry rolled back); ``--control`` runs the same client without the header beside it.

As a library, later benchmarks call :func:`run_load` with their own request and compare slices
of the result with :func:`window` (for example the seconds around a hot swap against steady
state)::

    from loadgen import run_load, window   # benchmarks/ is on sys.path when run as scripts

:func:`run_load` takes one base URL or a list of them (round robin; see
:meth:`LoadResult.replica_result`); :func:`alternate` is the alternating client.

How the open loop works
-----------------------
Request ``i`` is *scheduled* at ``t0 + i / rate`` for every ``i`` with ``i / rate <
duration_s``, whatever happened to earlier requests; its latency runs from that scheduled time
to the end of its response. A server that stalls therefore shows up as the whole backlog's
waiting time, not as one slow request followed by an idle gap (the "coordinated omission" of
closed-loop generators, which wait for an answer before sending the next request).

There is no scheduler thread: each of ``workers`` threads (own :class:`Client` and keep-alive
connection per replica) takes the next slot number from a shared counter, sleeps until that
slot's time, sends, records, and takes the next. Slots are handed out in order, so the
earliest unsent request always goes to the first free worker; when all workers are busy,
slots wait, and the wait counts in their latency. This does the job of a scheduler thread
feeding a queue with one fewer hand-off (less timing jitter) and nothing to shut down.
``workers`` bounds the concurrency the generator can offer: at latency ``L`` it sustains
about ``workers / L`` requests per second.

After ``duration_s`` no slot is left to schedule; the generator waits at most ``drain_s`` more
for the requests in flight. A request fails when it raises (connection error, timeout) or
answers a non-2xx status; one unanswered (or not even started) by ``duration_s + drain_s``
fails too. Workers still blocked then are daemon threads that end within ``timeout_s``.

The generator is I/O bound: threads are not pinned.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np

from freshrec.serving.client import Client, MonotonicReads, ServiceError

__all__ = ["Alternation", "LoadResult", "alternate", "run_load", "schedule", "window", "main"]

MakeRequest = Callable[[Client, int], tuple[int, bytes]]
_UNANSWERED = "unanswered"


def schedule(rate: float, duration_s: float) -> np.ndarray:
    """Scheduled send times (seconds from the start) of an open loop: ``i / rate < duration_s``.

    Examples
    --------
    >>> schedule(4, 1.0).tolist()
    [0.0, 0.25, 0.5, 0.75]
    >>> len(schedule(50, 1.5))
    75
    """
    if rate <= 0 or duration_s <= 0:
        raise ValueError(f"rate and duration_s must be positive, got {rate} and {duration_s}")
    n = math.ceil(rate * duration_s - 1e-9)  # 1e-9: 50/s x 1.5 s is 75 slots, not 76
    return np.arange(n, dtype=np.float64) / rate


@dataclass(frozen=True, eq=False)
class LoadResult:
    """What :func:`run_load` measured.

    Parameters
    ----------
    sent
        Requests scheduled (every one is either answered with 2xx or counted failed).
    failed
        Requests that raised, answered non-2xx, or were unanswered when the drain ended.
    duration_s
        Length of the schedule, in seconds.
    rate
        Target rate, requests per second.
    latencies_ms
        Latency of each successful request, from its scheduled time to the end of its
        response, in schedule order; shape (sent - failed,).
    scheduled_s
        Scheduled time of each successful request, seconds from the start; same shape.
    failed_s
        Scheduled times of the failed requests, shape (failed,).
    failed_kinds
        Why each of those failed, same shape: ``"HTTP 500"``, an exception's class name
        (``"TimeoutError"``, ``"ConnectionRefusedError"``, ...) or ``"unanswered"``.
    replica, failed_replica
        Which replica (index into the URLs) each successful and each failed request went to
        (default: all to replica 0).
    replicas
        How many replicas the requests went round (request ``i`` to replica ``i % replicas``).

    Examples
    --------
    >>> result = LoadResult(
    ...     sent=4, failed=1, duration_s=2.0, rate=2.0,
    ...     latencies_ms=np.array([10.0, 12.0, 30.0]), scheduled_s=np.array([0.0, 0.5, 1.5]),
    ...     failed_s=np.array([1.0]), failed_kinds=np.array(["HTTP 500"]),
    ... )
    >>> result.summary()["p50_ms"], result.summary()["achieved_rate"]
    (12.0, 1.5)
    >>> result.between(1.0, 2.0).errors, result.between(0.0, 1.0).errors
    ({'HTTP 500': 1}, {})
    >>> result.replicas, result.replica.tolist()
    (1, [0, 0, 0])
    """

    sent: int
    failed: int
    duration_s: float
    rate: float
    latencies_ms: np.ndarray
    scheduled_s: np.ndarray
    failed_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    failed_kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))
    replica: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    failed_replica: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    replicas: int = 1

    def __post_init__(self) -> None:  # not given: every request went to replica 0
        if len(self.replica) != len(self.scheduled_s):
            object.__setattr__(self, "replica", np.zeros(len(self.scheduled_s), np.int64))
        if len(self.failed_replica) != len(self.failed_s):
            object.__setattr__(self, "failed_replica", np.zeros(len(self.failed_s), np.int64))

    @property
    def errors(self) -> dict[str, int]:
        """How many requests failed, by kind (see ``failed_kinds``), sorted by kind."""
        return dict(sorted(Counter(str(kind) for kind in self.failed_kinds).items()))

    def percentiles(self, qs: Sequence[float] = (50, 90, 99)) -> dict[str, float | None]:
        """Latency percentiles of the successful requests, in ms (``None`` when there are none).

        Examples
        --------
        >>> result = LoadResult(2, 0, 1.0, 2.0, np.array([1.0, 3.0]), np.array([0.0, 0.5]))
        >>> result.percentiles([50, 100])
        {'p50_ms': 2.0, 'p100_ms': 3.0}
        """
        if len(self.latencies_ms) == 0:
            return {f"p{q:g}_ms": None for q in qs}
        values = np.percentile(self.latencies_ms, list(qs))
        return {f"p{q:g}_ms": float(v) for q, v in zip(qs, values, strict=True)}

    def summary(self) -> dict[str, Any]:
        """JSON-able figures: counts, target and achieved rate, p50/p90/p99/max/mean in ms.

        ``achieved_rate`` is successful responses per second of schedule.

        Examples
        --------
        >>> result = LoadResult(2, 1, 1.0, 2.0, np.array([4.0]), np.array([0.0]))
        >>> result.summary()
        {'sent': 2, 'ok': 1, 'failed': 1, 'duration_s': 1.0, 'rate': 2.0, 'achieved_rate': 1.0,
         'p50_ms': 4.0, 'p90_ms': 4.0, 'p99_ms': 4.0, 'max_ms': 4.0, 'mean_ms': 4.0, 'errors': {}}
        """
        ok = self.sent - self.failed
        some = len(self.latencies_ms) > 0
        return {
            "sent": self.sent,
            "ok": ok,
            "failed": self.failed,
            "duration_s": self.duration_s,
            "rate": self.rate,
            "achieved_rate": ok / self.duration_s if self.duration_s > 0 else None,
            **self.percentiles(),
            "max_ms": float(self.latencies_ms.max()) if some else None,
            "mean_ms": float(self.latencies_ms.mean()) if some else None,
            "errors": self.errors,
        }

    def between(self, start_s: float, end_s: float) -> LoadResult:
        """The requests scheduled in ``[start_s, end_s)``.

        Examples
        --------
        >>> result = LoadResult(2, 0, 1.0, 2.0, np.array([1.0, 3.0]), np.array([0.0, 0.5]))
        >>> result.between(0.5, 1.0).latencies_ms.tolist()
        [3.0]
        """
        ok = (self.scheduled_s >= start_s) & (self.scheduled_s < end_s)
        bad = (self.failed_s >= start_s) & (self.failed_s < end_s)
        return self._subset(ok, bad, end_s - start_s, self.rate)

    def replica_result(self, replica: int) -> LoadResult:
        """The requests sent to replica ``replica`` (its rate: ``rate / replicas``).

        Examples
        --------
        >>> result = LoadResult(3, 1, 1.0, 4.0, np.array([2.0, 4.0]), np.array([0.0, 0.5]),
        ...     np.array([0.25]), np.array(["HTTP 503"]), replica=np.array([0, 0]),
        ...     failed_replica=np.array([1]), replicas=2)
        >>> result.replica_result(1).summary()["errors"], result.replica_result(0).rate
        ({'HTTP 503': 1}, 2.0)
        """
        if not 0 <= replica < self.replicas:
            raise ValueError(f"replica must be in [0, {self.replicas}), got {replica}")
        ok, bad = self.replica == replica, self.failed_replica == replica
        return self._subset(ok, bad, self.duration_s, self.rate / self.replicas)

    def _subset(
        self, ok: np.ndarray, bad: np.ndarray, duration_s: float, rate: float
    ) -> LoadResult:
        n_ok, n_bad = int(ok.sum()), int(bad.sum())
        return LoadResult(
            sent=n_ok + n_bad,
            failed=n_bad,
            duration_s=duration_s,
            rate=rate,
            latencies_ms=self.latencies_ms[ok],
            scheduled_s=self.scheduled_s[ok],
            failed_s=self.failed_s[bad],
            failed_kinds=self.failed_kinds[bad],
            replica=self.replica[ok],
            failed_replica=self.failed_replica[bad],
            replicas=self.replicas,
        )


def window(result: LoadResult, start_s: float, end_s: float) -> dict[str, Any]:
    """The :meth:`~LoadResult.summary` of the requests scheduled in ``[start_s, end_s)``.

    Examples
    --------
    >>> result = LoadResult(3, 0, 1.5, 2.0, np.array([5.0, 6.0, 90.0]), np.array([0, 0.5, 1]))
    >>> window(result, 1.0, 1.5)["p50_ms"], window(result, 0.0, 1.0)["max_ms"]
    (90.0, 6.0)
    """
    return result.between(start_s, end_s).summary()


def run_load(
    base_url: str | Sequence[str],
    make_request: MakeRequest,
    *,
    rate: float,
    duration_s: float,
    workers: int = 32,
    api_key: str | None = None,
    drain_s: float = 5.0,
    timeout_s: float = 10.0,
) -> LoadResult:
    """Send ``make_request(client, i)`` at ``rate`` per second for ``duration_s``, open loop.

    ``base_url`` is one service or a list of replicas: request ``i`` goes to replica
    ``i % len(base_url)`` (each worker keeps a client per replica).
    ``make_request`` sends request ``i`` with the worker's client (usually through
    :meth:`Client.request`) and returns ``(status, body)``; a raised exception (a
    :class:`ServiceError` counts by its status) or a non-2xx status fails the request. It is
    called from ``workers`` threads at once. ``timeout_s`` is each client's socket timeout.

    Examples
    --------
    >>> import threading
    >>> from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    >>> class Ok(BaseHTTPRequestHandler):
    ...     protocol_version = "HTTP/1.1"
    ...     def do_GET(self):
    ...         self.send_response(200)
    ...         self.send_header("Content-Length", "2")
    ...         self.end_headers()
    ...         self.wfile.write(b"{}")
    ...     def log_message(self, *args):
    ...         pass
    >>> server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    >>> threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    >>> result = run_load(f"http://127.0.0.1:{server.server_port}",
    ...                   lambda client, i: client.request("GET", "/healthz"),
    ...                   rate=40, duration_s=0.5, workers=4)
    >>> result.sent, result.failed
    (20, 0)
    >>> url = f"http://127.0.0.1:{server.server_port}"
    >>> two = run_load([url, url], lambda client, i: client.request("GET", "/healthz"),
    ...                rate=40, duration_s=0.5, workers=4)
    >>> two.replica_result(0).sent, two.replica_result(1).sent
    (10, 10)
    >>> server.shutdown(); server.server_close()
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls:
        raise ValueError("base_url must name at least one service")
    planned = schedule(rate, duration_s)
    n = len(planned)
    status = np.zeros(n, dtype=np.int32)  # 0: no answer yet; -1: raised; else the HTTP status
    done_s = np.full(n, np.nan)  # end of the response, seconds from t0
    raised: dict[int, str] = {}
    slots = itertools.count()
    lock = threading.Lock()
    stop = threading.Event()
    t0 = time.perf_counter() + 0.05  # a moment for the workers to start
    horizon_s = duration_s + drain_s

    def work() -> None:
        clients = [Client(url, api_key=api_key, timeout_s=timeout_s) for url in urls]
        try:
            while not stop.is_set():
                with lock:
                    i = next(slots)
                if i >= n:
                    return
                wait = t0 + planned[i] - time.perf_counter()
                if wait > 0 and stop.wait(wait):
                    return
                if time.perf_counter() - t0 >= horizon_s:
                    return  # this slot and the later ones stay unanswered
                try:
                    code, _ = make_request(clients[i % len(clients)], i)
                except ServiceError as error:
                    code = error.status
                except Exception as error:
                    done_s[i] = time.perf_counter() - t0
                    raised[i] = type(error).__name__
                    status[i] = -1
                    continue
                done_s[i] = time.perf_counter() - t0
                status[i] = code  # written last: a nonzero status means done_s is set
        finally:
            for client in clients:
                client.close()

    threads = [
        threading.Thread(target=work, name=f"loadgen-{k}", daemon=True) for k in range(workers)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, t0 + horizon_s - time.perf_counter()))
    finally:
        stop.set()
    codes = status.copy()  # status first, then done_s (see above)
    ends = done_s.copy()
    kinds = dict(raised)
    answered = (codes != 0) & (ends <= horizon_s)
    ok = answered & (codes >= 200) & (codes < 300)
    why = [
        _UNANSWERED
        if not answered[i]
        else kinds.get(int(i), "Exception")
        if codes[i] == -1
        else f"HTTP {codes[i]}"
        for i in np.flatnonzero(~ok)
    ]
    replica = np.arange(n, dtype=np.int64) % len(urls)
    return LoadResult(
        sent=n,
        failed=int(n - ok.sum()),
        duration_s=float(duration_s),
        rate=float(rate),
        latencies_ms=(ends[ok] - planned[ok]) * 1000.0,
        scheduled_s=planned[ok],
        failed_s=planned[~ok],
        failed_kinds=np.array(why, dtype=str),
        replica=replica[ok],
        failed_replica=replica[~ok],
        replicas=len(urls),
    )


@dataclass(frozen=True, eq=False)
class Alternation:
    """What one client alternating between replicas saw (:func:`alternate`).

    Parameters
    ----------
    monotonic
        Whether it sent the highest version it had seen (``X-Freshrec-Min-Version``).
    sent_s
        When each request was sent, seconds from the start.
    replica
        Which replica each went to (index into the URLs).
    versions
        Each answer's ``model_version`` (``None``: the request failed).
    latencies_ms
        Each request's time from its sending to the end of its answer (NaN: failed).
    failures
        Why each failed request failed, by request index (as in :class:`LoadResult`).

    Examples
    --------
    >>> seen = Alternation(True, np.array([0.0, 0.1, 0.2, 0.3]), np.array([0, 1, 0, 1]),
    ...     ["v000002", "v000003", "v000002", None], np.array([3.0, 5.0, 4.0, np.nan]),
    ...     {3: "HTTP 503"})
    >>> [(step["at_s"], step["version"], step["highest"]) for step in seen.backward_steps()]
    [(0.2, 'v000002', 'v000003')]
    >>> seen.summary()["backward_steps"], seen.summary()["errors"]
    (1, {'HTTP 503': 1})
    """

    monotonic: bool
    sent_s: np.ndarray
    replica: np.ndarray
    versions: list[str | None]
    latencies_ms: np.ndarray
    failures: dict[int, str]

    def backward_steps(self) -> list[dict[str, Any]]:
        """The answers from a version older than one an earlier answer came from."""
        steps, highest = [], None
        for i, version in enumerate(self.versions):
            if version is None:
                continue
            if highest is not None and _number(version) < _number(highest):
                steps.append(
                    {
                        "index": i,
                        "at_s": float(self.sent_s[i]),
                        "replica": int(self.replica[i]),
                        "version": version,
                        "highest": highest,
                    }
                )
            elif highest is None or _number(version) > _number(highest):
                highest = version
        return steps

    def summary(self) -> dict[str, Any]:
        """JSON-able figures: requests, failures by kind, backward steps, versions seen and
        latency percentiles (ms)."""
        ok = ~np.isnan(self.latencies_ms)
        latencies = self.latencies_ms[ok]
        some = len(latencies) > 0
        answered = [v for v in self.versions if v is not None]
        changes = sum(a != b for a, b in itertools.pairwise(answered))
        return {
            "monotonic": self.monotonic,
            "requests": len(self.versions),
            "failed": len(self.failures),
            "errors": dict(sorted(Counter(self.failures.values()).items())),
            "backward_steps": len(self.backward_steps()),
            "versions_seen": len(set(answered)),
            "version_changes": changes,
            "p50_ms": float(np.percentile(latencies, 50)) if some else None,
            "p99_ms": float(np.percentile(latencies, 99)) if some else None,
            "max_ms": float(latencies.max()) if some else None,
        }


def alternate(
    base_urls: Sequence[str],
    users: Sequence[Any],
    *,
    rate: float,
    duration_s: float,
    monotonic: bool = True,
    k: int = 10,
    api_key: str | None = None,
    timeout_s: float = 10.0,
) -> Alternation:
    """One logical client asking the replicas ``base_urls`` in turn for recommendations (user
    ``users[j % len(users)]`` for request ``j``), one request at a time, ``rate`` per second
    for ``duration_s`` (a request is sent at ``j / rate`` or, when the previous answer came
    later, at once). With ``monotonic`` its clients share a
    :class:`~freshrec.serving.client.MonotonicReads`: each request carries the highest version
    seen so far.

    Examples
    --------
    >>> import json, threading
    >>> from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    >>> def replica(version):
    ...     class Replica(BaseHTTPRequestHandler):
    ...         def do_GET(self):
    ...             body = json.dumps({"model_version": version}).encode()
    ...             self.send_response(200)
    ...             self.send_header("Content-Length", str(len(body)))
    ...             self.end_headers()
    ...             self.wfile.write(body)
    ...         def log_message(self, *args):
    ...             pass
    ...     server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    ...     threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    ...     return server
    >>> servers = [replica("v000002"), replica("v000001")]  # the second one lags
    >>> urls = [f"http://127.0.0.1:{s.server_port}" for s in servers]
    >>> seen = alternate(urls, [1, 2, 3], rate=40, duration_s=0.25, monotonic=False)
    >>> seen.versions[:3], seen.summary()["backward_steps"]
    (['v000002', 'v000001', 'v000002'], 5)
    >>> for s in servers:
    ...     s.shutdown(); s.server_close()
    """
    if not base_urls or not len(users):
        raise ValueError("alternate needs at least one base URL and one user")
    reads = MonotonicReads() if monotonic else None
    clients = [Client(url, api_key=api_key, timeout_s=timeout_s, reads=reads) for url in base_urls]
    planned = schedule(rate, duration_s)
    sent_s = np.zeros(len(planned))
    latencies = np.full(len(planned), np.nan)
    versions: list[str | None] = []
    failures: dict[int, str] = {}
    t0 = time.perf_counter()
    try:
        for j, at in enumerate(planned.tolist()):
            time.sleep(max(0.0, t0 + at - time.perf_counter()))
            started = time.perf_counter()
            sent_s[j] = started - t0
            try:
                answer = clients[j % len(clients)].recommend(users[j % len(users)], k)
            except ServiceError as error:
                failures[j] = f"HTTP {error.status}"
                versions.append(None)
                continue
            except Exception as error:
                failures[j] = type(error).__name__
                versions.append(None)
                continue
            latencies[j] = (time.perf_counter() - started) * 1000.0
            versions.append(str(answer.get("model_version")))
    finally:
        for client in clients:
            client.close()
    replica = np.arange(len(planned), dtype=np.int64) % len(clients)
    return Alternation(monotonic, sent_s, replica, versions, latencies, failures)


def _number(version: str) -> int:
    """A registry version's number (``v000012``: 12; -1 for another text)."""
    digits = version[1:]
    return int(digits) if version.startswith("v") and digits.isdigit() else -1


def main(argv: list[str] | None = None) -> int:
    """Run the script: GET recommendations for seeded uniform users; print and save a summary.

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--url",
        action="append",
        default=None,
        help="a replica's base URL; repeat it (or separate with commas) for several "
        "(default http://127.0.0.1:8000)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of schedule")
    parser.add_argument("--user-count", type=int, default=1000, help="users 1..N, uniform")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait after")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--monotonic-rate",
        type=float,
        default=0.0,
        help="requests/s of one client alternating between the replicas with the "
        "min-version header (0: none)",
    )
    parser.add_argument(
        "--control", action="store_true", help="and the same client without the header"
    )
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    urls = [u.strip() for given in args.url or [] for u in given.split(",") if u.strip()]
    urls = urls or ["http://127.0.0.1:8000"]

    n = len(schedule(args.rate, args.duration))
    rng = np.random.default_rng(args.seed)
    users = rng.integers(1, args.user_count + 1, size=n)
    paths = [f"/v1/users/{quote(str(u), safe='')}/recommendations?k={args.k}" for u in users]

    def recommend(client: Client, i: int) -> tuple[int, bytes]:
        return client.request("GET", paths[i])

    alternating: dict[str, Alternation] = {}
    kinds = [("monotonic", True)] + ([("control", False)] if args.control else [])
    alternating_users = rng.integers(1, args.user_count + 1, size=1000).tolist()

    def alternating_client(name: str, monotonic: bool) -> None:
        alternating[name] = alternate(
            urls,
            alternating_users,
            rate=args.monotonic_rate,
            duration_s=args.duration,
            monotonic=monotonic,
            k=args.k,
            api_key=args.api_key,
            timeout_s=args.timeout,
        )

    threads = [
        threading.Thread(target=alternating_client, args=kind, name=f"loadgen-{kind[0]}")
        for kind in (kinds if args.monotonic_rate > 0 else [])
    ]
    for thread in threads:
        thread.start()
    result = run_load(
        urls,
        recommend,
        rate=args.rate,
        duration_s=args.duration,
        workers=args.workers,
        api_key=args.api_key,
        drain_s=args.drain,
        timeout_s=args.timeout,
    )
    for thread in threads:
        thread.join()
    summary = result.summary()
    rows = [("all", summary)] if len(urls) == 1 else []
    if len(urls) > 1:
        rows = [(url, result.replica_result(r).summary()) for r, url in enumerate(urls)]
        rows.append(("all", summary))
    print("| replica | " + " | ".join(summary) + " |")
    print("|---|" + "---|" * len(summary))
    for name, row in rows:
        print(f"| {name} | " + " | ".join(_cell(v) for v in row.values()) + " |")
    for name, seen in alternating.items():
        print(f"{name} alternating client: {json.dumps(seen.summary())}")
    if args.out:
        from freshrec.jobs.report import machine_summary
        from freshrec.persist import atomic_write_text

        settings = {k: v for k, v in vars(args).items() if k not in ("api_key", "out", "url")}
        seconds = range(math.ceil(args.duration))
        command = "python benchmarks/loadgen.py " + " ".join(argv or sys.argv[1:])
        if args.api_key:
            command = command.replace(args.api_key, "***")
        results: dict[str, Any] = {
            "command": command,
            "machine": machine_summary(),
            "date": time.strftime("%Y-%m-%d"),
            "settings": {**settings, "urls": urls},
            "summary": summary,
            "per_second": [window(result, s, min(s + 1.0, args.duration)) for s in seconds],
        }
        if len(urls) > 1:
            results["per_replica"] = [{"url": url, **row} for url, row in rows[:-1]]
        for name, seen in alternating.items():
            results[f"{name}_client"] = {
                **seen.summary(),
                "backward": seen.backward_steps()[:100],
            }
        atomic_write_text(args.out, json.dumps(results, indent=2))
        print(f"wrote {args.out}")
    return 0


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
