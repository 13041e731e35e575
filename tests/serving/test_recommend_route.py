"""Recommendations over HTTP: what they carry, fresh user state, and before any version."""

from __future__ import annotations

import tempfile
import time

import numpy as np
from fastapi.testclient import TestClient

from freshrec.live import Registry
from freshrec.log import open_log
from freshrec.serving.store import ModelStore
from tests.serving.conftest import client_for


def _wait_for(client: TestClient, path: str, cursor: str, timeout_s: float = 5.0) -> dict:
    """The first answer whose user state covers ``cursor`` (log positions are numbers here)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = client.get(path).json()
        if int(answer["user_cursor"]) >= int(cursor):
            return answer
        time.sleep(0.01)
    raise AssertionError(f"user state did not reach {cursor}")


def test_an_answer_carries_its_version_cursors_and_a_fresh_id(client: TestClient) -> None:
    first = client.get("/v1/users/u1/recommendations?k=3").json()
    second = client.get("/v1/users/u1/recommendations?k=3").json()
    assert first["model_version"] == "v000001" and first["model_cursor"] == "150"
    assert first["user_cursor"] == "150" and len(first["items"]) == 3
    assert first["recommendation_id"] != second["recommendation_id"]
    scores = [item["score"] for item in first["items"]]
    assert scores == sorted(scores, reverse=True)


def test_a_posted_event_shapes_the_users_next_answer(client: TestClient) -> None:
    path = "/v1/users/u1/recommendations?k=50&exclude_seen=false"
    before = {i["item"]: i["score"] for i in client.get(path).json()["items"]}
    posted = client.post(
        "/v1/events", json={"events": [{"event_id": "new", "user": "u1", "item": "i3"}]}
    ).json()
    after_answer = _wait_for(client, path, posted["cursor"])
    after = {i["item"]: i["score"] for i in after_answer["items"]}
    assert after_answer["model_version"] == "v000001"  # shared parameters unchanged
    assert after["i3"] > before["i3"]
    other = client.get("/v1/users/u2/recommendations?k=50&exclude_seen=false").json()
    assert other["user_cursor"] == after_answer["user_cursor"]


def test_exclude_seen_leaves_out_the_users_items_in_the_log(
    client: TestClient, store: ModelStore
) -> None:
    seen = set(store.seen_items("u1"))
    items = {i["item"] for i in client.get("/v1/users/u1/recommendations?k=100").json()["items"]}
    assert seen and not items & seen
    everything = client.get("/v1/users/u1/recommendations?k=100&exclude_seen=false").json()
    assert seen <= {i["item"] for i in everything["items"]}


def test_post_ranks_only_the_candidates(client: TestClient) -> None:
    body = {"user": "u1", "k": 5, "candidates": ["i1", "i2"], "exclude_seen": False}
    answer = client.post("/v1/recommendations", json=body).json()
    assert {i["item"] for i in answer["items"]} == {"i1", "i2"}
    assert client.post("/v1/recommendations", json={"user": "u1", "k": 0}).status_code == 422


def test_integer_user_ids_are_found_from_the_path(tmp_path: object) -> None:
    from freshrec.data.batch import EventBatch
    from freshrec.models import BPR

    log = open_log("memory://")
    rng = np.random.default_rng(0)
    log.append(EventBatch(rng.integers(0, 20, 300), rng.integers(0, 30, 300), np.ones(300)))
    registry = Registry(tempfile.mkdtemp())
    registry.promote(registry.publish(BPR(n_factors=4, seed=0).learn_from_log(log)))
    with client_for(ModelStore(registry, log)) as client:
        answer = client.get("/v1/users/3/recommendations?k=3").json()
        unknown = client.get("/v1/users/3x/recommendations?k=3").json()
    assert answer["user"] == 3 and unknown["user"] == "3x"
    assert answer["items"] != unknown["items"]  # 3 is a known user; 3x gets the fallback


def test_before_any_version_recommendations_answer_503() -> None:
    store = ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://"))
    with client_for(store) as client:
        assert client.get("/v1/users/u1/recommendations").status_code == 503
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
