"""Replicas over one Redis Streams log and one registry folder: both pick up a promoted
version, and a client alternating between them with ``X-Freshrec-Min-Version`` never sees the
version go backwards, even when one replica's follower is slow (skipped without Redis); and
the load generator over several replicas (stand-in servers)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from freshrec.checks import checkerboard_events
from freshrec.live import Registry
from freshrec.log import open_log
from freshrec.models import BPR
from freshrec.serving.app import create_app
from freshrec.serving.client import Client, MonotonicReads
from freshrec.serving.routes import recommend
from freshrec.serving.run import serve_in_thread
from freshrec.serving.store import ModelStore
from tests.log.conftest import REDIS_URL, redis_client
from tests.serving.test_client import FakeServer, Recorded
from tests.serving.test_loadgen import loadgen

SLOW_POLL_S = 3600.0  # a follower that never polls during a test: only a notify wakes it
HEADER = "X-Freshrec-Min-Version"


@pytest.fixture
def log_url() -> Iterator[str]:
    """A Redis log under a key prefix of its own, holding 150 events; deleted afterwards."""
    client = redis_client()
    prefix = f"freshrec-test:{uuid.uuid4().hex}"
    url = f"{REDIS_URL}?prefix={prefix}"
    log = open_log(url)
    log.append(checkerboard_events()[:150])
    log.close()
    yield url
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def registry(tmp_path: Path, log_url: str) -> Registry:
    """Versions v000001 (stable), v000002 and v000003 (published, not promoted), each BPR
    learned from the whole log with its own seed."""
    registry = Registry(tmp_path / "registry")
    log = open_log(log_url)
    for seed in range(3):
        registry.publish(BPR(n_factors=4, seed=seed).learn_from_log(log))
    log.close()
    registry.promote("v000001")
    return registry


def replica(registry: Registry, log_url: str) -> ModelStore:
    """A replica's store: its own log connection and registry object over the shared ones."""
    return ModelStore(Registry(registry.path), open_log(log_url))


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def serving(store: ModelStore) -> str | None:
    current = store.current()
    return current.version if current is not None else None


def test_both_replicas_pick_up_a_promoted_version(registry: Registry, log_url: str) -> None:
    stores = [replica(registry, log_url), replica(registry, log_url)]
    for store in stores:
        store.start(poll_s=0.02)
    try:
        wait_for(lambda: all(serving(s) == "v000001" for s in stores))
        registry.promote("v000002")
        promoted = registry.journal()[-1]
        assert (promoted["action"], promoted["version"]) == ("promote", "v000002")
        wait_for(lambda: all(serving(s) == "v000002" for s in stores))
        for store in stores:
            assert [v for v, _ in store.swap_history] == ["v000001", "v000002"]
            assert store.swap_history[-1][1] >= promoted["time"]
    finally:
        for store in stores:
            store.stop()
            store.log.close()


def test_an_alternating_client_never_sees_the_version_go_backwards(
    registry: Registry, log_url: str
) -> None:
    fast, slow = replica(registry, log_url), replica(registry, log_url)
    with (
        serve_in_thread(create_app(fast, poll_s=0.02)) as fast_url,
        serve_in_thread(create_app(slow, poll_s=SLOW_POLL_S)) as slow_url,
    ):
        reads = MonotonicReads()
        clients = [Client(fast_url, reads=reads), Client(slow_url, reads=reads)]
        plain = Client(slow_url)
        seen = [c.recommend(1, k=3)["model_version"] for c in clients]
        assert seen == ["v000001", "v000001"]
        for version in ("v000002", "v000003"):
            registry.promote(version)
            wait_for(lambda version=version: serving(fast) == version)
            # without the header the slow replica answers with the version it still serves
            assert plain.recommend(1, k=3)["model_version"] < version
            for turn in range(4):
                seen.append(clients[turn % 2].recommend(turn, k=3)["model_version"])
            assert serving(slow) == version  # the header made it catch up
        for client in (*clients, plain):
            client.close()
    fast.log.close()
    slow.log.close()
    assert seen == sorted(seen)  # v000001 < v000002 < v000003 as text too
    assert seen[-8:] == ["v000002"] * 4 + ["v000003"] * 4
    assert reads.version == "v000003"


def test_await_version_times_out_and_returns_at_once_after_a_rollback(
    registry: Registry, log_url: str
) -> None:
    store = replica(registry, log_url)  # no follower thread: nothing swaps unless refreshed
    assert store.refresh() and serving(store) == "v000001"
    registry.promote("v000002")
    started = time.monotonic()
    assert store.await_version("v000002", timeout_s=0.05) is False
    assert 0.05 <= time.monotonic() - started < 1.0
    assert store.await_version("v000001", timeout_s=0.0) is True  # served already
    store.refresh()
    assert store.await_version("v000002", timeout_s=0.0) is True
    # another replica served v000003 to the client; then the registry rolled back to v000002
    registry.promote("v000003")
    registry.rollback()
    assert registry.labels()["stable"] == "v000002"
    started = time.monotonic()
    assert store.await_version("v000003", timeout_s=5.0) is True  # nothing later will come
    assert time.monotonic() - started < 1.0
    assert serving(store) == "v000002"
    store.log.close()


def test_the_header_on_both_routes_and_the_served_history(
    registry: Registry, log_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = replica(registry, log_url)
    with TestClient(create_app(store, poll_s=SLOW_POLL_S)) as client:
        registry.promote("v000002")
        get, body = "/v1/users/1/recommendations?k=3", {"user": 1, "k": 3}
        # header absent: the old behaviour, the version served, at once
        assert client.get(get).json()["model_version"] == "v000001"
        assert client.post("/v1/recommendations", json=body).json()["model_version"] == ("v000001")
        assert client.get(get, headers={HEADER: "12"}).status_code == 422
        assert client.get(get, headers={HEADER: "v1/../x"}).status_code == 422
        # no time to catch up: 503, try again later or elsewhere
        monkeypatch.setattr(recommend, "MIN_VERSION_WAIT_S", 0.0)
        late = client.post("/v1/recommendations", json=body, headers={HEADER: "v000002"})
        assert late.status_code == 503 and late.headers["retry-after"] == "1"
        assert "v000002" in late.json()["detail"]
        monkeypatch.setattr(recommend, "MIN_VERSION_WAIT_S", 1.0)
        answer = client.post("/v1/recommendations", json=body, headers={HEADER: "v000002"})
        assert answer.status_code == 200 and answer.json()["model_version"] == "v000002"
        assert client.get(get, headers={HEADER: "v000001"}).json()["model_version"] == ("v000002")
        models = client.get("/v1/models").json()
        assert models["serving"] == "v000002"
        served = models["served"]
        assert [s["version"] for s in served] == ["v000001", "v000002"]
        assert served[0]["since"] <= served[1]["since"] <= time.time()
    store.log.close()


# -- the load generator over several replicas (stand-in servers: no Redis needed) ------------
def _versioned(version: str) -> Callable[[Recorded], tuple[int, object]]:
    """A replica serving ``version`` that, like the real route, answers the header's version
    when it is later (as if it caught up on being asked)."""

    def respond(request: Recorded) -> tuple[int, object]:
        asked = request.headers.get(HEADER)
        return 200, {"model_version": max(version, asked) if asked else version}

    return respond


def test_the_load_goes_round_the_replicas_and_each_gets_a_summary() -> None:
    with FakeServer() as a, FakeServer(lambda r: (503, {"detail": "busy"})) as b:
        result = loadgen.run_load(
            [a.url, b.url], lambda c, i: c.request("GET", f"/x?i={i}"), rate=40, duration_s=0.5
        )
        paths = ({r.path for r in a.requests}, {r.path for r in b.requests})
    assert paths == ({f"/x?i={i}" for i in range(0, 20, 2)}, {f"/x?i={i}" for i in range(1, 20, 2)})
    assert (result.sent, result.failed, result.replicas) == (20, 10, 2)
    first, second = result.replica_result(0), result.replica_result(1)
    assert (first.sent, first.failed, first.rate) == (10, 0, 20.0)
    assert (second.sent, second.failed, second.errors) == (10, 10, {"HTTP 503": 10})
    assert result.between(0.0, 0.25).replica_result(1).sent == 5


def test_only_the_client_sending_the_header_never_goes_backwards() -> None:
    with FakeServer(_versioned("v000002")) as ahead, FakeServer(_versioned("v000001")) as behind:
        urls = [ahead.url, behind.url]
        monotonic = loadgen.alternate(urls, [1, 2], rate=100, duration_s=0.2)
        plain = loadgen.alternate(urls, [1, 2], rate=100, duration_s=0.2, monotonic=False)
        sent = [r.headers.get(HEADER) for r in behind.requests]
    assert monotonic.versions == ["v000002"] * 20
    assert monotonic.summary()["backward_steps"] == 0
    assert plain.versions == ["v000002", "v000001"] * 10
    assert plain.summary()["backward_steps"] == 10
    assert sent == ["v000002"] * 10 + [None] * 10  # the monotonic client's requests first


def test_the_script_reports_each_replica_and_the_alternating_clients(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    with FakeServer(_versioned("v000002")) as a, FakeServer(_versioned("v000001")) as b:
        code = loadgen.main(
            ["--url", a.url, "--url", b.url, "--rate", "20", "--duration", "1"]
            + ["--monotonic-rate", "10", "--control", "--out", str(out)]
        )
    assert code == 0
    saved = json.loads(out.read_text())
    assert [r["url"] for r in saved["per_replica"]] == [a.url, b.url]
    assert [r["sent"] for r in saved["per_replica"]] == [10, 10]
    assert saved["summary"]["sent"] == 20 and saved["summary"]["failed"] == 0
    assert saved["monotonic_client"]["backward_steps"] == 0
    assert saved["control_client"]["backward_steps"] == 5
    assert saved["monotonic_client"]["requests"] == saved["control_client"]["requests"] == 10
