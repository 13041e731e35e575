"""API keys: 401 without a valid key, 403 without the route's scope, on every route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from freshrec.serving.auth import ApiKeys, add_key
from freshrec.serving.settings import Settings
from freshrec.serving.store import ModelStore
from tests.serving.conftest import client_for

ROUTES = [  # method, path, body, scope
    ("POST", "/v1/events", {"events": [{"event_id": "a", "user": "u1", "item": "i1"}]}, "ingest"),
    ("GET", "/v1/users/u1/recommendations", None, "read"),
    ("POST", "/v1/recommendations", {"user": "u1"}, "read"),
    ("GET", "/v1/models", None, "admin"),
    ("POST", "/v1/models/v000001/promote", None, "admin"),
    ("POST", "/v1/models/rollback", None, "admin"),
]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "keys.json"
    return {scope: add_key(path, {scope}) for scope in ("read", "ingest", "admin")} | {
        "path": str(path)
    }


@pytest.fixture
def secured(store: ModelStore, keys: dict[str, str]) -> Iterator[TestClient]:
    with client_for(store, Settings(keys_file=Path(keys["path"]))) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
def test_every_route_needs_a_key_with_its_scope(
    secured: TestClient, keys: dict[str, str], method: str, path: str, body: object, scope: str
) -> None:
    def send(headers: dict[str, str]) -> int:
        return secured.request(method, path, json=body, headers=headers).status_code

    assert send({}) == 401
    assert send({"Authorization": "Bearer not-a-key"}) == 401
    assert send({"Authorization": f"Basic {keys[scope]}"}) == 401
    for other in {"read", "ingest", "admin"} - {scope}:
        assert send({"Authorization": f"Bearer {keys[other]}"}) == 403
    assert send({"Authorization": f"Bearer {keys[scope]}"}) not in {401, 403}


def test_health_and_metrics_need_no_key(secured: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert secured.get(path).status_code == 200


def test_the_keys_file_holds_only_hashes(keys: dict[str, str]) -> None:
    text = Path(keys["path"]).read_text()
    assert all(keys[scope] not in text for scope in ("read", "ingest", "admin"))
    assert len(json.loads(text)) == 3
    assert oct(Path(keys["path"]).stat().st_mode & 0o777) == "0o600"
    assert ApiKeys.load(keys["path"]).scopes(keys["admin"]) == frozenset({"admin"})
    with pytest.raises(ValueError, match="scopes must be among"):
        add_key(keys["path"], {"root"})
