"""The model registry: labels move atomically, versions load whole, the journal survives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freshrec.checks import checkerboard_events
from freshrec.live.registry import Registry, RegistryError
from freshrec.models import BPR, MostPopular


@pytest.fixture(scope="module")
def events():
    return checkerboard_events()


@pytest.fixture(scope="module")
def popular(events):
    return MostPopular().fit(events)


@pytest.fixture
def registry(tmp_path):
    return Registry(tmp_path / "registry")


def test_publish_puts_the_candidate_label(registry, popular):
    version = registry.publish(popular)
    assert version == "v000001"
    assert registry.labels() == {"stable": None, "candidate": "v000001", "previous": None}
    [info] = registry.versions()
    assert info.version == "v000001" and info.labels == ("candidate",)
    assert info.n_events == popular.n_events_
    assert [r["action"] for r in registry.journal()] == ["publish"]


def test_promote_moves_stable_to_previous_and_clears_the_candidate(registry, popular):
    first = registry.publish(popular)
    assert registry.promote() == first
    assert registry.labels() == {"stable": first, "candidate": None, "previous": None}
    second = registry.publish(popular)
    assert registry.promote(reason="better") == second
    assert registry.labels() == {"stable": second, "candidate": None, "previous": first}
    promoted = [r for r in registry.journal() if r["action"] == "promote"]
    assert [(r["version"], r["reason"]) for r in promoted] == [(first, ""), (second, "better")]


def test_rollback_restores_previous_once(registry, popular):
    first = registry.publish(popular)
    registry.promote()
    second = registry.publish(popular)
    registry.promote()
    assert registry.rollback(reason="alarm") == first
    assert registry.labels() == {"stable": first, "candidate": None, "previous": None}
    record = registry.journal()[-1]
    assert record["action"] == "rollback" and record["rolled_back"] == second
    assert record["reason"] == "alarm"
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()
    assert registry.labels()["stable"] == first


def test_reject_records_the_reason_and_clears_the_candidate(registry, popular):
    stable = registry.publish(popular)
    registry.promote()
    candidate = registry.publish(popular)
    assert registry.reject(reason="ndcg dropped 12%", metrics={"ndcg@10": 0.1}) == candidate
    assert registry.labels() == {"stable": stable, "candidate": None, "previous": None}
    record = registry.journal()[-1]
    assert record["action"] == "reject" and record["version"] == candidate
    assert record["reason"] == "ndcg dropped 12%"
    info = next(v for v in registry.versions() if v.version == candidate)
    assert info.labels == () and info.metrics == {"ndcg@10": 0.1}


def test_promoting_an_unknown_version_names_it(registry, popular):
    registry.publish(popular)
    with pytest.raises(RegistryError, match="v000042"):
        registry.promote("v000042")
    with pytest.raises(RegistryError, match="no-such-thing"):
        registry.promote("no-such-thing")
    with pytest.raises(RegistryError, match="previous"):
        registry.promote("previous")  # a label on nothing
    assert registry.labels()["stable"] is None


def test_a_loaded_version_scores_like_the_published_model(registry, events):
    model = BPR(n_factors=4, n_epochs=2, seed=0).fit(events)
    version = registry.publish(model)
    registry.promote()
    items = sorted(set(events.item.tolist()))
    for loaded in (registry.load(version), registry.load("stable")):
        assert type(loaded) is BPR
        for user in ("u0", "u20", "never-seen"):
            assert np.allclose(loaded.score(user, items), model.score(user, items))
        users = np.arange(model.n_users)
        assert np.allclose(loaded.score_batch(users), model.score_batch(users))


def test_retention_keeps_labelled_and_latest_versions(tmp_path, popular):
    registry = Registry(tmp_path / "registry", keep=2)
    first = registry.publish(popular, label="stable")
    for _ in range(4):
        registry.publish(popular)
    assert registry.labels()["stable"] == first
    names = [v.version for v in registry.versions()]
    assert names == [first, "v000004", "v000005"]
    folders = sorted(p.name for p in (registry.path / "versions").iterdir())
    assert folders == names
    retired = [r["version"] for r in registry.journal() if r["action"] == "retire"]
    assert retired == ["v000002", "v000003"]
    assert type(registry.load("stable")) is MostPopular


def test_retention_leaves_folders_it_did_not_write(tmp_path, popular):
    registry = Registry(tmp_path / "registry", keep=1)
    mine = registry.path / "versions" / "notes"
    mine.mkdir()
    for _ in range(3):
        registry.publish(popular)
    assert mine.is_dir()


def test_the_journal_skips_a_torn_last_line(registry, popular):
    registry.publish(popular)
    with open(registry.path / "journal.jsonl", "a", encoding="utf-8") as f:
        f.write('{"action": "promote", "time": 17')  # a writer killed mid-line
    assert [r["action"] for r in registry.journal()] == ["publish"]
    registry.promote(reason="after the crash")
    actions = [(r["action"], r.get("reason")) for r in registry.journal()]
    assert actions == [("publish", None), ("promote", "after the crash")]


def _flip_a_byte(folder):
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate_state(folder):
    path = folder / "state.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete_manifest(folder):
    (folder / "manifest.json").unlink()


@pytest.mark.parametrize("corrupt", [_flip_a_byte, _truncate_state, _delete_manifest])
def test_latest_skips_a_corrupt_newest_version(registry, events, corrupt):
    older = MostPopular().fit(events)
    newer = MostPopular().fit(checkerboard_events(seed=1))
    first = registry.publish(older)
    second = registry.publish(newer)
    assert registry.latest()[0] == second
    corrupt(registry.path / "versions" / second)
    version, model = registry.latest()
    assert version == first
    items = sorted(set(events.item.tolist()))
    assert np.allclose(model.score("u0", items), older.score("u0", items))


def test_latest_is_none_when_nothing_loads(registry, popular):
    assert registry.latest() is None
    version = registry.publish(popular)
    _flip_a_byte(registry.path / "versions" / version)
    assert registry.latest() is None


def test_a_torn_publish_is_not_listed(registry, popular):
    first = registry.publish(popular)
    torn = registry.path / "versions" / "v000002"
    popular.save(torn)
    (torn / "manifest.json").unlink()
    assert [v.version for v in registry.versions()] == [first]
    assert registry.latest()[0] == first


def test_two_registries_on_one_folder_see_each_others_moves(tmp_path, popular):
    one, two = Registry(tmp_path / "registry"), Registry(tmp_path / "registry")
    first = one.publish(popular)
    assert two.labels()["candidate"] == first
    two.promote()
    assert one.labels() == {"stable": first, "candidate": None, "previous": None}
    second = one.publish(popular)
    assert second == "v000002"  # the counter is shared, not per object
    two.promote()
    one.rollback()
    assert two.labels()["stable"] == first
    assert [v.version for v in two.versions()] == [first, second]
    assert [r["action"] for r in two.journal()] == [
        "publish",
        "promote",
        "publish",
        "promote",
        "rollback",
    ]


def test_journal_lines_are_json(registry, popular):
    registry.publish(popular, metrics={"ndcg@10": 0.25})
    lines = (registry.path / "journal.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert record["metrics"] == {"ndcg@10": 0.25} and record["version"] == "v000001"
    assert registry.versions()[0].metrics == {"ndcg@10": 0.25}


def test_a_torn_version_cannot_be_labelled(registry, popular):
    first = registry.publish(popular)
    registry.promote()
    torn = registry.path / "versions" / "v000002"
    popular.save(torn)
    (torn / "manifest.json").unlink()
    with pytest.raises(RegistryError, match="v000002"):
        registry.promote("v000002")
    assert registry.labels()["stable"] == first
