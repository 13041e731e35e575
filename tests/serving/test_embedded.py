"""The embedded service: events posted over HTTP are learned, published and served."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from freshrec.serving.embedded import EmbeddedService


def test_posted_events_become_a_served_version_and_metrics_show_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    settings = {"micro_batch": 50, "candidate_every": 500, "guard_events": 100}
    with EmbeddedService(tmp_path, "bpr", overrides={"bpr": {"seed": 0}}, **settings) as service:
        with TestClient(service.app()) as client:
            assert client.get("/readyz").status_code == 503
            for start in range(0, 1_500, 250):
                events = [
                    {"event_id": i, "user": int(rng.integers(40)), "item": int(rng.integers(30))}
                    for i in range(start, start + 250)
                ]
                assert client.post("/v1/events", json={"events": events}).json()["accepted"] == 250
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            ready = client.get("/readyz").json()
            answer = client.get("/v1/users/3/recommendations?k=5").json()
            metrics = client.get("/metrics").text
    assert ready["status"] == "ready" and answer["model_version"] == ready["version"]
    assert int(answer["model_cursor"]) >= 500 and len(answer["items"]) == 5
    assert 'freshrec_events_total{outcome="accepted"} 1500.0' in metrics
    assert 'freshrec_guard_decisions{decision="promote"}' in metrics
    assert "freshrec_learner_lag_events" in metrics
    assert service.learner_error is None
    assert (tmp_path / "events.db").exists() and (tmp_path / "registry" / "versions").is_dir()
