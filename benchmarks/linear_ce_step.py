"""One SASRec training step with torch's cross-entropy against freshrec's linear_cross_entropy.

Usage::

    python benchmarks/linear_ce_step.py [--steps 5] [--threads 2] [--out FILE]

The step: the SASRec module of the ML-1M runs (3,416 items, 50 dimensions, 2 blocks, 1 head,
dropout 0.2) on 128 random sequences of 200 items, full-softmax cross-entropy at every
position, backward and an Adam step. ``torch``: ``F.cross_entropy(h @ W.T, y)``; ``fused``:
``freshrec.models.torch.losses.linear_cross_entropy(h, W, y)``. Two warm-up steps, then ``--steps``
timed steps per variant, the variants interleaved over two rounds; the median seconds per step
and the ratio torch / fused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "linear_ce_step.json"
N_ITEMS, BATCH, LENGTH = 3416, 128, 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    from freshrec.threads import pin_threads

    pin_threads(args.threads)
    import torch
    import torch.nn.functional as F

    from freshrec.jobs.report import machine_summary
    from freshrec.models.sasrec import SASRecModule
    from freshrec.models.torch.losses import linear_cross_entropy
    from freshrec.persist import atomic_write_text

    generator = torch.Generator().manual_seed(0)
    inputs = torch.randint(1, N_ITEMS + 1, (BATCH, LENGTH), generator=generator)
    targets = torch.randint(0, N_ITEMS, (BATCH * LENGTH,), generator=generator)

    def step_seconds(fused: bool, n: int) -> list[float]:
        module = SASRecModule(N_ITEMS, LENGTH, 50, 2, 1, 50, 0.2, seed=0)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
        times = []
        for index in range(n + 2):
            start = time.perf_counter()
            hidden = module(inputs).reshape(-1, 50)
            table = module.item_embedding.weight[1:]
            if fused:
                loss = linear_cross_entropy(hidden, table, targets)
            else:
                loss = F.cross_entropy(hidden @ table.T, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if index >= 2:
                times.append(time.perf_counter() - start)
        return times

    seconds: dict[str, list[float]] = {"torch": [], "fused": []}
    for _ in range(2):
        for name in seconds:
            seconds[name] += step_seconds(name == "fused", args.steps)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    report = {
        "command": "python benchmarks/linear_ce_step.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_summary() + f", {args.threads} thread(s)",
        "date": time.strftime("%Y-%m-%d"),
        "median_s_per_step": medians,
        "ratio_torch_over_fused": medians["torch"] / medians["fused"],
        "seconds": seconds,
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "seconds"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
