"""The dashboard page (what it shows, escaping, before any version) and its history."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from freshrec.live import Registry
from freshrec.log import EventLog, open_log
from freshrec.models import BPR
from freshrec.serving import history as history_module
from freshrec.serving.auth import add_key
from freshrec.serving.history import Gauges, History
from freshrec.serving.settings import Settings
from freshrec.serving.store import ModelStore
from tests.serving.conftest import client_for

EVIL = '<script>alert("x")</script>'


def _history(client: TestClient) -> History:
    found: History = client.app.state.context.metrics.history  # type: ignore[attr-defined]
    return found


def _answer_items(page: str) -> list[str]:
    """The items of the user box's table, in rank order."""
    table = page.split('<table id="answer">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="num">\d+</td><td class="mono">(.*?)</td>', table)


# -- the page -------------------------------------------------------------------------------
def test_the_page_shows_the_serving_version_and_the_labels(client: TestClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<span class="pill version" id="version">v000001</span>' in response.text
    assert "stable <b>v000001</b>" in response.text and "candidate <b>—</b>" in response.text


def test_the_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/dashboard").text
    assert not re.search(r"""(src|href)=|url\(|@import|https?://""", page)


def test_since_when_comes_from_the_stores_swaps_else_from_the_journal(
    client: TestClient, store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(store, "swap_history", raising=False)
    assert "stable since" in client.get("/dashboard").text
    swapped = time.time() - 125
    monkeypatch.setattr(store, "swap_history", [("v000001", swapped)], raising=False)
    page = client.get("/dashboard").text
    assert f"serving since {time.strftime('%H:%M:%S', time.localtime(swapped))}" in page
    assert "(2 min ago)" in page


def test_the_registrys_decisions_are_listed_newest_first(
    client: TestClient, registry: Registry, log: EventLog
) -> None:
    second = registry.publish(BPR(n_factors=4, seed=1).learn_from_log(log))
    registry.promote(second, reason="ndcg up", metrics={"candidate_ndcg@10": 0.31})
    third = registry.publish(BPR(n_factors=4, seed=2).learn_from_log(log))
    registry.reject(third, reason="churn too high", metrics={"churn@10": 0.9})
    registry.rollback(reason="by hand")
    table = client.get("/dashboard").text.split('id="decisions"', 1)[1]
    rows = re.findall(r'<span class="action (\w+)">.*?<td class="mono">(v\d+)</td>', table)
    assert rows == [
        ("rollback", "v000001"),
        ("reject", third),
        ("publish", third),
        ("promote", second),
        ("publish", second),
        ("promote", "v000001"),
        ("publish", "v000001"),
    ]
    assert "candidate_ndcg@10 0.31" in table and "churn@10 0.9" in table
    assert "churn too high" in table and f"from {second}" in table


def test_the_user_box_shows_the_users_recommendations(
    client: TestClient, store: ModelStore
) -> None:
    page = client.get("/dashboard?user=u1&k=5").text
    expected = [str(scored.item) for scored in store.recommend("u1", 5).items]
    assert len(expected) == 5 and _answer_items(page) == expected
    assert 'value="u1"' in page and "http-equiv" not in page


def test_an_unknown_user_gets_the_models_answer_for_a_new_user(client: TestClient) -> None:
    page = client.get("/dashboard?user=nobody&k=3").text
    assert "has no events in the log" in page and len(_answer_items(page)) == 3


def test_strings_from_outside_are_escaped(client: TestClient, registry: Registry) -> None:
    registry.reject("v000001", reason=EVIL)
    page = client.get("/dashboard", params={"user": EVIL}).text
    assert EVIL not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_k_out_of_range_is_a_422(client: TestClient) -> None:
    assert client.get("/dashboard?user=u1&k=0").status_code == 422
    assert client.get("/dashboard?user=u1&k=101").status_code == 422


def test_charts_are_inline_svg_lines_of_the_history(client: TestClient) -> None:
    history = _history(client)
    for lag in (4, 0):
        history.observe(0.002)
        history.sample(Gauges(learner_lag=None, user_state_lag=lag, version="v000001"))
    charts = client.get("/dashboard").text.split('id="charts"', 1)[1].split("</section>", 1)[0]
    assert charts.count("<svg") == 4
    assert charts.count("<polyline") >= 4  # lag, rate, p50, p99 (the learner's is unknown)
    assert "not known in this process" in charts


def test_charts_say_so_before_the_first_sample(store: ModelStore) -> None:
    client = client_for(store)  # not started: no sampler
    charts = client.get("/dashboard").text
    assert charts.count("<svg") == 4 and charts.count("no samples yet") == 4


def test_without_a_model_the_page_says_so(tmp_path: Path) -> None:
    store = ModelStore(Registry(tmp_path / "empty"), open_log("memory://"))
    with client_for(store) as client:
        response = client.get("/dashboard?user=u1")
    assert response.status_code == 200
    assert "No model version is serving yet" in response.text
    assert "nothing to recommend" in response.text
    assert "No decisions recorded yet" in response.text


def test_the_page_needs_a_read_key_when_keys_are_set(store: ModelStore, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    read, ingest = add_key(keys, {"read"}), add_key(keys, {"ingest"})
    with client_for(store, Settings(keys_file=keys)) as client:
        statuses = [
            client.get("/dashboard", headers={"Authorization": f"Bearer {key}"}).status_code
            for key in ("no-key", ingest, read)
        ]
    assert statuses == [401, 403, 200]


def test_the_app_samples_its_requests_and_gauges(client: TestClient) -> None:
    for _ in range(20):
        client.get("/v1/users/u1/recommendations")
    history = _history(client)
    deadline = time.monotonic() + 5
    while sum(s.requests for s in history.samples()) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    samples = history.samples()
    assert sum(s.requests for s in samples) >= 20
    assert samples[-1].gauges == Gauges(learner_lag=None, user_state_lag=0, version="v000001")


# -- the history ----------------------------------------------------------------------------
class _Clock:
    """Stands for the ``time`` module in :mod:`freshrec.serving.history`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(history_module, "time", clock)
    return clock


def test_the_history_keeps_the_latest_capacity_samples() -> None:
    history = History(capacity=3)
    for lag in range(5):
        history.sample(Gauges(None, lag, None))
    assert [s.gauges.user_state_lag for s in history.samples()] == [2, 3, 4]


def test_a_sample_counts_its_intervals_requests_rate_and_percentiles(clock: _Clock) -> None:
    history = History()
    for ms in range(1, 101):
        history.observe(ms / 1000)
    clock.now += 2.0
    sample = history.sample(Gauges(7, 3, "v000002"))
    assert (sample.time, sample.requests, sample.rate) == (1002.0, 100, 50.0)
    assert sample.p50_s == pytest.approx(0.0505) and sample.p99_s == pytest.approx(0.09901)
    clock.now += 0.5
    quiet = history.sample(Gauges(7, 3, "v000002"))
    assert (quiet.requests, quiet.rate, quiet.p50_s, quiet.p99_s) == (0, 0.0, None, None)


def test_latencies_of_one_interval_stay_within_the_reservoir() -> None:
    history = History(reservoir=50)
    for i in range(10_000):
        history.observe(i / 10_000)
    assert len(history._latencies) == 50  # memory bounded however busy the interval
    sample = history.sample(Gauges(None, None, None))
    assert sample.requests == 10_000 and 0.2 < (sample.p50_s or 0) < 0.8


def test_the_sampler_thread_goes_on_after_a_failing_read() -> None:
    reads = iter([RuntimeError("the log is away")])

    def read() -> Gauges:
        error = next(reads, None)
        if error is not None:
            raise error
        return Gauges(None, 0, "v000001")

    history = History(interval_s=0.01)
    history.start(read)
    deadline = time.monotonic() + 5
    while not history.samples() and time.monotonic() < deadline:
        time.sleep(0.01)
    history.stop()
    assert history.samples() and history.samples()[0].gauges.version == "v000001"


@pytest.mark.parametrize(
    "arguments", [{"capacity": 0}, {"reservoir": 0}, {"interval_s": 0.0}], ids=str
)
def test_the_history_refuses_empty_bounds(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        History(**arguments)  # type: ignore[arg-type]
