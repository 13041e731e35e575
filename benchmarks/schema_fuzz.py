"""Schemathesis over the service's OpenAPI schema, at length: requests and 5xx per operation.

Usage::

    python benchmarks/schema_fuzz.py [--examples 100] [--out FILE]

Runs ``tests/serving/test_schema_fuzz.py`` (pytest, in this process) with ``--examples``
fuzzed requests per operation instead of the test's 6 (the keyed run gets half): the app
under uvicorn on a loopback port over a registry of two BPR versions; schemathesis's
examples, coverage cases and hypothesis-fuzzed requests (positive and negative, seed 0,
derandomized) from the served schema with the events described by ``EventIn``; then the same
without the coverage phase against the app with API keys (wrong bearer keys, and a ``read``
key on every third request). The test module says what counts as a failure (a 5xx; a 2xx
without the route's scope).

Reported: requests per operation (method and path template as sent, so the coverage phase's
unexpected methods show) by status class, the total, the number of 5xx and pytest's outcome
per test. Time: about 30 s on 2 cores at the default.
Output: ``benchmarks/results/schema_fuzz.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "schema_fuzz.json"
TEST_FILE = REPO_ROOT / "tests" / "serving" / "test_schema_fuzz.py"
SERVERS = ("open_api", "keyed_api")  # the test module's fixtures, one per run


class Collect:
    """A pytest plugin keeping what each run's server fixture counted, and each test's
    outcome."""

    def __init__(self) -> None:
        self.runs: dict[str, Any] = {}
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []

    def pytest_fixture_post_finalizer(self, fixturedef: Any, request: Any) -> None:
        result = getattr(fixturedef, "cached_result", None)
        if fixturedef.argname in SERVERS and result is not None and result[0] is not None:
            self.runs[fixturedef.argname] = result[0]

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.outcome != "passed":
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            self.outcomes[outcome] += 1
            if outcome == "failed":
                self.failures.append(f"{report.nodeid}: {str(report.longrepr)[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="fuzzed requests per operation")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    os.chdir(REPO_ROOT)
    os.environ["FRESHREC_FUZZ_EXAMPLES"] = str(args.examples)

    import pytest
    import schemathesis

    from freshrec.jobs.report import machine_summary
    from freshrec.persist import atomic_write_text

    collect = Collect()
    started = time.perf_counter()
    exit_code = pytest.main(
        [str(TEST_FILE), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-W", "ignore"],
        plugins=[collect],
    )
    seconds = time.perf_counter() - started

    runs = {}
    for name in SERVERS:
        server = collect.runs.get(name)
        if server is None:
            continue
        operations: dict[str, Counter[str]] = {}
        for (operation, status), n in sorted(server.statuses.items()):
            operations.setdefault(operation, Counter())[f"{status // 100}xx"] += n
        runs[name] = {
            "requests": server.sent,
            "server_errors_5xx": sum(n for (_, s), n in server.statuses.items() if s >= 500),
            "statuses": {f"{op} {s}": n for (op, s), n in sorted(server.statuses.items())},
            "operations": {op: dict(sorted(c.items())) for op, c in operations.items()},
        }
    total = sum(run["requests"] for run in runs.values())
    errors = sum(run["server_errors_5xx"] for run in runs.values())
    report = {
        "command": " ".join(["python benchmarks/schema_fuzz.py", *(argv or sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_summary(),
        "schemathesis": schemathesis.__version__,
        "examples_per_operation": {
            "open_api": args.examples,
            "keyed_api": max(3, args.examples // 2),
        },
        "seconds": round(seconds, 1),
        "total_requests": total,
        "server_errors_5xx": errors,
        "pytest": {"exit_code": int(exit_code), **collect.outcomes, "failures": collect.failures},
        "runs": runs,
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")

    print("\n| run | operation | 2xx | 3xx | 4xx | 5xx |\n|---|---|---|---|---|---|")
    for name, run in runs.items():
        for operation, classes in run["operations"].items():
            cells = " | ".join(str(classes.get(c, 0)) for c in ("2xx", "3xx", "4xx", "5xx"))
            print(f"| {name} | {operation} | {cells} |")
    print(
        f"\n{total} requests, {errors} server errors (5xx), in {seconds:.0f} s; "
        f"pytest: {dict(collect.outcomes)}; written to {args.out}"
    )
    return 0 if errors == 0 and exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
