"""POST /v1/events: each event checked on its own, duplicates counted, limits enforced."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from freshrec.serving.settings import Settings
from freshrec.serving.store import ModelStore
from tests.serving.conftest import client_for


def _post(client: TestClient, raw: str) -> dict:
    answer = client.post(
        "/v1/events", content=raw.encode(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_malformed_events_are_rejected_one_by_one_and_the_valid_ones_kept(
    client: TestClient, store: ModelStore
) -> None:
    before = len(store.log)
    far = time.time() + 10 * 86_400
    batch = [
        {"event_id": "ok1", "user": "u1", "item": "i3"},
        {"event_id": "nan", "user": "u1", "item": "i3", "value": "NaN!"},
        {"event_id": "ok2", "user": 7, "item": "i4", "value": 4.5, "timestamp": 1e9},
        {"event_id": "badid", "user": True, "item": "i4"},
        {"event_id": "far", "user": "u2", "item": "i4", "timestamp": far},
        17,
        {"event_id": "extra", "user": "u2", "item": "i4", "colour": "red"},
        {"event_id": "ctx", "user": "u2", "item": "i4", "context": {"device": ["x"]}},
        {"event_id": "p", "user": "u2", "item": "i4", "propensity": 1.5},
        {"event_id": "ok3", "user": "u3", "item": "i1", "propensity": 0.5},
    ]
    raw = json.dumps({"events": batch})
    raw = raw.replace('"NaN!"', "NaN")  # a NaN value, as Python's json writes it
    answer = _post(client, raw)
    assert answer["accepted"] == 3 and answer["duplicate"] == 0 and answer["rejected"] == 7
    fields = {r["index"]: (r["event_id"], r["field"]) for r in answer["rejections"]}
    assert fields == {
        1: ("nan", "value"),
        3: ("badid", "user"),
        4: ("far", "timestamp"),
        5: (None, "event"),
        6: ("extra", "colour"),
        7: ("ctx", "context.device"),
        8: ("p", "propensity"),
    }
    assert all(r["reason"] for r in answer["rejections"])
    assert len(store.log) == before + 3
    stored = store.log.window(store.log.cursor_at(before))
    assert stored.event_id.tolist() == ["ok1", "ok2", "ok3"]


def test_sending_a_batch_again_counts_duplicates_and_stores_nothing(
    client: TestClient, store: ModelStore
) -> None:
    batch = {"events": [{"event_id": i, "user": "u1", "item": f"i{i % 5}"} for i in range(20)]}
    first = client.post("/v1/events", json=batch).json()
    length = len(store.log)
    again = [client.post("/v1/events", json=batch).json() for _ in range(2)]
    assert first["accepted"] == 20
    assert [(a["accepted"], a["duplicate"]) for a in again] == [(0, 20), (0, 20)]
    assert len(store.log) == length


def test_oversize_batches_and_bodies_get_413_and_bad_bodies_4xx(store: ModelStore) -> None:
    settings = Settings(max_batch_events=5, max_body_bytes=2_000)
    with client_for(store, settings) as client:
        six = {"events": [{"event_id": i, "user": 1, "item": 1} for i in range(6)]}
        assert client.post("/v1/events", json=six).status_code == 413
        big = {"events": [{"event_id": "x" * 3_000, "user": 1, "item": 1}]}
        assert client.post("/v1/events", json=big).status_code == 413
        for body in (b"\xff\xfe not utf-8", b"{not json", b'{"events": 3}', b"[]"):
            status = client.post(
                "/v1/events", content=body, headers={"content-type": "application/json"}
            ).status_code
            assert 400 <= status < 500, (body, status)


def test_a_user_over_the_rate_limit_has_the_extra_events_rejected(store: ModelStore) -> None:
    settings = Settings(user_events_per_s=0.001, user_burst=3)
    with client_for(store, settings) as client:
        batch = [{"event_id": f"r{i}", "user": "busy", "item": "i1"} for i in range(5)]
        batch.append({"event_id": "calm", "user": "calm", "item": "i1"})
        answer = client.post("/v1/events", json={"events": batch}).json()
    assert answer["accepted"] == 4
    assert [(r["event_id"], r["field"]) for r in answer["rejections"]] == [
        ("r3", "user"),
        ("r4", "user"),
    ]
    assert "rate limit" in answer["rejections"][0]["reason"]
