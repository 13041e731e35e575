"""Data-parallel training: 2 CPU processes under torchrun (gloo) match one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.models.ddp_worker import fit_scores

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["neumf", "sasrec"])
def test_two_processes_train_like_one(name, tmp_path):
    out = tmp_path / "scores.npy"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", str(WORKER), name, str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world size 2" in done.stdout
    for rank in (0, 1):  # the group and its threads are gone before interpreter shutdown
        assert f"rank {rank}: 0 gloo threads left" in done.stdout, done.stdout[-3000:]
    alone = fit_scores(name)
    np.testing.assert_allclose(np.load(out), alone, rtol=1e-4, atol=1e-5)
