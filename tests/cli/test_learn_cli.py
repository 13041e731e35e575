"""`freshrec learn`: learn from a log, resume from the checkpoint, publish to the registry."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.checks import checkerboard_events
from freshrec.cli.main import main
from freshrec.data.batch import EventBatch, as_batch
from freshrec.live.registry import Registry
from freshrec.log import open_log
from tests.live.exploring_world import N_ROUNDS, exploring_world

SETTINGS = ["--micro-batch", "32", "--checkpoint-every", "64", "--candidate-every", "64"]


def _learn(capsys, url, registry, *extra):
    code = main(
        ["learn", "--log", url, "--registry", str(registry), "--model", "bpr"]
        + SETTINGS
        + ["--guard-events", "32", *extra]
    )
    return code, " ".join(capsys.readouterr().out.split())


def test_learn_publishes_versions_and_resumes_where_it_stopped(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'events.db'}"
    events = as_batch(checkerboard_events())
    log = open_log(url)
    log.append(EventBatch(events.user, events.item, events.value, event_id=np.arange(192)))
    code, out = _learn(capsys, url, tmp_path / "registry", "--max-events", "128")
    assert code == 0 and "learned up to event 128 of 192" in out
    code, out = _learn(capsys, url, tmp_path / "registry")
    assert code == 0 and "learned up to event 192 of 192" in out
    registry = Registry(tmp_path / "registry")
    assert [v.cursor for v in registry.versions()] == [str(c) for c in (64, 128, 192)]
    assert registry.labels()["stable"] is not None
    assert f"stable {registry.labels()['stable']}" in out


def test_learn_names_an_unknown_model(tmp_path, capsys):
    code = main(
        ["learn", "--log", "memory://", "--registry", str(tmp_path / "r"), "--model", "nope"]
    )
    assert code == 2 and "unknown model 'nope'" in capsys.readouterr().out


def test_learn_with_a_consumer_name_holds_the_lease_while_it_learns(tmp_path, capsys):
    import uuid

    from freshrec.live.standby import StreamGroup
    from tests.log.conftest import REDIS_URL, redis_client

    client = redis_client()
    prefix = f"freshrec-test:{uuid.uuid4().hex}"
    url = f"{REDIS_URL}?prefix={prefix}"
    try:
        events = as_batch(checkerboard_events())
        log = open_log(url)
        log.append(EventBatch(events.user, events.item, events.value, event_id=np.arange(192)))
        code, out = _learn(capsys, url, tmp_path / "registry", "--consumer", "a")
        assert code == 0 and "learned up to event 192 of 192" in out
        other = StreamGroup(open_log(url), "bpr", consumer="b", lease_ms=1000)
        assert other.pending() == 0  # every entry acknowledged by a checkpoint
        assert other.acquire()  # the lease was given up at the end
        other.release()
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_learn_says_when_the_strategy_does_not_apply_to_the_model(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'events.db'}"
    code = main(
        ["learn", "--log", url, "--registry", str(tmp_path / "r"), "--model", "popular"]
        + ["--strategy", "finetune-replay"]
    )
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2 and "does not apply to MostPopular" in out and "Rehearses" in out


@pytest.mark.parametrize("ope", ["--ope", "--no-ope"])
def test_learn_values_candidates_on_the_decisions_logged_beside_the_log(
    tmp_path, capsys, monkeypatch, ope
):
    """A separate learner (as beside `freshrec serve --no-learn`) applies the service's
    off-policy gate: it reads the exploring decisions from the decision log beside the event
    log and holds back a candidate whose policy is worth less (the world of
    tests/live/test_ope_gate.py: six items explored at temperature 1 with a floor of 0.1)."""
    monkeypatch.setenv("FRESHREC_EXPLORE_POOL", "6")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    log, decisions = exploring_world("b", url)
    log.close()
    decisions.close()
    code = main(
        ["learn", "--log", url, "--registry", str(tmp_path / "registry"), "--model", "popular"]
        + ["--micro-batch", "50", "--candidate-every", "200", "--guard-events", "200"]
        + ["--explore-temperature", "1", "--explore-floor", "0.1", ope]
    )
    assert code == 0, capsys.readouterr().out
    journal = Registry(tmp_path / "registry").journal()
    [check] = [r for r in journal if r["version"] == "v000002" and r["action"] != "publish"]
    if ope == "--no-ope":
        assert "ope_rounds" not in check["metrics"]
        return
    metrics = check["metrics"]
    assert metrics["ope_rounds"] == N_ROUNDS
    assert metrics["stable_dr"] - metrics["candidate_dr"] > 5 * metrics["ope_difference_se"]
    assert check["action"] == "reject" and "off-policy value" in check["reason"]
