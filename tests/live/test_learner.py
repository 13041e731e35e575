"""The learner: exactly once across crashes and resends, checkpoints, guarded publishing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from freshrec.data.batch import EventBatch
from freshrec.live.guard import Guard
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.log import open_log
from freshrec.models import BPR, BiasedMF
from tests.live.conftest import SETTINGS, scores


class Crash(Exception):
    """Stands for the process dying between two micro-batches."""


def _sqlite_log(tmp_path: Path, stream: EventBatch, name: str = "log.db"):
    log = open_log(f"sqlite:///{tmp_path / name}")
    log.append(stream)
    return log


def _uninterrupted(tmp_path, stream, model_cls, **settings):
    log = _sqlite_log(tmp_path, stream, "clean.db")
    registry = Registry(tmp_path / "clean")
    learner = Learner(log, registry, model_cls(seed=0), checkpoint_every=500, **settings)
    learner.run()
    return learner.model, registry


@pytest.mark.parametrize("model_cls", [BPR, BiasedMF])
def test_a_learner_that_crashes_and_restarts_learns_every_event_exactly_once(
    tmp_path, stream, model_cls
):
    clean, clean_registry = _uninterrupted(tmp_path, stream, model_cls, **SETTINGS)
    log = _sqlite_log(tmp_path, stream)
    registry = Registry(tmp_path / "crashy")
    crash_after = iter(np.random.default_rng(7).integers(1, 12, size=8).tolist())
    restarts = 0
    while True:
        learner = Learner(log, registry, model_cls(seed=0), checkpoint_every=500, **SETTINGS)
        budget = next(crash_after, None)

        def crash(_status, left=[budget]):  # noqa: B006 - a counter shared by the calls
            if left[0] is not None:
                left[0] -= 1
                if left[0] == 0:
                    raise Crash

        try:
            learner.run(on_status=crash)
            break
        except Crash:
            restarts += 1
    assert restarts == 8
    assert learner.model.cursor_ == clean.cursor_ == str(log.head())
    assert learner.model.n_events_ == clean.n_events_ == len(stream)
    np.testing.assert_allclose(scores(learner.model), scores(clean), atol=1e-6)
    assert [(v.version, v.cursor) for v in registry.versions()] == [
        (v.version, v.cursor) for v in clean_registry.versions()
    ]
    assert registry.labels() == clean_registry.labels()


def test_resent_events_leave_the_model_as_single_delivery_does(tmp_path, stream):
    clean, _ = _uninterrupted(tmp_path, stream, BPR, **SETTINGS)
    log = open_log(f"sqlite:///{tmp_path / 'resent.db'}")
    sends = np.random.default_rng(3).integers(2, 4, size=len(stream) // 250)  # 2 or 3 each
    duplicates = 0
    for start, times in zip(range(0, len(stream), 250), sends, strict=True):
        for _ in range(times):
            duplicates += log.append(stream[start : start + 250]).duplicate
    assert duplicates == int(((sends - 1) * 250).sum()) and len(log) == len(stream)
    learner = Learner(
        log, Registry(tmp_path / "resent"), BPR(seed=0), checkpoint_every=500, **SETTINGS
    )
    learner.run()
    np.testing.assert_allclose(scores(learner.model), scores(clean), atol=1e-6)


def test_a_corrupt_checkpoint_is_skipped_for_the_previous_one(tmp_path, stream):
    clean, _ = _uninterrupted(tmp_path, stream, BPR, **SETTINGS)
    log = _sqlite_log(tmp_path, stream)
    registry = Registry(tmp_path / "torn")
    Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS).run(max_events=3000)
    newest = sorted((registry.path / "checkpoints").iterdir())[-1]
    data = bytearray((newest / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (newest / "model.safetensors").write_bytes(bytes(data))
    learner = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS)
    assert len(learner.corrupt_checkpoints) == 1 and newest.name in learner.corrupt_checkpoints[0]
    assert learner.status().position == 2500
    learner.run()
    np.testing.assert_allclose(scores(learner.model), scores(clean), atol=1e-6)


def test_candidates_are_promoted_or_rejected_with_their_reason(tmp_path, stream):
    log = _sqlite_log(tmp_path, stream)
    registry = Registry(tmp_path / "strict")
    strict = Guard(max_churn=0.0)  # any change of a top-10 list is too much
    status = Learner(
        log, registry, BPR(seed=0), guard=strict, checkpoint_every=500, **SETTINGS
    ).run()
    assert status.promoted == 1 and status.rejected == 1  # the first goes through unchecked
    rejections = [r for r in registry.journal() if r["action"] == "reject"]
    assert (
        rejections[0]["reason"].startswith("churn@10") and rejections[0]["metrics"]["churn@10"] > 0
    )
    assert registry.labels()["stable"] == "v000001"
    assert registry.labels()["candidate"] == "v000003"  # published at the head, not checked yet


def test_a_model_fitted_off_the_log_is_refused(tmp_path, stream):
    log = _sqlite_log(tmp_path, stream)
    with pytest.raises(ValueError, match="has no log cursor"):
        Learner(log, Registry(tmp_path / "r"), BPR(seed=0).fit(stream[:100]))


_WORKER = """
import sys
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.log import open_log
from freshrec.models import BPR
log = open_log(sys.argv[1])
learner = Learner(log, Registry(sys.argv[2]), BPR(seed=0), checkpoint_every=500,
                  micro_batch=100, candidate_every=2000, guard_events=500)
print("started", learner.status().position, flush=True)
learner.run(on_status=lambda status: print(status.position, flush=True))
"""


def test_kill_9_at_random_points_loses_and_repeats_nothing(tmp_path, stream):
    clean, _ = _uninterrupted(tmp_path, stream, BPR, **SETTINGS)
    log = _sqlite_log(tmp_path, stream)
    registry_dir = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    url = f"sqlite:///{tmp_path / 'log.db'}"
    starts = []
    for batches in np.random.default_rng(11).integers(6, 20, size=3):
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(registry_dir)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        starts.append(int(worker.stdout.readline().split()[1]))
        for _ in range(int(batches)):  # let it learn that many micro-batches, then kill it
            worker.stdout.readline()
        worker.send_signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL
    assert starts[0] == 0 and starts[1] > 0 and starts[2] > starts[1]  # each resumed
    learner = Learner(log, Registry(registry_dir), BPR(seed=0), checkpoint_every=500, **SETTINGS)
    learner.run()
    assert learner.model.cursor_ == clean.cursor_
    np.testing.assert_allclose(scores(learner.model), scores(clean), atol=1e-6)


def test_the_per_user_cap_passes_over_a_burst_and_a_restart_caps_the_same_events(tmp_path, stream):
    burst = EventBatch(
        np.repeat(np.array([f"bot{i}" for i in range(5)], dtype=object), 60),
        np.full(300, stream.item[0]),
        np.ones(300),
        timestamp=np.full(300, stream.timestamp[2999]),
        event_id=np.arange(10_000, 10_300),
    )
    poisoned = EventBatch.concat([stream[:3000], burst, stream[3000:]])
    only_the_cap = Guard(max_user_events=20, max_item_share_rise=1.0)  # no quarantine here
    settings = dict(SETTINGS, guard=only_the_cap, checkpoint_every=500)
    log = open_log(f"sqlite:///{tmp_path / 'burst.db'}")
    log.append(poisoned)
    whole = Learner(log, Registry(tmp_path / "whole"), BPR(seed=0), **settings)
    status = whole.run()
    bots = poisoned.take(np.char.startswith(poisoned.user.astype(str), "bot"))
    assert status.capped >= 5 * (60 - 20)  # every bot learned at most 20 of its 60 events
    assert whole.model.n_events_ == len(poisoned) - status.capped
    assert len(bots) == 300
    crashed = Learner(log, Registry(tmp_path / "crashed"), BPR(seed=0), **settings)

    def crash(status, left=[34]):  # noqa: B006 - inside the burst's window
        left[0] -= 1
        if left[0] == 0:
            raise Crash

    with pytest.raises(Crash):
        crashed.run(on_status=crash)
    resumed = Learner(log, Registry(tmp_path / "crashed"), BPR(seed=0), **settings)
    resumed.run()
    assert resumed.model.n_events_ == whole.model.n_events_
    np.testing.assert_allclose(scores(resumed.model), scores(whole.model), atol=1e-6)


def test_a_promoted_version_that_does_worse_live_is_rolled_back(tmp_path, stream):
    log = _sqlite_log(tmp_path, stream)
    registry = Registry(tmp_path / "live")
    good = BPR(seed=0).fit(stream[:1500])
    registry.publish(good)
    registry.promote(reason="trained offline")
    broken = BPR(seed=0).fit(stream[:1500])
    broken.item_factors_ = -broken.item_factors_  # ranks every user's favourites last
    broken.item_bias_ = -broken.item_bias_
    registry.publish(broken)
    registry.promote(reason="a bad push")
    assert registry.labels()["stable"] == "v000002"
    status = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS).run()
    assert status.rolled_back == 1
    rollbacks = [r for r in registry.journal() if r["action"] == "rollback"]
    assert rollbacks[0]["rolled_back"] == "v000002" and rollbacks[0]["version"] == "v000001"
    assert rollbacks[0]["reason"].startswith("live metric fell: ")
    assert "hits lost" in rollbacks[0]["reason"]
    assert registry.labels()["stable"] != "v000002"


def test_a_candidate_checked_on_the_whole_next_window_is_checked_before_the_next_one(
    tmp_path, stream
):
    log = _sqlite_log(tmp_path, stream)
    registry = Registry(tmp_path / "windows")
    settings = dict(SETTINGS, guard_events=SETTINGS["candidate_every"])
    status = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **settings).run()
    decided = [r["version"] for r in registry.journal() if r["action"] in ("promote", "reject")]
    assert decided == ["v000001", "v000002"]  # v000003, at the head, waits for its window
    assert status.promoted + status.rejected == 2


def _with_a_burst(stream: EventBatch, at: int = 3000) -> EventBatch:
    """``stream`` with 5 new accounts pushing one item, 60 events each, after event ``at``
    (an item outside most top-10 lists before the burst, so that the push shows)."""
    burst = EventBatch(
        np.repeat(np.array([f"bot{i}" for i in range(5)], dtype=object), 60),
        np.full(300, stream.item[0]),
        np.ones(300),
        timestamp=np.full(300, stream.timestamp[at - 1]),
        event_id=np.arange(10_000, 10_300),
    )
    return EventBatch.concat([stream[:at], burst, stream[at:]])


def test_accounts_that_push_an_item_are_quarantined_and_the_learner_goes_back(tmp_path, stream):
    log = open_log(f"sqlite:///{tmp_path / 'pushed.db'}")
    log.append(_with_a_burst(stream))
    registry = Registry(tmp_path / "pushed")
    learner = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS)
    learner.run()
    rejection = next(r for r in registry.journal() if r.get("quarantined"))
    assert sorted(rejection["quarantined"]) == [f"bot{i}" for i in range(5)]
    assert "accounts whose events since then are mostly on it" in rejection["reason"]
    assert registry.quarantined() == rejection["quarantined"]
    assert not any(f"bot{i}" in learner.model.user_map_ for i in range(5))  # set aside
    stable = registry.load("stable")
    assert not any(f"bot{i}" in stable.user_map_ for i in range(5))
    assert learner.status().position == len(stream) + 300


def test_a_learner_killed_around_a_quarantine_ends_as_one_that_was_not(tmp_path, stream):
    poisoned = _with_a_burst(stream)
    clean_log = open_log(f"sqlite:///{tmp_path / 'a.db'}")
    clean_log.append(poisoned)
    whole = Learner(
        clean_log, Registry(tmp_path / "a"), BPR(seed=0), checkpoint_every=500, **SETTINGS
    )
    whole.run()
    log = open_log(f"sqlite:///{tmp_path / 'b.db'}")
    log.append(poisoned)
    registry = Registry(tmp_path / "b")
    for crash_after in (43, 3, 5):  # the first one falls just after the rejection at 4,500
        learner = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS)

        def crash(_status, left=[crash_after]):  # noqa: B006 - a counter shared by the calls
            left[0] -= 1
            if left[0] == 0:
                raise Crash

        with pytest.raises(Crash):
            learner.run(on_status=crash)
    learner = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS)
    learner.run()
    np.testing.assert_allclose(scores(learner.model), scores(whole.model), atol=1e-6)
    assert registry.quarantined() == Registry(tmp_path / "a").quarantined()
