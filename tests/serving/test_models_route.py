"""The registry over HTTP, and versions the server refuses to serve."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from fastapi.testclient import TestClient

from freshrec.live import Registry
from freshrec.log import EventLog
from freshrec.models import BPR
from freshrec.serving.store import ModelStore


def _publish(registry: Registry, log: EventLog, seed: int, damage: Callable[[BPR], None]) -> str:
    model = BPR(n_factors=4, seed=seed).learn_from_log(log)
    damage(model)
    with mock.patch.object(BPR, "_check_finite"):  # a writer that does not check
        return registry.publish(model)


def test_models_lists_versions_and_promote_and_rollback_swap_the_served_one(
    client: TestClient, registry: Registry, log: EventLog
) -> None:
    second = registry.publish(BPR(n_factors=4, seed=1).learn_from_log(log))
    listed = client.get("/v1/models").json()
    assert listed["serving"] == "v000001" and [v["version"] for v in listed["versions"]] == [
        "v000001",
        second,
    ]
    promoted = client.post(f"/v1/models/{second}/promote").json()
    assert promoted["serving"] == second and promoted["labels"]["previous"] == "v000001"
    assert client.get("/v1/users/u1/recommendations").json()["model_version"] == second
    rolled = client.post("/v1/models/rollback").json()
    assert rolled["serving"] == "v000001"
    assert client.post("/v1/models/rollback").status_code == 409


@pytest.mark.parametrize("name", ["v999999", "..%2F..%2Fetc", "v00001", "stable", "v000001x"])
def test_promote_refuses_unknown_and_escaping_names(client: TestClient, name: str) -> None:
    assert client.post(f"/v1/models/{name}/promote").status_code in {404, 422}
    assert client.get("/v1/models").json()["labels"]["stable"] == "v000001"


def _nan(model: BPR) -> None:
    model.item_factors_[0, 0] = np.nan


def _short(model: BPR) -> None:
    model.item_factors_ = model.item_factors_[:-1].copy()


def _flip(folder: Path) -> None:
    tensors = next(folder.glob("*.safetensors"))
    data = bytearray(tensors.read_bytes())
    data[-5] ^= 0xFF
    tensors.write_bytes(bytes(data))


def _remove(folder: Path) -> None:
    next(folder.glob("*.safetensors")).unlink()


@pytest.mark.parametrize(
    ("damage", "spoil"),
    [(_nan, None), (_short, None), (lambda m: None, _flip), (lambda m: None, _remove)],
    ids=["non-finite", "wrong-shape", "bad-checksum", "missing-file"],
)
def test_a_broken_stable_version_is_refused_and_the_old_one_serves(
    client: TestClient,
    registry: Registry,
    log: EventLog,
    store: ModelStore,
    damage: Callable[[BPR], None],
    spoil: Callable[[Path], None] | None,
) -> None:
    broken = _publish(registry, log, 1, damage)
    if spoil is not None:
        spoil(registry.folder(broken))
    registry.promote(broken)
    time.sleep(0.2)  # several polls of the store
    for _ in range(3):
        answer = client.get("/v1/users/u1/recommendations")
        assert answer.status_code == 200 and answer.json()["model_version"] == "v000001"
    assert [version for version, _ in store.refusals] == [broken]
    assert "freshrec_versions_refused 1.0" in client.get("/metrics").text
