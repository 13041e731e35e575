"""The Python client against the real app over HTTP (uvicorn on loopback)."""

from __future__ import annotations

import pytest

from freshrec.data.batch import EventBatch
from freshrec.serving.app import create_app
from freshrec.serving.client import Client, ServiceError
from freshrec.serving.run import serve_in_thread
from freshrec.serving.store import ModelStore


def test_the_client_drives_every_route(store: ModelStore) -> None:
    with serve_in_thread(create_app(store, poll_s=0.02)) as url, Client(url) as client:
        assert client.health() == {"status": "ok"}
        assert client.ready()["version"] == "v000001"
        batch = EventBatch.from_events([])  # an empty batch is a valid request
        assert client.send_events(batch)["accepted"] == 0
        sent = client.send_events(
            [
                {"event_id": "a", "user": "a/b c", "item": "i1"},
                {"event_id": "b", "user": "u1", "item": "i2"},
            ]
        )
        assert sent["accepted"] == 2
        odd = client.recommend("a/b c", k=3)
        assert odd["user"] == "a/b c" and len(odd["items"]) == 3
        chosen = client.recommend_for("u1", k=2, candidates=["i1", "i2", "i3"])
        assert {i["item"] for i in chosen["items"]} <= {"i1", "i2", "i3"}
        explored = client.recommend_for(
            "u1", k=2, exclude_seen=False, candidates=["i1", "i2", "i3"], explore=True
        )
        assert len(explored["propensities"]) == 2 and chosen["propensities"] is None
        assert client.models()["serving"] == "v000001"
        with pytest.raises(ServiceError) as missing:
            client.promote("v000009")
        assert missing.value.status == 404
        with pytest.raises(ServiceError) as nothing:
            client.rollback()
        assert nothing.value.status == 409
        assert "freshrec_request_seconds_bucket" in client.metrics()
