"""Single-event learning: freshrec's BiasedMF one event at a time against river's ``learn_one``.

Usage::

    python benchmarks/single_event_learning.py [--seeds 0,1,2] [--data-dir DIR] [--out FILE]

What a live learner with micro-batches of one calls, per event, on every rating of ML-100K in
timestamp order (ties in file order), with river's ML-100K settings on both sides (10 factors,
bias SGD 0.025, latent SGD 0.05, latents N(0, 0.1), no L2):

- river (the version installed with freshrec): ``reco.BiasedMF.learn_one(user, item, y)``;
- freshrec ``learn_one``: ``BiasedMF.learn_one(user, item, value)`` (the ``LearnsOne``
  capability);
- freshrec ``partial_fit``: ``BiasedMF.partial_fit([Event(user, item, value)])``.

Learning only (no prediction): each loop is timed alone, wall clock, after a warm-up of 1,000
events on a throw-away model (numba compilation), in the order river, learn_one, partial_fit
for each seed. Threads are pinned to 1 (OMP/MKL/OPENBLAS/NUMBA variables set before numpy
loads). The figure per method is the median over seeds; ratios are to river in the same run.
Also checked: ``learn_one`` ends with exactly the parameters of ``partial_fit([event])``.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "single_event_learning.json"
SETTINGS = dict(n_factors=10, lr=0.05, bias_lr=0.025, l2=0.0, l2_latent=0.0, init_std=0.1)


def ratings(data_dir: Path) -> tuple[list[Any], list[Any], list[float]]:
    """Every ML-100K rating in timestamp order (ties in file order), as Python lists."""
    from freshrec.data.registry import load_dataset

    events = load_dataset("ml-100k", data_dir).events
    order = np.argsort(events.timestamp, kind="stable")
    return (
        events.user[order].tolist(),
        events.item[order].tolist(),
        events.value[order].astype(float).tolist(),
    )


def river_model(seed: int) -> Any:
    from river import optim, reco

    return reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        weight_initializer=optim.initializers.Zeros(),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
    )


def freshrec_model(seed: int) -> Any:
    from freshrec.models.biased_mf import BiasedMF

    return BiasedMF(**SETTINGS, n_epochs=1, shuffle=False, seed=seed)


def time_loop(step: Any, users: list[Any], items: list[Any], values: list[float]) -> float:
    start = time.perf_counter()
    for user, item, value in zip(users, items, values, strict=True):
        step(user, item, value)
    return time.perf_counter() - start


def run_seed(seed: int, users: list[Any], items: list[Any], values: list[float]) -> dict[str, Any]:
    from freshrec.data import Event

    n = len(users)
    river = river_model(seed)
    river_s = time_loop(river.learn_one, users, items, values)
    one = freshrec_model(seed)
    one_s = time_loop(one.learn_one, users, items, values)
    batched = freshrec_model(seed)
    fit_s = time_loop(lambda u, i, v: batched.partial_fit([Event(u, i, v)]), users, items, values)
    same = bool(
        np.array_equal(one.user_factors_, batched.user_factors_)
        and np.array_equal(one.item_bias_, batched.item_bias_)
        and one.global_mean_ == batched.global_mean_
    )
    return {
        "seed": seed,
        "events": n,
        "river_learn_one_per_s": n / river_s,
        "freshrec_learn_one_per_s": n / one_s,
        "freshrec_partial_fit_one_per_s": n / fit_s,
        "learn_one_equals_partial_fit": same,
    }


def main(argv: list[str] | None = None) -> None:
    import river

    from freshrec.threads import pin_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    pin_threads(1)
    users, items, values = ratings(args.data_dir)
    warm = freshrec_model(0)  # compile the numba kernels before any timing
    time_loop(warm.learn_one, users[:1000], items[:1000], values[:1000])
    runs = [run_seed(int(s), users, items, values) for s in args.seeds.split(",")]
    keys = ("river_learn_one_per_s", "freshrec_learn_one_per_s", "freshrec_partial_fit_one_per_s")
    median = {key: statistics.median(run[key] for run in runs) for key in keys}
    result = {
        "command": "python benchmarks/single_event_learning.py --seeds " + args.seeds,
        "date": date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, 1 thread (pinned)",
        "river_version": river.__version__,
        "dataset": "ml-100k",
        "median": median,
        "ratio_learn_one_to_river": median["freshrec_learn_one_per_s"]
        / median["river_learn_one_per_s"],
        "ratio_partial_fit_one_to_river": median["freshrec_partial_fit_one_per_s"]
        / median["river_learn_one_per_s"],
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'method':<32}{'events/s':>12}{'x river':>10}")
    for key in keys:
        ratio = median[key] / median["river_learn_one_per_s"]
        print(f"{key:<32}{median[key]:>12,.0f}{ratio:>10.2f}")
    print(
        f"learn_one == partial_fit([event]): {all(r['learn_one_equals_partial_fit'] for r in runs)}"
    )


if __name__ == "__main__":
    main()
