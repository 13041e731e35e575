"""Active and standby learners on Redis Streams: the active one is killed while it holds
pending entries; the standby takes over, learns every event exactly once, leaves nothing
pending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import numpy as np
import pytest

from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.live.standby import StreamGroup
from freshrec.log import open_log
from freshrec.models import BPR
from tests.live.conftest import SETTINGS, scores
from tests.log.conftest import REDIS_URL, redis_client

_WORKER = """
import sys
from freshrec.live.learner import Learner
from freshrec.live.registry import Registry
from freshrec.live.standby import StreamGroup, run_active_or_standby
from freshrec.log import open_log
from freshrec.models import BPR
url, registry, consumer = sys.argv[1:4]
log = open_log(url)
group = StreamGroup(log, "bpr", consumer=consumer, lease_ms=800)

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
