"""Open-loop HTTP load generator for the freshrec service: fixed rate, no coordinated omission.

Usage::

    python benchmarks/loadgen.py --url URL [--rate 200] [--duration 60] [--user-count 1000]
                                 [--k 10] [--workers 32] [--seed 0] [--api-key K] [--out FILE]

As a script it sends ``GET /v1/users/{user}/recommendations?k=K`` for users drawn uniformly
(seeded) from ``1..--user-count``, prints a Markdown table of the summary and, with ``--out``,
writes it (with one summary per second of schedule) as JSON, atomically.

As a library, later benchmarks call :func:`run_load` with their own request and compare slices
of the result with :func:`window` (for example the seconds around a hot swap against steady
state)::

    from loadgen import run_load, window   # benchmarks/ is on sys.path when run as scripts

How the open loop works
-----------------------
Request ``i`` is *scheduled* at ``t0 + i / rate`` for every ``i`` with ``i / rate <
duration_s``, whatever happened to earlier requests; its latency runs from that scheduled time
to the end of its response. A server that stalls therefore shows up as the whole backlog's
waiting time, not as one slow request followed by an idle gap (the "coordinated omission" of
closed-loop generators, which wait for an answer before sending the next request).

There is no scheduler thread: each of ``workers`` threads (own :class:`Client`, own keep-alive
connection) takes the next slot number from a shared counter, sleeps until that slot's time,
sends, records, and takes the next. Slots are handed out in order, so the earliest unsent
request always goes to the first free worker; when all workers are busy, slots wait, and the
wait counts in their latency. This does the job of a scheduler thread feeding a queue with one
fewer hand-off (less timing jitter) and nothing to shut down. ``workers`` bounds the
concurrency the generator can offer: at latency ``L`` it sustains about ``workers / L``
requests per second.

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

from freshrec.serving.client import Client, ServiceError

__all__ = ["LoadResult", "run_load", "schedule", "window", "main"]

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
    """

    sent: int
    failed: int
    duration_s: float
    rate: float
    latencies_ms: np.ndarray
    scheduled_s: np.ndarray
    failed_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    failed_kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))

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
        n_ok, n_bad = int(ok.sum()), int(bad.sum())
        return LoadResult(
            sent=n_ok + n_bad,
            failed=n_bad,
            duration_s=end_s - start_s,
            rate=self.rate,
            latencies_ms=self.latencies_ms[ok],
            scheduled_s=self.scheduled_s[ok],
            failed_s=self.failed_s[bad],
            failed_kinds=self.failed_kinds[bad],
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
    base_url: str,
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
    >>> server.shutdown(); server.server_close()
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
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
        with Client(base_url, api_key=api_key, timeout_s=timeout_s) as client:
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
                    code, _ = make_request(client, i)
                except ServiceError as error:
                    code = error.status
                except Exception as error:
                    done_s[i] = time.perf_counter() - t0
                    raised[i] = type(error).__name__
                    status[i] = -1
                    continue
                done_s[i] = time.perf_counter() - t0
                status[i] = code  # written last: a nonzero status means done_s is set

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
    return LoadResult(
        sent=n,
        failed=int(n - ok.sum()),
        duration_s=float(duration_s),
        rate=float(rate),
        latencies_ms=(ends[ok] - planned[ok]) * 1000.0,
        scheduled_s=planned[ok],
        failed_s=planned[~ok],
        failed_kinds=np.array(why, dtype=str),
    )


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
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of schedule")
    parser.add_argument("--user-count", type=int, default=1000, help="users 1..N, uniform")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait after")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)

    n = len(schedule(args.rate, args.duration))
    users = np.random.default_rng(args.seed).integers(1, args.user_count + 1, size=n)
    paths = [f"/v1/users/{quote(str(u), safe='')}/recommendations?k={args.k}" for u in users]

    def recommend(client: Client, i: int) -> tuple[int, bytes]:
        return client.request("GET", paths[i])

    result = run_load(
        args.url,
        recommend,
        rate=args.rate,
        duration_s=args.duration,
        workers=args.workers,
        api_key=args.api_key,
        drain_s=args.drain,
        timeout_s=args.timeout,
    )
    summary = result.summary()
    print("| " + " | ".join(summary) + " |")
    print("|" + "---|" * len(summary))
    print("| " + " | ".join(_cell(v) for v in summary.values()) + " |")
    if args.out:
        from freshrec.jobs.report import machine_summary
        from freshrec.persist import atomic_write_text

        settings = {k: v for k, v in vars(args).items() if k not in ("api_key", "out")}
        seconds = range(math.ceil(args.duration))
        command = "python benchmarks/loadgen.py " + " ".join(argv or sys.argv[1:])
        if args.api_key:
            command = command.replace(args.api_key, "***")
        results = {
            "command": command,
            "machine": machine_summary(),
            "date": time.strftime("%Y-%m-%d"),
            "settings": settings,
            "summary": summary,
            "per_second": [window(result, s, min(s + 1.0, args.duration)) for s in seconds],
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
