"""benchmarks/loadgen.py: the open-loop load generator against a stdlib stand-in server."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.serving.test_client import FakeServer


def _import_loadgen() -> ModuleType:
    """Benchmarks are scripts (no package): load the file as the module ``loadgen``, as the
    other benchmarks import it (``from loadgen import run_load``)."""
    if "loadgen" not in sys.modules:
        path = REPO_ROOT / "benchmarks" / "loadgen.py"
        spec = importlib.util.spec_from_file_location("loadgen", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["loadgen"] = module
        spec.loader.exec_module(module)
    return sys.modules["loadgen"]


loadgen = _import_loadgen()


def _get_with_index(client, i):
    return client.request("GET", f"/v1/users/{i}/recommendations?i={i}")


def test_a_steady_run_sends_at_the_rate_and_measures_the_server_time():
    with FakeServer(delay_s=0.005) as server:
        started = time.perf_counter()
        result = loadgen.run_load(server.url, _get_with_index, rate=50, duration_s=1.5)
        elapsed = time.perf_counter() - started
        served = len(server.requests)
    assert abs(result.sent - 50 * 1.5) <= 2
    assert result.failed == 0 and result.errors == {}
    assert served == result.sent
    assert len(result.latencies_ms) == len(result.scheduled_s) == result.sent
    assert result.latencies_ms.min() >= 5.0
    assert np.all(np.diff(result.scheduled_s) > 0)  # schedule order
    assert elapsed < 1.5 + 1.0  # returns once the last answer is in, not after drain_s
    summary = result.summary()
    assert summary["failed"] == 0 and summary["ok"] == result.sent
    assert summary["p50_ms"] <= summary["p90_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["achieved_rate"] == pytest.approx(50, abs=2)
    json.dumps(summary)  # JSON-able as it is


def test_every_tenth_request_answering_500_is_counted_failed():
    def respond(request):
        i = int(request.path.rsplit("=", 1)[1])
        return (500, {"detail": "boom"}) if i % 10 == 9 else (200, {"items": []})

    with FakeServer(respond, delay_s=0.005) as server:
        result = loadgen.run_load(server.url, _get_with_index, rate=50, duration_s=1.5)
    assert result.sent == 75
    assert result.failed == 7  # slots 9, 19, ..., 69
    assert result.errors == {"HTTP 500": 7}
    assert np.allclose(result.failed_s, np.arange(9, 75, 10) / 50)
    assert len(result.latencies_ms) == 68
    first_second = loadgen.window(result, 0.0, 1.0)
    assert (first_second["sent"], first_second["failed"]) == (50, 5)
    assert loadgen.window(result, 1.0, 1.5)["failed"] == 2


def test_queueing_in_the_generator_counts_in_the_latency():
    # one worker, 50 ms per answer, 40 requests/s asked: the backlog grows request by request
    with FakeServer(delay_s=0.05) as server:
        result = loadgen.run_load(server.url, _get_with_index, rate=40, duration_s=0.5, workers=1)
    assert result.sent == 20 and result.failed == 0
    assert result.latencies_ms[-1] > result.latencies_ms[0] + 300  # ~20 x 25 ms of backlog
    assert result.summary()["max_ms"] > 400


def test_requests_unanswered_when_the_drain_ends_count_as_failed():
    with FakeServer(delay_s=1.0) as server:
        started = time.perf_counter()
        result = loadgen.run_load(
            server.url, _get_with_index, rate=20, duration_s=0.2, workers=2, drain_s=0.2
        )
        elapsed = time.perf_counter() - started
    assert elapsed < 0.2 + 0.2 + 0.3  # bounded by duration_s + drain_s
    assert result.sent == 4 and result.failed == 4
    assert result.errors == {"unanswered": 4}
    assert result.summary()["p50_ms"] is None


def test_connection_errors_count_as_failed():
    with FakeServer() as server:
        url = server.url  # the port is free again once the server is gone
    result = loadgen.run_load(url, _get_with_index, rate=20, duration_s=0.2, workers=2)
    assert result.failed == result.sent == 4
    assert result.errors == {"ConnectionRefusedError": 4}


def test_the_script_writes_its_summary(tmp_path, capsys):
    out = tmp_path / "load.json"
    with FakeServer() as server:
        code = loadgen.main(
            ["--url", server.url, "--rate", "20", "--duration", "1", "--user-count", "5"]
            + ["--api-key", "k3y", "--out", str(out)]
        )
        paths = {request.path for request in server.requests}
        keys = {request.headers["Authorization"] for request in server.requests}
    assert code == 0
    assert paths <= {f"/v1/users/{u}/recommendations?k=10" for u in range(1, 6)}
    assert keys == {"Bearer k3y"}
    saved = json.loads(out.read_text())
    assert saved["summary"]["sent"] == 20 and saved["summary"]["failed"] == 0
    assert len(saved["per_second"]) == 1
    assert "k3y" not in out.read_text()
    assert "p99_ms" in capsys.readouterr().out
