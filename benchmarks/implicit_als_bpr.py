"""freshrec's ALS and BPR against the ``implicit`` library's, on one ML-1M ``temporal-user`` split.

Usage::

    python benchmarks/implicit_als_bpr.py [--data-dir DIR] [--threads 2] [--seeds 0,1,2]
                                          [--min-rating 1] [--out FILE] [--quick] [--no-install]

What it does, in one run:

1. **Peer.** Installs ``implicit==0.7.2`` with pip when it is missing (never a package
   dependency of freshrec) and prints the versions used.
2. **Data.** ``ml-1m/ratings.dat`` under ``--data-dir`` (default ``$FRESHREC_DATA``, else
   ``../shared/data`` beside the repository). Every rating with ``rating >= --min-rating``
   (default 1, i.e. all ratings) is an implicit positive with value 1; both libraries get the
   same binary user x item matrix.
3. **Split** (``freshrec.data.splits.temporal_user_split``): per user, events ordered by
   timestamp with ties in file order; the latest 20% (halves up, at least one) are test. For
   model choice the same split is carved from the end of each user's training part:
   ``train_sub`` / ``valid``.
4. **Tuning.** Each library chooses, per algorithm, among the same fixed grid (6 ALS, 10 BPR)
   (``GRIDS`` below, written once in a library-neutral form and translated to each library's
   parameter names) by NDCG@10 on ``valid`` after fitting ``train_sub`` with seed 0. The
   chosen setting is refit on the full train part with seeds 0, 1, 2 and evaluated on test.
5. **Metrics**: NDCG@10 and Recall@10 with full ranking over every item that has a training
   event (an item without one cannot be recommended by any model, but still counts in the
   user's test items), the user's training items masked; averaged over users with at least one
   test item (``freshrec.evaluation.metrics``). Both libraries are scored by the *same* code
   from their user and item factor matrices (score = U @ V.T), so only the factors differ.
   MostPopular is the floor, scored by the same code (U = 1, V = popularity).
6. **Threads.** ``--threads`` (default 2) is set in ``OMP_NUM_THREADS``,
   ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` before numpy is
   imported, in ``torch.set_num_threads`` and in implicit's ``num_threads``. implicit's fit
   runs inside ``threadpool_limits(1, "blas")``, the setting implicit itself demands (it warns
   that a BLAS thread pool makes its fit up to 10x slower); its own OpenMP pool still uses
   ``--threads`` threads, so both sides use at most ``--threads`` cores.
7. **Timing.** Wall-clock and process CPU seconds of every final ``fit`` call (the freshrec
   figure includes its id encoding of the EventBatch; implicit gets a ready CSR matrix).
   Final fits run after tuning, so numba compilation is not in them, and the two libraries'
   fits alternate seed by seed so both meet the same background load; the load average at
   start and end is recorded. On a shared machine prefer the CPU-second ratio.
8. **Output.** ``benchmarks/results/implicit_als_bpr.json`` in the results.json shape of
   DESIGN.md, written atomically, and a Markdown table on stdout.

``--quick`` runs the same pipeline on 300 users with tiny iteration counts (a smoke test of
the harness, a minute or two) and writes into a temporary folder unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMPLICIT_VERSION = "0.7.2"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "implicit_als_bpr.json"
K = 10
N_FACTORS = 64

# Library-neutral grids (6 ALS and 10 BPR settings), the same for both libraries. The BPR
# learning rates span 50x because the two BPRs differ in initial scale and negative sampling
# (implicit: negatives drawn in proportion to popularity, start near 0; freshrec: uniform
# negatives, normal(0, 0.1) start), so their best rates lie far apart.
# ALS (Hu, Koren and Volinsky 2008): minimise
#     sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + reg * (sum_u |x_u|^2 + sum_i |y_i|^2)
# with p_ui = 1 for a positive, 0 otherwise; ``confidence`` is c_ui of a positive (every
# missing entry has c_ui = 1); ``reg`` is the plain (unscaled) L2 weight.
# BPR (Rendle et al. 2009): SGD on -log sigmoid(x_u . (y_i - y_j)) with L2 ``reg`` per update,
# learning rate ``lr``; one epoch = as many sampled triples as there are positives.
ALS_ITERATIONS = 15
BPR_EPOCHS = 60
GRIDS: dict[str, list[dict[str, float]]] = {
    "als": [{"reg": reg, "confidence": conf} for reg in (10.0, 30.0, 100.0) for conf in (2.0, 4.0)],
    "bpr": [
        {"lr": lr, "reg": reg} for lr in (0.002, 0.005, 0.01, 0.05, 0.1) for reg in (0.0001, 0.01)
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="datasets folder holding ml-1m/ (default $FRESHREC_DATA or "
        "../shared/data beside the repository)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the final fits")
    parser.add_argument(
        "--min-rating",
        type=float,
        default=1.0,
        help="ratings >= this are positives (default 1: all ratings)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny subset and iteration counts: checks the harness only",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="fail instead of pip-installing implicit when it is missing",
    )
    parser.add_argument(
        "--libraries",
        default="freshrec,implicit",
        help="comma-separated subset of freshrec,implicit (for debugging)",
    )
    return parser.parse_args(argv)


def pin_threads(n: int) -> None:
    """Set the thread variables; must run before numpy, numba or torch is imported."""
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    ):
        os.environ[name] = str(n)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_threads(args.threads)
    return run(args)


# Everything below imports numpy & co. lazily, after the thread variables are set. -----------
def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    import freshrec

    torch.set_num_threads(args.threads)
    libraries = [name.strip() for name in args.libraries.split(",") if name.strip()]
    implicit_version = ensure_implicit(args.no_install) if "implicit" in libraries else None
    seeds = [int(s) for s in args.seeds.split(",")]
    data_dir = find_data_dir(args.data_dir)
    started = time.perf_counter()
    load_start = os.getloadavg()
    sources = source_hashes()  # at the start: the files measured, should they change meanwhile

    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, "
        f"freshrec {freshrec.__version__}, implicit {implicit_version}; threads {args.threads}"
    )

    events = load_ml1m(data_dir, args.min_rating)
    if args.quick:
        keep = np.isin(events.user, np.unique(events.user)[:300])
        events = events.take(keep)
    data = prepare(events)
    print(
        f"ml-1m: {len(events):,} positives, {data.n_users:,} users, {data.n_items:,} items; "
        f"train {data.train.nnz:,} (train_sub {data.train_sub.nnz:,}, valid "
        f"{data.valid.nnz:,}), test {data.test.nnz:,}"
    )

    als_iterations = 2 if args.quick else ALS_ITERATIONS
    bpr_epochs = 3 if args.quick else BPR_EPOCHS
    sides = build_sides(libraries, args.threads, als_iterations, bpr_epochs)

    results: dict[str, dict[str, Any]] = {}
    # The floor: MostPopular, scored by the same code from U = 1, V = popularity.
    results["freshrec-popular"] = final_runs(data, popular_fit, {}, seeds, name="freshrec-popular")
    for algorithm in ("als", "bpr"):
        chosen = {}
        for library, fit in sides[algorithm].items():
            name = f"{library}-{algorithm}"
            tuning = tune(data, fit, GRIDS[algorithm], name)
            best = max(tuning, key=lambda row: row["valid_ndcg@10"])
            print(f"  {name}: chose {best['setting']} (valid NDCG@10 {best['valid_ndcg@10']:.4f})")
            chosen[name] = (fit, best["setting"])
            results[name] = {"tuning": tuning, "chosen": best["setting"]}
        # Final fits interleaved (seed 0 of each library, then seed 1, ...) so that both
        # libraries meet the same background load on a shared machine.
        for seed in seeds:
            for name, (fit, setting) in chosen.items():
                final_runs(data, fit, setting, [seed], into=results[name], name=name)

    report = build_report(
        args,
        data,
        results,
        seeds,
        implicit_version,
        als_iterations,
        bpr_epochs,
        time.perf_counter() - started,
        load_start,
        sources,
    )
    out = args.out or (make_quick_out() if args.quick else DEFAULT_OUT)
    write_json(out, report)
    print()
    print(markdown_table(report))
    print(f"\nwritten: {out}")
    return 0


def ensure_implicit(no_install: bool) -> str:
    """Import implicit, pip-installing the pinned version first when it is missing."""
    import importlib
    import subprocess

    try:
        import implicit

        if implicit.__version__ == IMPLICIT_VERSION:
            return str(implicit.__version__)
        print(f"implicit {implicit.__version__} found, want {IMPLICIT_VERSION}")
    except ImportError:
        print(f"implicit not installed, want {IMPLICIT_VERSION}")
    if no_install:
        raise SystemExit(f"run: pip install 'implicit=={IMPLICIT_VERSION}'")
    subprocess.check_call(
        [sys.executable, "-m", "pip", "install", "--quiet", f"implicit=={IMPLICIT_VERSION}"]
    )
    importlib.invalidate_caches()
    for module in [m for m in sys.modules if m == "implicit" or m.startswith("implicit.")]:
        del sys.modules[module]
    import implicit

    return str(implicit.__version__)


def find_data_dir(given: Path | None) -> Path:
    candidates = [given, os.environ.get("FRESHREC_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "ml-1m" / "ratings.dat").is_file():
            return Path(candidate)
    raise SystemExit("ml-1m/ratings.dat not found: pass --data-dir or set FRESHREC_DATA")


def load_ml1m(data_dir: Path, min_rating: float) -> Any:
    """ML-1M through freshrec's loader, ratings >= min_rating kept, every one as value 1."""
    import numpy as np

    from freshrec.data import load_dataset

    events = load_dataset("ml-1m", data_dir, min_rating=min_rating, use_cache=False).events
    return events.with_columns(value=np.ones(len(events), dtype=np.float32))


@dataclass(frozen=True)
class Data:
    """The split as EventBatches (for freshrec) and as binary CSR matrices over one global
    user/item index (for implicit and for evaluation)."""

    users: Any  # sorted external user ids: row i of every matrix
    items: Any  # sorted external item ids: column j of every matrix
    n_users: int
    n_items: int
    train_events: Any
    train_sub_events: Any
    train: Any
    train_sub: Any
    valid: Any
    test: Any


def prepare(events: Any) -> Data:
    import numpy as np
    import scipy.sparse as sp

    from freshrec.data.splits import temporal_user_split

    outer = temporal_user_split(events, test_ratio=0.2)
    inner = temporal_user_split(outer.train, test_ratio=0.2)
    train, test, train_sub, valid = outer.train, outer.test, inner.train, inner.test
    users = np.unique(events.user)
    items = np.unique(events.item)

    def csr(batch: Any) -> sp.csr_matrix:
        rows = np.searchsorted(users, batch.user)
        cols = np.searchsorted(items, batch.item)
        matrix = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0  # binary: a repeated (user, item) pair is one positive
        return matrix

    return Data(
        users=users,
        items=items,
        n_users=len(users),
        n_items=len(items),
        train_events=train,
        train_sub_events=train_sub,
        train=csr(train),
        train_sub=csr(train_sub),
        valid=csr(valid),
        test=csr(test),
    )


# -- scoring from factors: the one evaluation path for every model ---------------------------
def evaluate(
    user_factors: Any, item_factors: Any, known: Any, seen: Any, relevant: Any, chunk: int = 1024
) -> tuple[float, float]:
    """NDCG@K and Recall@K of score = U @ V.T over the global index.

    ``known`` marks items with a training event (others are never ranked), ``seen`` is the
    training CSR (masked), ``relevant`` the held-out CSR. Users without held-out items are
    not counted.
    """
    import numpy as np

    from freshrec.evaluation.metrics import ndcg_at_k, recall_at_k
    from freshrec.ranking import top_k

    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    ranked = np.empty((len(users), K), dtype=np.int64)
    item_t = np.ascontiguousarray(np.asarray(item_factors, dtype=np.float64).T)
    for start in range(0, len(users), chunk):
        block = users[start : start + chunk]
        scores = np.asarray(user_factors[block], dtype=np.float64) @ item_t
        scores[:, ~known] = -np.inf
        rows, cols = seen[block].nonzero()
        scores[rows, cols] = -np.inf
        ranked[start : start + len(block)] = top_k(scores, K)
    relevant_rows = relevant[users]
    return float(ndcg_at_k(ranked, relevant_rows, K)), float(recall_at_k(ranked, relevant_rows, K))


class Clock:
    """Wall-clock and process CPU seconds (all threads) of a ``with`` block."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = time.process_time() - self._cpu


class Fitted:
    """Factors of a fitted model over the global user/item index, plus its fit times."""

    def __init__(self, user_factors: Any, item_factors: Any, known: Any, clock: Clock) -> None:
        self.user_factors, self.item_factors = user_factors, item_factors
        self.known, self.fit_s, self.cpu_s = known, clock.wall_s, clock.cpu_s


def tune(data: Data, fit: Any, grid: list[dict[str, float]], name: str) -> list[dict[str, Any]]:
    rows = []
    for setting in grid:
        fitted = fit(data.train_sub_events, data.train_sub, setting, seed=0, data=data)
        ndcg, recall = evaluate(
            fitted.user_factors, fitted.item_factors, fitted.known, data.train_sub, data.valid
        )
        rows.append(
            {
                "setting": setting,
                "valid_ndcg@10": ndcg,
                "valid_recall@10": recall,
                "fit_s": fitted.fit_s,
            }
        )
        print(
            f"  tune {name} {setting}: valid NDCG@10 {ndcg:.4f} Recall@10 {recall:.4f} "
            f"({fitted.fit_s:.1f}s)",
            flush=True,
        )
    return rows


def final_runs(
    data: Data,
    fit: Any,
    setting: dict[str, float],
    seeds: list[int],
    into: dict[str, Any] | None = None,
    name: str = "",
) -> dict[str, Any]:
    """Fit on train and score on test for each seed, appending to ``into``."""
    out = {} if into is None else into
    for key in ("ndcg@10", "recall@10", "fit_s", "fit_cpu_s", "eval_s", "seeds"):
        out.setdefault(key, [])
    for seed in seeds:
        fitted = fit(data.train_events, data.train, setting, seed=seed, data=data)
        began = time.perf_counter()
        ndcg, recall = evaluate(
            fitted.user_factors, fitted.item_factors, fitted.known, data.train, data.test
        )
        out["eval_s"].append(time.perf_counter() - began)
        out["ndcg@10"].append(ndcg)
        out["recall@10"].append(recall)
        out["fit_s"].append(fitted.fit_s)
        out["fit_cpu_s"].append(fitted.cpu_s)
        out["seeds"].append(seed)
        print(
            f"  final {name} seed {seed} {setting}: test NDCG@10 {ndcg:.4f} Recall@10 "
            f"{recall:.4f} fit {fitted.fit_s:.2f}s (cpu {fitted.cpu_s:.2f}s)",
            flush=True,
        )
    return out


# -- the two libraries ------------------------------------------------------------------------
def build_sides(
    libraries: list[str], threads: int, als_iterations: int, bpr_epochs: int
) -> dict[str, dict[str, Any]]:
    """``{algorithm: {library: fit(events, csr, setting, seed, data) -> Fitted}}``."""
    sides: dict[str, dict[str, Any]] = {"als": {}, "bpr": {}}
    if "freshrec" in libraries:
        sides["als"]["freshrec"] = freshrec_fitter("als", threads, als_iterations)
        sides["bpr"]["freshrec"] = freshrec_fitter("bpr", threads, bpr_epochs)
    if "implicit" in libraries:
        sides["als"]["implicit"] = implicit_fitter("als", threads, als_iterations)
        sides["bpr"]["implicit"] = implicit_fitter("bpr", threads, bpr_epochs)
    return sides


def implicit_params(algorithm: str, setting: dict[str, float], n_iter: int) -> dict[str, Any]:
    """The neutral setting in implicit's names. implicit's ALS weighs a positive by
    ``alpha * value`` (values are 1 here), so ``alpha`` is the confidence itself."""
    if algorithm == "als":
        return {
            "factors": N_FACTORS,
            "regularization": setting["reg"],
            "alpha": setting["confidence"],
            "iterations": n_iter,
        }
    return {
        "factors": N_FACTORS,
        "learning_rate": setting["lr"],
        "regularization": setting["reg"],
        "iterations": n_iter,
    }


def implicit_fitter(algorithm: str, threads: int, n_iter: int) -> Any:
    import numpy as np
    from threadpoolctl import threadpool_limits

    def fit(events: Any, matrix: Any, setting: dict[str, float], seed: int, data: Data) -> Fitted:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        cls = AlternatingLeastSquares if algorithm == "als" else BayesianPersonalizedRanking
        with threadpool_limits(1, "blas"):
            model = cls(
                **implicit_params(algorithm, setting, n_iter),
                num_threads=threads,
                random_state=seed,
            )
            with Clock() as clock:
                model.fit(matrix, show_progress=False)
        user_factors, item_factors = model.user_factors, model.item_factors
        if hasattr(user_factors, "to_numpy"):  # implicit.gpu.Matrix
            user_factors, item_factors = user_factors.to_numpy(), item_factors.to_numpy()
        known = np.diff(matrix.tocsc().indptr) > 0
        return Fitted(np.asarray(user_factors), np.asarray(item_factors), known, clock)

    return fit


def freshrec_params(
    algorithm: str, setting: dict[str, float], n_iter: int, threads: int = 1
) -> dict[str, Any]:
    """The neutral setting in freshrec's names (see freshrec/models/als.py and bpr.py)."""
    if algorithm == "als":  # freshrec's ALS weighs a positive by c = 1 + alpha
        return {
            "n_factors": N_FACTORS,
            "l2": setting["reg"],
            "alpha": setting["confidence"] - 1.0,
            "n_iterations": n_iter,
        }
    return {
        "n_factors": N_FACTORS,
        "lr": setting["lr"],
        "l2": setting["reg"],
        "n_epochs": n_iter,
        "item_bias": True,
        "n_threads": threads,  # the parallel (Hogwild) epoch
    }


def library_params(
    name: str, setting: dict[str, float], als_iterations: int, bpr_epochs: int, threads: int
) -> dict[str, Any]:
    """The settings ``name`` (``library-algorithm``) was fitted with, in its library's names."""
    algorithm = name.split("-")[1]
    n_iter = als_iterations if algorithm == "als" else bpr_epochs
    if name.startswith("freshrec-"):
        return freshrec_params(algorithm, setting, n_iter, threads)
    return implicit_params(algorithm, setting, n_iter)


def freshrec_fitter(algorithm: str, threads: int, n_iter: int) -> Any:
    import numpy as np

    def fit(events: Any, matrix: Any, setting: dict[str, float], seed: int, data: Data) -> Fitted:
        from freshrec.models.als import ALS
        from freshrec.models.bpr import BPR

        cls: type[Any] = ALS if algorithm == "als" else BPR
        model = cls(**freshrec_params(algorithm, setting, n_iter, threads), seed=seed)
        with Clock() as clock:
            model.fit(events)
        users, items = model.user_factors_, model.item_factors_
        if algorithm == "bpr":  # x_ui = p_u . q_i + b_i = [p_u, 1] . [q_i, b_i], as implicit's
            users = np.hstack([users, np.ones((len(users), 1), users.dtype)])
            items = np.hstack([items, model.item_bias_[:, None]])
        return freshrec_factors(model, data, users, items, clock)

    return fit


def popular_fit(
    events: Any, matrix: Any, setting: dict[str, float], seed: int, data: Data
) -> Fitted:
    import numpy as np

    from freshrec.models.popular import MostPopular

    model = MostPopular()
    with Clock() as clock:
        model.fit(events)
    users = np.ones((model.n_users, 1))
    return freshrec_factors(model, data, users, model.popularity_[:, None], clock)


def freshrec_factors(
    model: Any, data: Data, user_factors: Any, item_factors: Any, clock: Clock
) -> Fitted:
    """Reorder a freshrec model's factors into the global index and check that U @ V.T
    reproduces the model's own ``score_batch`` (so nothing, e.g. a bias, is left out)."""
    import numpy as np

    user_idx = model.user_map_.encode(data.users)
    item_idx = model.item_map_.encode(data.items)
    known = item_idx >= 0
    user_factors = np.asarray(user_factors, dtype=np.float64)
    item_factors = np.asarray(item_factors, dtype=np.float64)
    users = np.zeros((data.n_users, user_factors.shape[1]))
    users[user_idx >= 0] = user_factors[user_idx[user_idx >= 0]]
    items = np.zeros((data.n_items, item_factors.shape[1]))
    items[known] = item_factors[item_idx[known]]
    probe = user_idx[user_idx >= 0][:5]
    expected = model.score_batch(probe)
    ours = user_factors[probe] @ item_factors.T
    if not np.allclose(ours, expected, rtol=1e-4, atol=1e-5):
        raise RuntimeError(
            f"{type(model).__name__}: U @ V.T differs from score_batch; "
            "the benchmark would not score what the model scores"
        )
    return Fitted(users, items, known, clock)


# -- report -----------------------------------------------------------------------------------
def source_hashes() -> dict[str, str]:
    """Short sha256 of the freshrec files measured (they change often while in development)."""
    import hashlib

    names = (
        "models/als.py",
        "models/bpr.py",
        "models/popular.py",
        "data/splits.py",
        "evaluation/metrics.py",
    )
    root = REPO_ROOT / "freshrec"
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()[:16]
        for name in names
        if (root / name).is_file()
    }


def machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores available, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def build_report(
    args: argparse.Namespace,
    data: Data,
    results: dict[str, dict[str, Any]],
    seeds: list[int],
    implicit_version: str | None,
    als_iterations: int,
    bpr_epochs: int,
    wall_s: float,
    load_start: tuple[float, ...],
    sources: dict[str, str],
) -> dict[str, Any]:
    import datetime

    import numpy as np
    import scipy
    import torch

    import freshrec
    from freshrec.evaluation.protocols import summarize_seeds

    rows = []
    for name, result in results.items():
        for metric in ("ndcg@10", "recall@10"):
            values = [round(v, 6) for v in result[metric]]
            rows.append(
                {
                    "model": name,
                    "metric": metric,
                    "value": round(float(np.mean(values)), 6),
                    "ci95": [round(v, 6) for v in summarize_seeds(values)[1]],
                    "per_seed": values,
                }
            )
    per_model = {
        name: {
            "fit_s_mean": round(float(np.mean(r["fit_s"])), 3),
            "fit_s_per_seed": [round(v, 3) for v in r["fit_s"]],
            "fit_cpu_s_mean": round(float(np.mean(r["fit_cpu_s"])), 3),
            "fit_cpu_s_per_seed": [round(v, 3) for v in r["fit_cpu_s"]],
            "eval_s_mean": round(float(np.mean(r["eval_s"])), 3),
        }
        for name, r in results.items()
    }
    ratios, cpu_ratios, quality = {}, {}, {}
    for algorithm in ("als", "bpr"):
        ours, theirs = results.get(f"freshrec-{algorithm}"), results.get(f"implicit-{algorithm}")
        if ours and theirs:
            ratios[algorithm] = round(float(np.mean(ours["fit_s"]) / np.mean(theirs["fit_s"])), 3)
            cpu_ratios[algorithm] = round(
                float(np.mean(ours["fit_cpu_s"]) / np.mean(theirs["fit_cpu_s"])), 3
            )
            quality[algorithm] = round(
                float(np.mean(ours["ndcg@10"]) / np.mean(theirs["ndcg@10"])), 4
            )
    floor = float(np.mean(results["freshrec-popular"]["ndcg@10"]))
    above = {
        name: float(np.mean(r["ndcg@10"])) > floor
        for name, r in results.items()
        if name != "freshrec-popular"
    }
    acceptance = {
        **{f"freshrec-{a} NDCG@10 >= 0.95x implicit-{a}": quality[a] >= 0.95 for a in quality},
        **{
            f"{name} NDCG@10 above popular": ok
            for name, ok in above.items()
            if name.startswith("freshrec-")
        },
        **(
            {"goal: freshrec-als fit <= 2x implicit-als": ratios["als"] <= 2.0}
            if "als" in ratios
            else {}
        ),
    }
    information = {
        f"{name} NDCG@10 above popular": ok
        for name, ok in above.items()
        if not name.startswith("freshrec-")
    }
    command = "python benchmarks/implicit_als_bpr.py " + " ".join(sys.argv[1:])
    return {
        "command": command.strip(),
        "dataset": "ml-1m" if not args.quick else "ml-1m (quick: first 300 users)",
        "protocol": "temporal-user",
        "protocol_detail": {
            "positives": f"every rating >= {args.min_rating} as an implicit positive (value 1)",
            "split": "per user, latest 20% by timestamp (ties in file order) = test; valid = "
            "the same rule on each user's train part; freshrec.data.splits.temporal_user_split",
            "counts": {
                "users": data.n_users,
                "items": data.n_items,
                "train": int(data.train.nnz),
                "train_sub": int(data.train_sub.nnz),
                "valid": int(data.valid.nnz),
                "test": int(data.test.nnz),
            },
            "metrics": "NDCG@10 (ideal DCG over min(|test|, 10)) and Recall@10 (hits / |test|), "
            "full ranking over items with a training event, training items masked, "
            "mean over users with >= 1 test item; score = U @ V.T for every model, "
            "computed by the same code",
            "tuning": "each library and algorithm: the same grid below (6 ALS, 10 BPR "
            "settings), fit on train_sub with seed 0, chosen by valid NDCG@10; "
            "refit on train per seed",
            "threads": f"{args.threads}: OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS and "
            f"torch.set_num_threads = {args.threads}; implicit num_threads = "
            f"{args.threads} with threadpool_limits(1, 'blas') around its fit",
            "timing": "wall-clock of each final fit() call, after tuning (numba warm)",
        },
        "freshrec_version": freshrec.__version__,
        "freshrec_sources_sha256": sources,
        "peers": {"implicit": implicit_version},
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "torch": torch.__version__,
        },
        "seeds": seeds,
        "rows": rows,
        "timing": {
            "fit_s": round(sum(sum(r["fit_s"]) for r in results.values()), 3),
            "eval_s": round(sum(sum(r["eval_s"]) for r in results.values()), 3),
            "wall_s": round(wall_s, 1),
            "per_model": per_model,
            "fit_ratio_freshrec_over_implicit": ratios,
            "fit_cpu_ratio_freshrec_over_implicit": cpu_ratios,
            "load_average_1m_5m_15m": {
                "start": [round(v, 2) for v in load_start],
                "end": [round(v, 2) for v in os.getloadavg()],
            },
            "note": "fit_s is wall-clock; fit_cpu_s is process CPU time over all threads. "
            "Final fits of the two libraries are interleaved seed by seed.",
        },
        "params": {
            "grids": GRIDS,
            "fixed": {
                "factors": N_FACTORS,
                "als_iterations": als_iterations,
                "bpr_epochs": bpr_epochs,
            },
            "chosen": {name: r.get("chosen", {}) for name, r in results.items()},
            "library_params": {
                name: library_params(name, r["chosen"], als_iterations, bpr_epochs, args.threads)
                for name, r in results.items()
                if "chosen" in r
            },
            "tuning": {name: r["tuning"] for name, r in results.items() if "tuning" in r},
        },
        "ndcg_ratio_freshrec_over_implicit": quality,
        "acceptance": acceptance,
        "information": information,
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def markdown_table(report: dict[str, Any]) -> str:
    values: dict[tuple[str, str], dict[str, Any]] = {
        (row["model"], row["metric"]): row for row in report["rows"]
    }
    timing = report["timing"]["per_model"]
    ratios = report["timing"]["fit_ratio_freshrec_over_implicit"]
    cpu_ratios = report["timing"]["fit_cpu_ratio_freshrec_over_implicit"]
    lines = [
        f"ML-1M, temporal-user (last 20% per user), all ratings as positives, "
        f"{len(report['seeds'])} seeds, {report['protocol_detail']['threads'].split(':')[0]} "
        f"threads, implicit {report['peers']['implicit']}",
        "",
        "| model | NDCG@10 | Recall@10 | fit s | fit ratio to implicit | CPU s | CPU ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model in timing:
        ndcg, recall = values[(model, "ndcg@10")], values[(model, "recall@10")]
        algorithm = model.split("-")[1]
        ratio = cpu_ratio = "–"
        if model.startswith("freshrec-") and algorithm in ratios:
            ratio, cpu_ratio = f"{ratios[algorithm]:.2f}x", f"{cpu_ratios[algorithm]:.2f}x"
        elif model.startswith("implicit-"):
            ratio = cpu_ratio = "1.00x"
        lines.append(
            f"| {model} | {ndcg['value']:.4f} ± {ndcg['value'] - ndcg['ci95'][0]:.4f} "
            f"| {recall['value']:.4f} ± {recall['value'] - recall['ci95'][0]:.4f} "
            f"| {timing[model]['fit_s_mean']:.2f} | {ratio} "
            f"| {timing[model]['fit_cpu_s_mean']:.2f} | {cpu_ratio} |"
        )
    lines += [
        "",
        "Per seed (NDCG@10 / Recall@10 / fit s):",
        "",
        "| model | " + " | ".join(f"seed {s}" for s in report["seeds"]) + " |",
        "|---|" + "---:|" * len(report["seeds"]),
    ]
    for model in timing:
        ndcg = values[(model, "ndcg@10")]["per_seed"]
        recall = values[(model, "recall@10")]["per_seed"]
        fit = timing[model]["fit_s_per_seed"]
        cells = [f"{n:.4f} / {r:.4f} / {f:.2f}" for n, r, f in zip(ndcg, recall, fit, strict=True)]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Chosen settings: "
        + "; ".join(f"{m} {p}" for m, p in report["params"]["library_params"].items()),
    ]
    lines += [
        "",
        "Acceptance: "
        + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in report["acceptance"].items()),
    ]
    lines += [
        "",
        "Peer: "
        + "; ".join(f"{k}: {'yes' if v else 'no'}" for k, v in report["information"].items()),
    ]
    return "\n".join(lines)


def make_quick_out() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="freshrec-bench-")) / "implicit_als_bpr.json"


def write_json(path: Path, report: dict[str, Any]) -> None:
    import json

    from freshrec.persist import atomic_write_text

    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    path.chmod(0o644)  # the atomic write's temporary file is created 0600


if __name__ == "__main__":
    raise SystemExit(main())
