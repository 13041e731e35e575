"""Fit a small model in every process of a ``torchrun`` group; rank 0 saves the scores.

Run by tests/models/test_distributed.py as
``torchrun --standalone --nproc_per_node=N ddp_worker.py MODEL OUT``. After the group's
block every process prints how many gloo threads it still runs (none are left once the
group is really destroyed; survivors are torn down at interpreter exit and may abort it).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch


def fit_scores(name: str) -> np.ndarray:
    """Scores of every user for every item after a small seeded fit of model ``name``."""
    from freshrec.checks import checkerboard_events
    from freshrec.models.neumf import NeuMF
    from freshrec.models.sasrec import SASRec

    torch.set_num_threads(1)
    if name == "neumf":
        model = NeuMF(n_factors=8, hidden=(16,), n_epochs=5, lr=0.01, batch_size=32)
    else:
        model = SASRec(dim=8, max_len=6, dropout=0.0, n_epochs=5, lr=0.01, batch_size=8)
    model.set_params(threshold=3.0).fit(checkerboard_events())
    users = model.user_map_.encode(np.array([f"u{u}" for u in range(24)], dtype=object))
    items = model.item_map_.encode(np.array([f"i{i}" for i in range(16)], dtype=object))
    return model.score_batch(users, items)


def gloo_threads() -> int:
    """How many of this process's OS threads are gloo's (``/proc``, so Linux only)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as comm:
            names.append(comm.read().strip())
    return sum("gloo" in name for name in names)


def main() -> None:
    from freshrec.models.torch.distributed import distributed

    name, out = sys.argv[1], sys.argv[2]
    with distributed() as (rank, size):
        scores = fit_scores(name)
        if rank == 0:
            np.save(out, scores)
            print(f"world size {size}")
    print(f"rank {rank}: {gloo_threads()} gloo threads left", flush=True)


if __name__ == "__main__":
    main()
