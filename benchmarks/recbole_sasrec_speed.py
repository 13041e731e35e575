"""One SASRec training step: freshrec against RecBole 1.2.1, on identical batches, on CPU.

Usage::

    python3 benchmarks/recbole_sasrec_speed.py [--threads 2] [--steps 30] [--warmup 5]
        [--cases full,padded] [--dropout 0.2] [--data-dir DIR] [--venv DIR] [--profile]
        [--out FILE] [--quick] [--no-install]

What it does, in one run:

1. **Peer in its own virtualenv.** RecBole is never a freshrec dependency, and it needs
   ``numpy<2``, ``pandas<2.3`` and ``scipy<1.15``. The script creates (when missing)
   ``benchmarks/.venv-recbole`` (``--venv``) with the running Python's ``-m venv`` and
   installs there ``torch==2.13.0`` (freshrec's pin), those three caps, the small packages
   RecBole's model import path needs (``colorlog==4.7.2`` and ``colorama==0.4.4`` as RecBole
   pins them, ``texttable``, ``tensorboard``: ``recbole.utils`` imports
   ``torch.utils.tensorboard``) and freshrec's own import-time needs (``numba``, ``rich``),
   then ``pip install --no-deps recbole==1.2.1`` (its declared requirements include ray,
   which is neither needed nor installed). freshrec is not
   installed there: the inner run puts the repository first on ``sys.path``, so the code
   timed is always the working tree's. The script then re-executes itself with that venv's
   Python (``--inner``): both models run in one process, with one torch build and the same
   threads.
2. **Models, same settings.** freshrec: ``freshrec.models.sasrec.SASRecModule``. RecBole:
   ``recbole.model.sequential_recommender.sasrec.SASRec``, built directly from a minimal
   config mapping and a dataset stub (RecBole's quick-start imports ray). Both: 3416 items
   (ML-1M after 5-core) plus the padding row, max length 200, hidden size 64, 2 blocks,
   2 heads, feed-forward width 256, ReLU (RecBole's ``hidden_act="relu"``; freshrec's is
   fixed), dropout 0.2 (``--dropout``) everywhere on both (RecBole's ``hidden_dropout_prob``
   and ``attn_dropout_prob``; freshrec's ``dropout``, which also drops attention weights),
   layer-norm eps 1e-8, initial std 0.02, training mode, float32, CPU. Architectures differ
   as the libraries do: RecBole is post-norm with a layer norm on the input embeddings and an
   additive float mask over explicit ``matmul``/``softmax`` attention; freshrec is pre-norm
   (the SASRec authors' code, without the dropout on the feed-forward's inner activations,
   as in RecBole), zeroes padding positions once at the output, and in training computes
   attention by ``baddbmm`` (scale and additive ``-inf`` mask in one product), softmax,
   dropout and ``bmm`` (with dropout > 0 PyTorch's CPU ``scaled_dot_product_attention`` has
   no fused kernel, and its unfused path was slower; it serves freshrec's inference).
   Importing any RecBole model switches on ``torch.autograd.set_detect_anomaly(True)``
   (``recbole/model/sequential_recommender/sine.py`` does it at import time), which about
   doubles the time of every step of both libraries; the script switches it off again and
   records that it found it on.
3. **Identical batches.** 128 sequences of items drawn uniformly (seeded), each with its
   next item as target; both libraries get the same items in the same order. Case ``full``:
   every sequence has 200 items (no padding). Case ``padded``: lengths are drawn from ML-1M's
   per-user sequence lengths capped at 200 (``ratings.dat`` under ``--data-dir``, default
   ``$FRESHREC_DATA`` else ``../shared/data``; a log-normal with median 96, clipped to
   [20, 200], when it is missing: the JSON says which), then RecBole's copy is right-padded
   (RecBole's layout, ``item_length`` given) and freshrec's left-padded (freshrec's layout).
   All batches are 200 columns wide on both sides (freshrec's training loop would drop
   all-padding leading columns of a length-bucketed batch; not used here).
4. **Same loss.** Full-softmax cross-entropy over all items. RecBole's ``calculate_loss``
   (``loss_type="CE"``) scores the output at the last real position against every row of
   its item table (3417 logits, padding included) -- its data loader turns each prefix into
   its own training sequence. The apples-to-apples freshrec step, ``freshrec-last``, runs
   freshrec's own loss code (``SequentialRecommender._next_item_loss`` with ``loss="ce"``:
   3416 logits) with a target at the last position only. ``freshrec-all`` is the step
   freshrec actually trains with: a target at every real position (200 x 128 = 25,600
   softmaxes in case ``full``, instead of 128); an extra row, not part of the comparison.
5. **Step and timing.** Forward, loss, backward and an Adam step (lr 0.001; freshrec's
   betas (0.9, 0.98) through ``freshrec.models.torch.nn.train_step``; RecBole's trainer sequence
   ``zero_grad``, ``calculate_loss``, ``loss.item()``, ``backward``, ``step``). Per case, the
   three steps are warmed up ``--warmup`` times (default 5), then timed ``--steps`` times each
   (default 30), interleaved step by step in a rotating order so that all meet the same
   background load. ``--threads`` (default 2) is set in ``OMP_NUM_THREADS``,
   ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` before torch is
   imported and in ``torch.set_num_threads``. Reported: median and interquartile range of
   the wall seconds per step, median process CPU seconds per step, and the ratio
   freshrec / RecBole of the medians (below 1: freshrec faster). Load average at start and
   end, versions, machine and date are recorded.
6. **Output.** ``benchmarks/results/recbole_sasrec_speed.json``, written atomically
   (``freshrec.persist.atomic_write_text``), and a Markdown table on stdout. ``--profile``
   adds, per case, ``torch.profiler`` tables over 3 more steps of each kind: the (op, input
   shapes) with the most self CPU time per step kind, and the largest differences
   freshrec-last minus RecBole.

``--quick`` times 3 steps after 1 warm-up (a smoke test of the harness) and writes into a
temporary folder unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RECBOLE_VERSION = "1.2.1"
TORCH_VERSION = "2.13.0"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = REPO_ROOT / "benchmarks" / ".venv-recbole"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "recbole_sasrec_speed.json"

# The peer's virtualenv: first everything with its dependencies, then RecBole without them.
VENV_REQUIREMENTS = [
    f"torch=={TORCH_VERSION}",
    "numpy<2",
    "pandas<2.3",
    "scipy<1.15",
    "colorlog==4.7.2",
    "colorama==0.4.4",
    "texttable",
    "tensorboard",
    "numba",
    "rich",
]
PROBE = (
    "import importlib.metadata as m, torch, numpy, numba, rich;"
    "from recbole.model.sequential_recommender.sasrec import SASRec;"
    "print(m.version('recbole'), torch.__version__, numpy.__version__)"
)

BATCH = 128
MAX_LEN = 200
N_ITEMS = 3416  # ML-1M after 5-core; both tables get one more row, the padding
HIDDEN = 64
N_BLOCKS = 2
N_HEADS = 2
INNER = 256
DROPOUT = 0.2
LAYER_NORM_EPS = 1e-8
INIT_STD = 0.02
LR = 0.001
SEED = 0
STEPS = ("recbole", "freshrec-last", "freshrec-all")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per library and case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--cases", default="full,padded", help="subset of full,padded")
    parser.add_argument(
        "--dropout", type=float, default=DROPOUT, help="dropout rate of both models (0.2)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="datasets folder holding ml-1m/ (default $FRESHREC_DATA or ../shared/data)",
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the peer's virtualenv")
    parser.add_argument("--profile", action="store_true", help="add torch.profiler op tables")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument("--quick", action="store_true", help="3 steps: checks the harness only")
    parser.add_argument(
        "--no-install", action="store_true", help="fail instead of creating the virtualenv"
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
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
    if args.inner:
        return run(args)
    python = ensure_venv(args.venv, args.no_install)
    command = [str(python), str(Path(__file__).resolve()), "--inner", *sys.argv[1:]]
    sys.stdout.flush()
    os.execv(command[0], command)
    return 1  # not reached


# -- the outer run: the peer's virtualenv ------------------------------------------------------
def ensure_venv(venv: Path, no_install: bool) -> Path:
    """The venv's Python, after creating the venv and installing into it when needed."""
    python = venv / "bin" / "python"
    if python.exists():
        probe = subprocess.run([python, "-c", PROBE], capture_output=True, text=True)
        if probe.returncode == 0:
            recbole, torch, numpy = probe.stdout.strip().splitlines()[-1].split()
            if recbole == RECBOLE_VERSION and torch.split("+")[0] == TORCH_VERSION:
                print(f"{venv}: recbole {recbole}, torch {torch}, numpy {numpy}")
                return python
    if no_install:
        raise SystemExit(f"{venv} lacks recbole=={RECBOLE_VERSION}; run without --no-install")
    if not python.exists():
        print(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    print(f"installing into {venv}: {' '.join(VENV_REQUIREMENTS)}")
    subprocess.run([*pip, *VENV_REQUIREMENTS], check=True)
    print(f"installing into {venv}: --no-deps recbole=={RECBOLE_VERSION}")
    subprocess.run([*pip, "--no-deps", f"recbole=={RECBOLE_VERSION}"], check=True)
    subprocess.run([python, "-c", PROBE], check=True)
    return python


# -- the inner run: both models in the venv's Python -------------------------------------------
def run(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO_ROOT))  # freshrec from the working tree
    import logging

    import numpy as np
    import torch

    logging.getLogger().setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    # Importing any RecBole model imports recbole.model.sequential_recommender, whose sine.py
    # calls torch.autograd.set_detect_anomaly(True) at import time: every op then checks its
    # outputs for NaN, which makes a step ~10x slower. Off for both libraries here.
    import recbole.model.sequential_recommender  # noqa: F401

    anomaly_after_import = torch.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(False)
    steps, warmup = (3, 1) if args.quick else (args.steps, args.warmup)
    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    load_start = os.getloadavg()
    started = time.perf_counter()
    versions = library_versions()
    print(
        ", ".join(f"{name} {version}" for name, version in versions.items())
        + f"; torch threads {torch.get_num_threads()}"
    )

    lengths_source, length_pool = ml1m_lengths(args.data_dir)
    results: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    for case in cases:
        rng = np.random.default_rng(SEED)
        if case == "full":
            lengths = np.full(BATCH, MAX_LEN)
        elif case == "padded":
            lengths = rng.choice(length_pool, size=BATCH, replace=True)
        else:
            raise SystemExit(f"unknown case {case!r}: use full and/or padded")
        batch = make_batch(rng, lengths)
        step_fns = build_steps(batch, args.dropout)
        print(
            f"\ncase {case}: {BATCH} sequences, lengths {int(lengths.min())}..{int(lengths.max())} "
            f"(mean {lengths.mean():.1f}); warm-up {warmup}, timed {steps} steps each"
        )
        results[case] = time_steps(step_fns, steps, warmup)
        results[case]["lengths"] = {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "mean": round(float(lengths.mean()), 2),
            "max": int(lengths.max()),
            "padding_share": round(1 - float(lengths.sum()) / (BATCH * MAX_LEN), 4),
        }
        for name in STEPS:
            row = results[case][name]
            print(
                f"  {name:14s} median {row['median_s']:.4f} s/step "
                f"(IQR {row['q25_s']:.4f}..{row['q75_s']:.4f}), CPU {row['cpu_median_s']:.4f} s"
            )
        if args.profile:
            profiles[case] = profile_steps(step_fns)

    report = build_report(
        args, results, profiles, versions, lengths_source, steps, warmup, load_start, started
    )
    report["protocol_detail"]["anomaly_detection"] = (
        f"enabled by importing RecBole: {anomaly_after_import}; switched off for both libraries"
    )
    out = args.out or (make_quick_out() if args.quick else DEFAULT_OUT)
    write_json(out, report)
    print()
    print(markdown_table(report))
    if profiles:
        print()
        print(profile_tables(profiles))
    print(f"\nwritten: {out}")
    return 0


def library_versions() -> dict[str, str]:
    import platform

    import numpy as np
    import recbole
    import torch

    import freshrec

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "recbole": recbole.__version__,
        "freshrec": freshrec.__version__,
    }


def ml1m_lengths(data_dir: Path | None) -> tuple[str, Any]:
    """Per-user sequence lengths of ML-1M (inputs: all events but the target), capped at 200."""
    import numpy as np

    folder = data_dir or Path(os.environ.get("FRESHREC_DATA", REPO_ROOT.parent / "shared" / "data"))
    ratings = Path(folder) / "ml-1m" / "ratings.dat"
    if ratings.is_file():
        with open(ratings, encoding="latin-1") as lines:
            users = np.array([int(line.split("::", 1)[0]) for line in lines if line.strip()])
        counts = np.bincount(users)
        counts = counts[counts > 0]
        return f"{ratings} (per-user ratings - 1, capped at {MAX_LEN})", np.minimum(
            counts - 1, MAX_LEN
        )
    rng = np.random.default_rng(12345)
    draws = np.exp(rng.normal(np.log(96.0), 0.9, size=6040)).round().astype(np.int64)
    return "log-normal(median 96, sigma 0.9) clipped to [20, 200]", np.clip(draws, 20, MAX_LEN)


def make_batch(rng: Any, lengths: Any) -> dict[str, Any]:
    """The same sequences for both libraries: RecBole's right-padded, freshrec's left-padded.

    Row ``b`` holds ``lengths[b]`` input items and the next item as target; items are
    ``1..N_ITEMS`` in both libraries (0 = padding).
    """
    import numpy as np
    import torch

    right = np.zeros((BATCH, MAX_LEN), dtype=np.int64)  # RecBole: items first, then padding
    left = np.zeros((BATCH, MAX_LEN), dtype=np.int64)  # freshrec: padding first
    next_left = np.zeros((BATCH, MAX_LEN), dtype=np.int64)  # freshrec: next item at each position
    last_left = np.zeros((BATCH, MAX_LEN), dtype=np.int64)  # freshrec: last position only
    target = np.zeros(BATCH, dtype=np.int64)
    for b, n in enumerate(lengths.tolist()):
        items = rng.integers(1, N_ITEMS + 1, size=n + 1)
        right[b, :n] = items[:n]
        left[b, MAX_LEN - n :] = items[:n]
        next_left[b, MAX_LEN - n :] = items[1:]
        last_left[b, -1] = items[n]
        target[b] = items[n]
    tensor = torch.from_numpy
    return {
        "recbole": {
            "item_id_list": tensor(right),
            "item_length": tensor(np.asarray(lengths, dtype=np.int64)),
            "item_id": tensor(target),
        },
        "freshrec_inputs": tensor(left),
        "freshrec_last": tensor(last_left),
        "freshrec_all": tensor(next_left),
    }


class _Config(dict[str, Any]):
    """RecBole reads its config by ``config[key]``; a mapping is all its model needs."""


class _Dataset:
    """The one thing RecBole's SequentialRecommender asks its dataset: ``num(field)``."""

    def num(self, field: str) -> int:
        return N_ITEMS + 1  # RecBole counts the padding id 0


def recbole_model(dropout: float) -> Any:
    import torch
    from recbole.model.sequential_recommender.sasrec import SASRec as RecBoleSASRec

    config = _Config(
        n_layers=N_BLOCKS,
        n_heads=N_HEADS,
        hidden_size=HIDDEN,
        inner_size=INNER,
        hidden_dropout_prob=dropout,
        attn_dropout_prob=dropout,
        hidden_act="relu",
        layer_norm_eps=LAYER_NORM_EPS,
        initializer_range=INIT_STD,
        loss_type="CE",
        MAX_ITEM_LIST_LENGTH=MAX_LEN,
        device=torch.device("cpu"),
        USER_ID_FIELD="user_id",
        ITEM_ID_FIELD="item_id",
        LIST_SUFFIX="_list",
        ITEM_LIST_LENGTH_FIELD="item_length",
        NEG_PREFIX="neg_",
    )
    torch.manual_seed(SEED)
    return RecBoleSASRec(config, _Dataset())


def build_steps(batch: dict[str, Any], dropout: float) -> dict[str, Any]:
    """One closure per step; each owns its model and Adam optimizer and returns the loss."""
    import types

    import torch

    from freshrec.models.sasrec import SASRec, SASRecModule
    from freshrec.models.torch.nn import train_step

    rb = recbole_model(dropout).train()
    rb_opt = torch.optim.Adam(rb.parameters(), lr=LR, weight_decay=0.0)  # RecBole's defaults
    interaction = batch["recbole"]

    def recbole_step() -> float:  # RecBole's Trainer._train_epoch, one batch
        rb_opt.zero_grad()
        loss = rb.calculate_loss(interaction)
        value = float(loss.item())
        loss.backward()
        rb_opt.step()
        return value

    def freshrec_step(targets: torch.Tensor) -> Any:
        torch.manual_seed(SEED)
        module = SASRecModule(
            N_ITEMS, MAX_LEN, HIDDEN, N_BLOCKS, N_HEADS, INNER, dropout, SEED, INIT_STD
        ).train()
        optimizer = torch.optim.Adam(module.parameters(), lr=LR, betas=SASRec._adam_betas)
        # The attributes ``SequentialRecommender._next_item_loss`` reads off a fitted model.
        model = types.SimpleNamespace(
            loss="ce",
            n_items=N_ITEMS,
            _output_items=lambda: (module.item_embedding.weight, None),
        )
        inputs = batch["freshrec_inputs"]
        users = torch.zeros(BATCH, dtype=torch.long)  # unused by the "ce" loss
        generator = torch.Generator().manual_seed(SEED)

        def step() -> float:
            hidden = module(inputs)
            loss = SASRec._next_item_loss(model, hidden, targets, users, generator)  # type: ignore[arg-type]
            return train_step(module, optimizer, loss)

        return step

    return {
        "recbole": recbole_step,
        "freshrec-last": freshrec_step(batch["freshrec_last"]),
        "freshrec-all": freshrec_step(batch["freshrec_all"]),
    }


def time_steps(step_fns: dict[str, Any], steps: int, warmup: int) -> dict[str, Any]:
    import numpy as np

    names = list(step_fns)
    losses: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(warmup):
        for name in names:
            losses[name].append(step_fns[name]())
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(steps):
        for k in range(len(names)):  # rotate the order every round
            name = names[(i + k) % len(names)]
            w0, c0 = time.perf_counter(), time.process_time()
            losses[name].append(step_fns[name]())
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    out: dict[str, Any] = {}
    for name in names:
        w = np.asarray(wall[name])
        out[name] = {
            "median_s": round(float(np.median(w)), 5),
            "q25_s": round(float(np.percentile(w, 25)), 5),
            "q75_s": round(float(np.percentile(w, 75)), 5),
            "min_s": round(float(w.min()), 5),
            "cpu_median_s": round(float(np.median(cpu[name])), 5),
            "first_loss": round(losses[name][0], 4),
            "last_loss": round(losses[name][-1], 4),
            "wall_s": [round(x, 5) for x in wall[name]],
        }
    base = out["recbole"]
    for name in names:
        out[name]["ratio_to_recbole"] = round(out[name]["median_s"] / base["median_s"], 3)
        out[name]["cpu_ratio_to_recbole"] = round(
            out[name]["cpu_median_s"] / base["cpu_median_s"], 3
        )
    return out


def profile_steps(step_fns: dict[str, Any], n: int = 3, top: int = 12) -> dict[str, Any]:
    """Self CPU ms per step of each op and input shapes, over ``n`` profiled steps per kind.

    Per step kind: the ``top`` (op, shapes) by self CPU time; and ``freshrec-last minus
    recbole``: the ``top`` largest differences between the two compared steps.
    """
    from torch.profiler import ProfilerActivity, profile

    per_op: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    for name, fn in step_fns.items():
        fn()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(n):
                fn()
        per_op[name] = {
            (e.key, str(e.input_shapes)): (e.self_cpu_time_total / 1000 / n, e.count / n)
            for e in prof.key_averages(group_by_input_shape=True)
        }

    def row(key: tuple[str, str], ms: float, calls: float, **extra: Any) -> dict[str, Any]:
        return {"op": key[0], "shapes": key[1], "self_ms": round(ms, 1), "calls": calls, **extra}

    out: dict[str, Any] = {}
    for name, ops in per_op.items():
        total = sum(ms for ms, _ in ops.values())
        ranked = sorted(ops.items(), key=lambda kv: -kv[1][0])[:top]
        out[name] = {
            "total_self_ms": round(total, 1),
            "top": [row(key, ms, round(calls, 1)) for key, (ms, calls) in ranked],
        }
    fr, rb = per_op["freshrec-last"], per_op["recbole"]
    keys = set(fr) | set(rb)

    def delta(key: tuple[str, str]) -> float:
        return fr.get(key, (0.0, 0.0))[0] - rb.get(key, (0.0, 0.0))[0]

    out["freshrec-last minus recbole"] = [
        row(
            key,
            delta(key),
            round(fr.get(key, (0.0, 0.0))[1] - rb.get(key, (0.0, 0.0))[1], 1),
            freshrec_ms=round(fr.get(key, (0.0, 0.0))[0], 1),
            recbole_ms=round(rb.get(key, (0.0, 0.0))[0], 1),
        )
        for key in sorted(keys, key=lambda k: -abs(delta(k)))[:top]
    ]
    return out


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


def source_hashes() -> dict[str, str]:
    """Short sha256 of the freshrec files timed (they change often while in development)."""
    import hashlib

    root = REPO_ROOT / "freshrec"
    names = ("models/sasrec.py", "models/torch/sequential.py", "models/torch/nn.py")
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()[:16]
        for name in names
        if (root / name).is_file()
    }


def build_report(
    args: argparse.Namespace,
    results: dict[str, Any],
    profiles: dict[str, Any],
    versions: dict[str, str],
    lengths_source: str,
    steps: int,
    warmup: int,
    load_start: tuple[float, float, float],
    started: float,
) -> dict[str, Any]:
    import datetime

    rows = [
        {
            "case": case,
            "step": name,
            "median_s": res[name]["median_s"],
            "iqr_s": [res[name]["q25_s"], res[name]["q75_s"]],
            "cpu_median_s": res[name]["cpu_median_s"],
            "ratio_to_recbole": res[name]["ratio_to_recbole"],
            "cpu_ratio_to_recbole": res[name]["cpu_ratio_to_recbole"],
        }
        for case, res in results.items()
        for name in STEPS
    ]
    command = "python3 benchmarks/recbole_sasrec_speed.py " + " ".join(
        a for a in sys.argv[1:] if a != "--inner"
    )
    report: dict[str, Any] = {
        "command": command.strip(),
        "benchmark": "sasrec-train-step-speed",
        "dataset": "synthetic batches shaped like ML-1M (5-core: 3416 items)",
        "protocol_detail": {
            "step": "forward + full-softmax CE + backward + Adam step, float32, CPU, train mode",
            "recbole": "SASRec.calculate_loss (loss_type CE): last real position of each "
            "right-padded sequence vs all 3417 rows of its item table",
            "freshrec-last": "SASRecModule + SequentialRecommender._next_item_loss (loss ce) "
            "with a target at the last position only (left-padded), 3416 logits: the "
            "apples-to-apples step",
            "freshrec-all": "the same with a target at every real position (freshrec's "
            "training objective); extra row",
            "batches": "identical items for both libraries, seeded; RecBole right-padded, "
            "freshrec left-padded; 200 columns on both",
            "lengths_source": lengths_source,
            "timing": f"{warmup} warm-up steps, then {steps} timed steps per step kind, "
            "interleaved in rotating order; median and IQR of wall seconds",
        },
        "freshrec_version": versions["freshrec"],
        "freshrec_sources_sha256": source_hashes(),
        "peers": {"recbole": versions["recbole"]},
        "versions": versions,
        "seeds": [SEED],
        "rows": rows,
        "params": {
            "batch": BATCH,
            "max_len": MAX_LEN,
            "n_items": N_ITEMS,
            "hidden": HIDDEN,
            "blocks": N_BLOCKS,
            "heads": N_HEADS,
            "inner": INNER,
            "dropout": args.dropout,
            "activation": "relu",
            "layer_norm_eps": LAYER_NORM_EPS,
            "init_std": INIT_STD,
            "adam": {"lr": LR, "recbole_betas": [0.9, 0.999], "freshrec_betas": [0.9, 0.98]},
            "threads": args.threads,
            "warmup": warmup,
            "steps": steps,
        },
        "results": results,
        "acceptance": {
            f"freshrec-last step not slower than RecBole's ({case})": res["freshrec-last"][
                "ratio_to_recbole"
            ]
            <= 1.0
            for case, res in results.items()
        },
        "timing": {"wall_s": round(time.perf_counter() - started, 1)},
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if profiles:
        report["profile_top_self_cpu"] = profiles
    return report


def markdown_table(report: dict[str, Any]) -> str:
    lines = [
        "| case | step | median s/step | IQR s/step | CPU s/step | ratio to RecBole (wall) "
        "| ratio to RecBole (CPU) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        base = row["step"] == "recbole"
        ratio = "-" if base else f"{row['ratio_to_recbole']:.3f}"
        cpu_ratio = "-" if base else f"{row['cpu_ratio_to_recbole']:.3f}"
        lines.append(
            f"| {row['case']} | {row['step']} | {row['median_s']:.4f} | "
            f"{row['iqr_s'][0]:.4f}..{row['iqr_s'][1]:.4f} | {row['cpu_median_s']:.4f} | {ratio} | "
            f"{cpu_ratio} |"
        )
    v = report["versions"]
    lines.append("")
    lines.append(
        f"torch {v['torch']}, numpy {v['numpy']}, recbole {v['recbole']}, freshrec "
        f"{v['freshrec']}; {report['params']['threads']} threads; {report['machine']}; load "
        f"{report['load_average']['start'][0]:.2f} -> {report['load_average']['end'][0]:.2f}"
    )
    return "\n".join(lines)


def profile_tables(profiles: dict[str, Any]) -> str:
    lines = ["self CPU ms per step (under the profiler, which inflates them), op, input shapes:"]
    for case, by_step in profiles.items():
        for name, entry in by_step.items():
            if isinstance(entry, dict):
                lines.append(f"profile {case} / {name}: total {entry['total_self_ms']:.0f} ms")
                lines.extend(
                    f"  {op['self_ms']:8.1f}  x{op['calls']:<5g} {op['op']} {op['shapes'][:80]}"
                    for op in entry["top"]
                )
            else:
                lines.append(f"profile {case} / {name} (freshrec ms, RecBole ms):")
                lines.extend(
                    f"  {op['self_ms']:+8.1f}  ({op['freshrec_ms']:.1f}, {op['recbole_ms']:.1f})"
                    f"  {op['op']} {op['shapes'][:80]}"
                    for op in entry
                )
    return "\n".join(lines)


def make_quick_out() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="freshrec-bench-")) / "recbole_sasrec_speed.json"


def write_json(path: Path, report: dict[str, Any]) -> None:
    import json

    from freshrec.persist import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    path.chmod(0o644)  # the atomic write's temporary file is created 0600


if __name__ == "__main__":
    raise SystemExit(main())
