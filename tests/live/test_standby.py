"""Active and standby learners on Redis Streams: the active one is killed while it holds
pending entries; the standby takes over, learns every event exactly once, leaves nothing
pending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest

from freshrec.live.checkpoints import CheckpointStore
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.live.standby import LeaseLost, StreamGroup, run_active_or_standby
from freshrec.log import open_log
from freshrec.models import BPR
from freshrec.update.strategies import Streaming
from tests.live.conftest import SETTINGS, scores
from tests.log.conftest import REDIS_URL, redis_client

SETTINGS_500 = {**SETTINGS, "checkpoint_every": 500}
_WORKER = """
import sys
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.live.standby import StreamGroup, run_active_or_standby
from freshrec.log import open_log
from freshrec.models import BPR
url, registry, consumer = sys.argv[1:4]
log = open_log(url)
group = StreamGroup(log, "bpr", consumer=consumer, lease_ms=3000)

def make():
    print("active", flush=True)
    return Learner(log, Registry(registry), BPR(seed=0), checkpoint_every=500,
                   micro_batch=100, candidate_every=2000, guard_events=500)

run_active_or_standby(make, group, on_status=lambda s: print(s.position, flush=True))
print("done", flush=True)
"""


@pytest.fixture
def redis_log_url():
    client = redis_client()
    prefix = f"freshrec-test:{uuid.uuid4().hex}"
    yield f"{REDIS_URL}?prefix={prefix}"
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def _worker(url, registry, consumer):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, url, str(registry), consumer],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_standby_takes_over_a_killed_active_learner(tmp_path, stream, redis_log_url):
    clean_log = open_log(f"sqlite:///{tmp_path / 'clean.db'}")
    clean_log.append(stream)
    clean = Learner(
        clean_log, Registry(tmp_path / "clean"), BPR(seed=0), checkpoint_every=500, **SETTINGS
    )
    clean.run()
    log = open_log(redis_log_url)
    for start in range(0, len(stream), 100):  # one stream entry per 100 events
        log.append(stream[start : start + 100])
    group = StreamGroup(log, "bpr", consumer="observer")
    active = _worker(redis_log_url, tmp_path / "registry", "learner-a")
    assert active.stdout is not None and active.stdout.readline().strip() == "active"
    standby = _worker(redis_log_url, tmp_path / "registry", "learner-b")
    for _ in range(23):  # 2,300 events learned, 2,000 checkpointed: entries still pending
        active.stdout.readline()
    held = group.pending()
    active.send_signal(signal.SIGKILL)
    assert active.wait() == -signal.SIGKILL
    assert held > 0
    out, _ = standby.communicate(timeout=120)
    assert standby.returncode == 0
    lines = out.split()
    assert lines[0] == "active" and lines[-1] == "done"
    assert group.pending() == 0
    registry = Registry(tmp_path / "registry")
    learner = Learner(log, registry, BPR(seed=0), checkpoint_every=500, **SETTINGS)
    assert learner.status().position == len(stream)  # loaded from the final checkpoint
    np.testing.assert_allclose(scores(learner.model), scores(clean.model), atol=1e-6)
    consumers = {
        c["name"]: c["pending"] for c in group.db.xinfo_consumers(group.stream, group.group)
    }
    assert consumers.get(b"learner-a", 0) == 0 and consumers.get(b"learner-b", 0) == 0


def test_a_learner_whose_lease_ran_out_during_a_step_writes_nothing_more(
    tmp_path, stream, redis_log_url
):
    """The lease expires while the step ending at event 500 learns and another learner takes
    it; the checkpoint due at 500 is then not written: the write renews the lease first."""
    log = open_log(redis_log_url)
    log.append(stream[:1000])
    group = StreamGroup(log, "bpr", consumer="learner-a", lease_ms=60_000)
    other = StreamGroup(log, "bpr", consumer="learner-b", lease_ms=60_000)

    class TakenOverInTheFifthStep(Streaming):
        steps = 0

        def step(self, model, events):
            super().step(model, events)
            self.steps += 1
            if self.steps == 5:
                group.db.delete(group.lease_key)  # as if it had expired
                assert other.acquire()

    registry = Registry(tmp_path / "registry")
    strategy = TakenOverInTheFifthStep(micro_batch=100, epochs=None)
    with pytest.raises(LeaseLost):
        run_active_or_standby(
            lambda: Learner(log, registry, BPR(seed=0), strategy=strategy, **SETTINGS_500),
            group,
        )
    assert strategy.steps == 5
    assert CheckpointStore(registry.path / "checkpoints").names() == []
    assert other.renew()  # still learner-b's: the loser's release left it alone


class SlowStep(Streaming):
    """Streaming whose second step also runs ``pause(group)`` (a long or a hung step)."""

    def __init__(self, pause):
        super().__init__(micro_batch=100, epochs=None)
        self.pause, self.steps = pause, 0

    def step(self, model, events):
        super().step(model, events)
        self.steps += 1
        if self.steps == 2:
            self.pause()


def test_a_step_longer_than_the_lease_keeps_it(tmp_path, stream, redis_log_url):
    log = open_log(redis_log_url)
    log.append(stream[:1000])
    group = StreamGroup(log, "bpr", consumer="learner-a", lease_ms=1000)
    strategy = SlowStep(lambda: time.sleep(3.0))
    registry = Registry(tmp_path / "registry")
    status = run_active_or_standby(
        lambda: Learner(log, registry, BPR(seed=0), strategy=strategy, **SETTINGS_500), group
    )
    assert status.position == 1000 and strategy.steps == 10


def test_a_hung_learner_stops_renewing_and_a_standby_takes_the_lease(
    tmp_path, stream, redis_log_url
):
    log = open_log(redis_log_url)
    log.append(stream[:1000])
    group = StreamGroup(log, "bpr", consumer="learner-a", lease_ms=1000)
    other = StreamGroup(log, "bpr", consumer="learner-b", lease_ms=1000)
    waited = []

    def hang_until_taken_over():
        began = time.monotonic()
        while not other.acquire():
            assert time.monotonic() - began < 30, "the hung learner kept its lease"
            time.sleep(0.05)
        waited.append(time.monotonic() - began)

    registry = Registry(tmp_path / "registry")
    strategy = SlowStep(hang_until_taken_over)
    with pytest.raises(LeaseLost):
        run_active_or_standby(
            lambda: Learner(log, registry, BPR(seed=0), strategy=strategy, **SETTINGS_500),
            group,
            stall_ms=1500,
        )
    assert waited[0] >= 1.5  # not before stall_ms without progress
    assert strategy.steps == 2 and CheckpointStore(registry.path / "checkpoints").names() == []


def test_waiting_at_the_head_longer_than_stall_ms_is_not_hung(tmp_path, stream, redis_log_url):
    """A following learner idle at the head of the log keeps its lease: the next events,
    appended after three stall periods, are learned by the same learner."""
    log = open_log(redis_log_url)
    log.append(stream[:500])
    group = StreamGroup(log, "bpr", consumer="learner-a", lease_ms=500)
    later = threading.Timer(3.0, lambda: log.append(stream[500:1000]))
    later.start()
    registry = Registry(tmp_path / "registry")
    try:
        status = run_active_or_standby(
            lambda: Learner(log, registry, BPR(seed=0), **SETTINGS_500),
            group,
            follow=True,
            until=1000,
            stall_ms=1000,
        )
    finally:
        later.join()
    assert status.position == 1000
