"""The catalogue over HTTP: put, get, delete; new items recommendable at once; deleted never."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from freshrec.serving.content import ContentRows
from freshrec.serving.store import ModelStore
from tests.serving.conftest import client_for


def _recommended(client: TestClient, user: str = "u1", k: int = 100) -> list[str]:
    path = f"/v1/users/{user}/recommendations?k={k}&exclude_seen=false"
    return [i["item"] for i in client.get(path).json()["items"]]


def test_put_get_and_delete_an_item(client: TestClient) -> None:
    put = client.put("/v1/items/i1", json={"text": "First item", "properties": {"year": 1999}})
    assert put.status_code == 200
    assert put.json()["recommendable"] is True  # the model knows i1 already
    got = client.get("/v1/items/i1").json()
    assert (got["text"], got["properties"]) == ("First item", {"year": 1999})
    assert client.get("/v1/items/nothing").status_code == 404
    assert "i1" in _recommended(client)
    assert client.delete("/v1/items/i1").json() == {"item": "i1", "deleted": True}
    assert "i1" not in _recommended(client)
    assert client.get("/v1/items/i1").status_code == 410
    assert client.delete("/v1/items/i1").status_code == 410
    assert client.put("/v1/items/i1", json={"text": "back"}).status_code == 409
    body = {"user": "u1", "k": 5, "candidates": ["i1", "i2"], "exclude_seen": False}
    assert [i["item"] for i in client.post("/v1/recommendations", json=body).json()["items"]] == [
        "i2"
    ]


def test_a_deleted_item_stays_out_of_a_new_version(
    client: TestClient, store: ModelStore, registry, log
) -> None:
    from freshrec.models import BPR

    client.delete("/v1/items/i2")
    registry.promote(registry.publish(BPR(n_factors=4, seed=5).learn_from_log(log)))
    assert store.refresh() or store.current().version == "v000002"
    assert "i2" not in _recommended(client)


@pytest.fixture
def texts_store(registry, log) -> ModelStore:
    """A store whose content rows come from a toy encoder: a text's vector is the one-hot of
    its first word among a few."""
    words = ["alpha", "beta", "gamma", "delta"]

    def encode(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(words)))
        for row, text in enumerate(texts):
            out[row, words.index(text.split()[0])] = 1.0
        return out

    return ModelStore(registry, log, content=ContentRows(encoder=encode, min_known=4))


def test_an_item_put_with_text_is_recommendable_at_once_like_its_look_alikes(
    texts_store: ModelStore,
) -> None:
    with client_for(texts_store) as client:
        model = texts_store.current().model
        for i in range(12):  # texts of known items: the first word follows the item
            assert client.put(f"/v1/items/i{i}", json={"text": f"{['alpha', 'beta'][i % 2]} {i}"})
        assert "fresh" not in _recommended(client, k=1000)
        answer = client.put("/v1/items/fresh", json={"text": "alpha new"}).json()
        assert answer["recommendable"] is True
        assert "fresh" in _recommended(client, k=1000)
        fresh = model.item_factors_[model.item_map_.encode_one("fresh")]
        alphas = model.item_factors_[model.item_map_.encode([f"i{i}" for i in range(0, 12, 2)])]
        betas = model.item_factors_[model.item_map_.encode([f"i{i}" for i in range(1, 12, 2)])]
        assert np.linalg.norm(fresh - alphas.mean(0)) < np.linalg.norm(fresh - betas.mean(0))
