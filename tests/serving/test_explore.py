"""Exploring recommendations: drawn by a softmax policy, answered with their propensities,
recorded in the decision log and never in the event log (issue 20, item 4)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from freshrec.bandits import ScorePolicy
from freshrec.live import DecisionLog, Registry
from freshrec.log import EventLog, open_log
from freshrec.models import BPR
from freshrec.serving.app import create_app
from freshrec.serving.embedded import DEFAULT_GATE, EmbeddedService
from freshrec.serving.settings import ExploreSettings
from freshrec.serving.store import ModelStore

EXPLORE = ExploreSettings(temperature=0.5, floor=0.02, pool=20, draws=2_000, seed=0)
CANDIDATES = [f"i{i}" for i in range(10)]


@pytest.fixture
def decisions() -> DecisionLog:
    return DecisionLog(open_log("memory://"))


@pytest.fixture
def explorer_client(store: ModelStore, decisions: DecisionLog) -> Iterator[TestClient]:
    app = create_app(store, poll_s=0.02, explore=EXPLORE, decisions=decisions)
    with TestClient(app) as client:
        yield client


def _explore(client: TestClient, **body: object) -> dict:
    response = client.post("/v1/recommendations", json={"user": "u1", "explore": True, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_exploring_answer_is_k_distinct_candidates_with_their_propensities_logged(
    explorer_client: TestClient, store: ModelStore, decisions: DecisionLog
):
    answer = _explore(explorer_client, k=3, candidates=CANDIDATES, exclude_seen=False)
    items = [i["item"] for i in answer["items"]]
    propensities = answer["propensities"]
    assert len(set(items)) == 3 and set(items) <= set(CANDIDATES)
    assert len(propensities) == 3 and all(0.0 < p <= 1.0 for p in propensities)
    model = store.current().model
    # the same scores up to float32 rounding (scoring another subset may sum in another order)
    np.testing.assert_allclose(
        [i["score"] for i in answer["items"]], model.score("u1", items), rtol=1e-6
    )
    [logged] = decisions.decisions()
    assert logged.recommendation_id == answer["recommendation_id"] and logged.user == "u1"
    assert list(logged.items) == items and logged.propensities.tolist() == propensities
    assert set(logged.pool) == set(CANDIDATES) and logged.model_version == "v000001"
    assert abs(logged.timestamp - time.time()) < 60
    # the first position's propensity is the policy's exact softmax probability
    policy = ScorePolicy(model, EXPLORE.temperature, EXPLORE.floor)
    exact = policy.probabilities(list(logged.pool), context="u1")
    assert logged.first_propensity == pytest.approx(exact[logged.pool.index(items[0])], abs=1e-12)


def test_a_single_item_answer_carries_the_exact_propensity(
    explorer_client: TestClient, decisions: DecisionLog
):
    answers = [_explore(explorer_client, k=1, candidates=CANDIDATES) for _ in range(20)]
    logged = decisions.decisions()
    assert len(logged) == 20
    for answer, decision in zip(answers, logged, strict=True):
        assert answer["propensities"] == [decision.first_propensity]
    assert len({a["items"][0]["item"] for a in answers}) > 1  # it explores


def test_without_candidates_the_pool_is_the_best_unseen_items(
    store: ModelStore, decisions: DecisionLog
):
    app = create_app(store, explore=ExploreSettings(pool=5, seed=1), decisions=decisions)
    with TestClient(app) as client:
        answer = _explore(client, k=2)
    [logged] = decisions.decisions()
    assert list(logged.pool) == [s.item for s in store.recommend("u1", 5).items]
    assert not set(logged.pool) & set(store.seen_items("u1"))
    assert {i["item"] for i in answer["items"]} <= set(logged.pool)


def test_a_plain_request_logs_nothing_and_carries_no_propensities(
    explorer_client: TestClient, decisions: DecisionLog
):
    posted = explorer_client.post("/v1/recommendations", json={"user": "u1", "k": 3}).json()
    got = explorer_client.get("/v1/users/u1/recommendations?k=3").json()
    assert posted["propensities"] is None and got["propensities"] is None
    assert len(decisions) == 0
    bad = {"user": "u1", "explore": "yes"}
    assert explorer_client.post("/v1/recommendations", json=bad).status_code == 422


def test_impressions_stay_out_of_the_event_log(
    explorer_client: TestClient, store: ModelStore, log: EventLog, decisions: DecisionLog
):
    seen = store.seen_items("u1")
    for _ in range(10):
        _explore(explorer_client, k=5)
    assert len(decisions) == 10 and len(log) == 150
    assert store.seen_items("u1") == seen
    assert sorted(store.current().model.seen_items("u1")) == sorted(seen)
    assert BPR(n_factors=4, seed=0).learn_from_log(log).n_events_ == 150


def test_a_click_after_an_exploring_answer_is_its_reward(
    explorer_client: TestClient, log: EventLog, decisions: DecisionLog
):
    shown = [_explore(explorer_client, k=1, candidates=CANDIDATES) for _ in range(2)]
    clicked = shown[0]["items"][0]["item"]
    event = {"event_id": "click", "user": "u1", "item": clicked, "value": 5.0}
    assert explorer_client.post("/v1/events", json={"events": [event]}).json()["accepted"] == 1
    outcomes = log.window(log.cursor_at(150))
    rounds = decisions.rounds(outcomes, threshold=1.0, reward_window_s=60, end_s=time.time() + 60)
    expected = [1.0, float(shown[1]["items"][0]["item"] == clicked)]
    assert rounds.feedback.rewards.tolist() == expected


def test_exploring_before_any_version_serves_is_503(tmp_path: Path):
    store = ModelStore(Registry(tmp_path / "registry"), open_log("memory://"))
    with TestClient(create_app(store)) as client:
        response = client.post("/v1/recommendations", json={"user": "u1", "explore": True})
    assert response.status_code == 503


def test_the_embedded_service_wires_one_decision_log_to_the_app_and_the_learner(tmp_path: Path):
    rng = np.random.default_rng(0)
    settings = {"micro_batch": 50, "candidate_every": 100, "guard_events": 50}
    with EmbeddedService(tmp_path, "popular", checkpoint_every=100, **settings) as service:
        assert service.learner is not None and service.learner.decisions is service.decisions
        assert service.learner.guard.ope == DEFAULT_GATE
        with TestClient(service.app(explore=ExploreSettings(seed=0))) as client:
            events = [
                {"event_id": i, "user": int(rng.integers(20)), "item": int(rng.integers(15))}
                for i in range(200)
            ]
            client.post("/v1/events", json={"events": events})
            deadline = time.monotonic() + 20
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.02)
            for user in range(5):
                _explore(client, user=user, k=3)
            while service.learner_lag() and time.monotonic() < deadline:
                time.sleep(0.02)
            position = service.learner.status().position
            decided = len(service.decisions)
    assert decided == 5 and position == 200  # the learner learned the events, no impression
    assert (tmp_path / "events.decisions.db").exists()
    assert len(DecisionLog.beside(f"sqlite:///{tmp_path / 'events.db'}")) == 5
