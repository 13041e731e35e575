"""Shared parts of the case studies: score blending, weights chosen on validation, reports.

A hybrid here is a :class:`Blend`: fitted recommenders whose scores are z-normalised per
user over the catalogue and summed with weights,

    score(u, i) = sum_m w_m * (s_m(u, i) - mean_i s_m(u, .)) / std_i s_m(u, .)

so models with different score scales (logits, cosines, co-occurrence counts) add up
fairly. :func:`search_weights` tries every weight vector of a simplex grid on validation
scores and keeps the best; the grid includes each component alone, so the chosen blend
never scores below the best single component on the data it was chosen on. On test it
can: :func:`write_case` checks, and flags such a blend in ``report.md``
(:func:`blend_warnings`) and :func:`print_case` on the console. :func:`write_case` writes a
case's ``results.json``, ``report.md``, ``comparison.png`` and ``weights.png``;
:func:`run_case` runs a case by name.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from freshrec.base import RecommenderBase
from freshrec.capabilities import Observes
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.splits import Split
from freshrec.evaluation.metrics import ndcg_at_k
from freshrec.evaluation.protocols import evaluate_ranking
from freshrec.evaluation.results import ResultRow, rows_from_seeds
from freshrec.jobs.report import Results, figures_table
from freshrec.persist import atomic_write_bytes, atomic_write_text
from freshrec.ranking import top_k

__all__ = [
    "CASES",
    "Blend",
    "WeightSearch",
    "blend_scores",
    "blend_warnings",
    "case_table",
    "choose_weights",
    "evaluate_models",
    "fit_models",
    "missing_data",
    "params_of",
    "print_case",
    "ranking_objective",
    "run_case",
    "sample_events",
    "search_weights",
    "simplex_grid",
    "write_case",
    "zscore_rows",
]

CASES: dict[str, tuple[str, str]] = {
    "ecommerce": ("freshrec.cases.ecommerce", "amazon-seq-tiicsrec"),
    "news": ("freshrec.cases.news", "mind-small-sample"),
    "social": ("freshrec.cases.social", "lastfm-hetrec2011-2k"),
}
"""Case name -> (module with ``run``, dataset folder it reads under the data directory)."""


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores ``(s - mean) / std`` over each row's finite entries.

    ``nan`` marks a missing score and becomes 0 (the row's mean); ``-inf``/``inf`` stay as
    they are (masked entries); a row whose finite entries are all equal becomes 0 there.

    Examples
    --------
    >>> zscore_rows(np.array([[1.0, 2.0, 3.0], [5.0, np.nan, -np.inf]])).round(4).tolist()
    [[-1.2247, 0.0, 1.2247], [0.0, 0.0, -inf]]
    """
    out = np.array(np.atleast_2d(scores), dtype=np.float64)  # a copy, then in place
    finite = np.isfinite(out)
    if finite.all():  # the common case, with fewer passes over the (often large) rows
        out -= out.mean(axis=1, keepdims=True)
        std = np.sqrt(np.square(out).mean(axis=1, keepdims=True))
        out /= np.where(std > 0, std, 1.0)
        return out
    count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = np.where(finite, out, 0.0).sum(axis=1, keepdims=True) / count
    centred = np.where(finite, out - mean, 0.0)
    std = np.sqrt((centred**2).sum(axis=1, keepdims=True) / count)
    out = np.where(finite, centred / np.where(std > 0, std, 1.0), out)
    out[np.isnan(out)] = 0.0
    return out


def blend_scores(components: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """``sum_m weights[m] * components[m]`` of equally shaped score matrices.

    Give z-normalised components (:func:`zscore_rows`); zero weights are skipped, so a
    masked ``-inf`` entry of an unused component does not leak into the blend.

    Examples
    --------
    >>> a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 3.0]])
    >>> blend_scores([a, b], [0.5, 0.5]).tolist()
    [[0.5, 1.5]]
    """
    if len(components) != len(weights) or not components:
        raise ValueError(f"need one weight per component, got {len(weights)} for {len(components)}")
    total = np.zeros(np.shape(components[0]), dtype=np.float64)
    for component, weight in zip(components, weights, strict=True):
        if weight != 0:
            total += weight * np.asarray(component, dtype=np.float64)
    return total


def simplex_grid(n_components: int, steps: int) -> list[tuple[float, ...]]:
    """Weight vectors with entries in ``{0, 1/steps, ..., 1}`` that sum to 1.

    Single components come first (in order), then mixes of two, and so on.

    Examples
    --------
    >>> simplex_grid(2, 2)
    [(1.0, 0.0), (0.0, 1.0), (0.5, 0.5)]
    >>> len(simplex_grid(3, 10))
    66
    """
    if n_components < 1 or steps < 1:
        raise ValueError(f"need n_components >= 1 and steps >= 1, got {n_components}, {steps}")

    def parts(n: int, total: int) -> list[tuple[int, ...]]:
        if n == 1:
            return [(total,)]
        return [(i, *rest) for i in range(total, -1, -1) for rest in parts(n - 1, total - i)]

    grid = [tuple(p / steps for p in part) for part in parts(n_components, steps)]
    return sorted(grid, key=lambda w: sum(v > 0 for v in w))  # stable: singles first


@dataclass(frozen=True)
class WeightSearch:
    """The weights a grid search chose, the objective they reached and every point tried.

    Examples
    --------
    >>> search = WeightSearch(("a", "b"), (0.5, 0.5), 0.3, (((1.0, 0.0), 0.2),
    ...                       ((0.0, 1.0), 0.1), ((0.5, 0.5), 0.3)))
    >>> search.weight_map(), search.single("a")
    ({'a': 0.5, 'b': 0.5}, 0.2)
    """

    names: tuple[str, ...]
    weights: tuple[float, ...]
    score: float
    tried: tuple[tuple[tuple[float, ...], float], ...]

    def weight_map(self) -> dict[str, float]:
        """The chosen weights by component name."""
        return dict(zip(self.names, self.weights, strict=True))

    def single(self, name: str) -> float:
        """The objective of component ``name`` alone (``nan`` if that point was not tried)."""
        corner = tuple(float(n == name) for n in self.names)
        return next((score for w, score in self.tried if w == corner), float("nan"))


def search_weights(
    components: Mapping[str, np.ndarray],
    objective: Callable[[np.ndarray], float],
    *,
    steps: int = 5,
) -> WeightSearch:
    """Try every weight vector of :func:`simplex_grid` and keep the best by ``objective``.

    ``components`` are score matrices of one shape, blended as given (z-normalise them
    first); ``objective(blended)`` is higher-is-better. Ties keep the earlier grid point,
    so a single component wins over a mix that is no better.

    Examples
    --------
    >>> good, noise = np.array([[3.0, 2.0, 1.0]]), np.array([[1.0, 2.0, 3.0]])
    >>> search = search_weights({"good": good, "noise": noise},
    ...                         lambda s: float(s[0, 0] - s[0, 2]), steps=2)
    >>> search.weight_map(), search.score
    ({'good': 1.0, 'noise': 0.0}, 2.0)
    """
    names = tuple(components)
    matrices = [components[name] for name in names]
    tried: list[tuple[tuple[float, ...], float]] = []
    best: tuple[tuple[float, ...], float] | None = None
    for weights in simplex_grid(len(names), steps):
        score = float(objective(blend_scores(matrices, weights)))
        tried.append((weights, score))
        if best is None or score > best[1]:
            best = (weights, score)
    assert best is not None
    return WeightSearch(names, best[0], best[1], tuple(tried))


def ranking_objective(relevant: sp.csr_matrix, k: int = 10) -> Callable[[np.ndarray], float]:
    """``scores -> NDCG@k`` of each row's top-``k`` against the rows of ``relevant``.

    Examples
    --------
    >>> objective = ranking_objective(sp.csr_matrix(np.array([[0, 1, 0]])), k=1)
    >>> objective(np.array([[0.1, 0.9, 0.5]])), objective(np.array([[0.9, 0.1, 0.5]]))
    (1.0, 0.0)
    """

    def objective(scores: np.ndarray) -> float:
        return float(ndcg_at_k(top_k(scores, k), relevant, k))

    return objective


class Blend(RecommenderBase):
    """A hybrid: the weighted sum of fitted recommenders' per-user z-normalised scores.

    ``score(u, i) = sum_m w_m * z_m(u, i)``, where ``z_m(u, .)`` is component ``m``'s
    score row of ``u`` over the blend's catalogue, z-normalised (:func:`zscore_rows`).
    Items a component does not know get ``z = 0`` (its average item); users it does not
    know get its own fallback. The components are fitted beforehand, as scikit-learn's
    ``prefit`` estimators are: ``fit(events)`` only indexes the users and items of
    ``events`` (the catalogue the blend ranks). :meth:`observe` passes events on to the
    components that have an ``observe`` (sequential models). Not saved: save each component.

    Parameters
    ----------
    models
        Component name -> fitted recommender.
    weights
        Component name -> weight (``None``: 1 each; a missing name weighs 0).
    threshold
        Events with ``value >= threshold`` count as positives (popularity of the index).

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.models import ItemKNN, MostPopular
    >>> events = [Event("ann", "a"), Event("ann", "b"), Event("bob", "b"), Event("cy", "c")]
    >>> models = {"knn": ItemKNN().fit(events), "pop": MostPopular().fit(events)}
    >>> blend = Blend(models, {"knn": 1.0, "pop": 0.5}).fit(events)
    >>> [s.item for s in blend.recommend("bob", k=1, exclude=["b"])]
    ['a']
    >>> {name: z.shape for name, z in blend.component_scores(np.array([0])).items()}
    {'knn': (1, 3), 'pop': (1, 3)}
    """

    def __init__(
        self,
        models: Mapping[str, RecommenderBase],
        weights: Mapping[str, float] | None = None,
        threshold: float = 1.0,
    ) -> None:
        self.models = models
        self.weights = weights
        self.threshold = threshold

    def weight_of(self, name: str) -> float:
        """The weight of component ``name``."""
        return 1.0 if self.weights is None else float(self.weights.get(name, 0.0))

    def observe(self, events: Events) -> Blend:
        """Pass ``events`` to every component that :class:`~freshrec.capabilities.Observes`."""
        batch = as_batch(events)
        for model in self.models.values():
            if isinstance(model, Observes):
                model.observe(batch)
        return self

    def component_scores(
        self, user_idx: np.ndarray, item_idx: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Each component's z-normalised scores, shape (len(user_idx), n_items or len(item_idx)).

        ``user_idx``/``item_idx`` are the blend's indices; ``-1`` is an unknown user.
        """
        self._check_fitted()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        cols = np.arange(self.n_items) if item_idx is None else np.asarray(item_idx, np.int64)
        known = user_idx >= 0
        names = self.item_map_.decode(cols)
        out: dict[str, np.ndarray] = {}
        for name, model in self.models.items():
            users = np.full(len(user_idx), -1, dtype=np.int64)
            if known.any():
                users[known] = model.user_map_.encode(self.user_map_.decode(user_idx[known]))
            theirs = model.item_map_.encode(names)
            raw = np.full((len(user_idx), len(cols)), np.nan)
            have = theirs >= 0
            if have.all() and len(theirs) == model.n_items:
                raw = model.score_batch(users)[:, theirs]
            elif have.any():
                raw[:, have] = model.score_batch(users, theirs[have])
            out[name] = zscore_rows(raw)
        return out

    # -- RecommenderBase hooks ----------------------------------------------------------
    def _grow(self, n_users: int, n_items: int) -> None:
        pass

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        pass  # the components are fitted beforehand

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        parts = self.component_scores(user_idx, item_idx)
        return blend_scores(list(parts.values()), [self.weight_of(name) for name in parts])

    def _fallback_scores(self, item_idx: np.ndarray | None) -> np.ndarray:
        row: np.ndarray = self._score(np.array([-1]), item_idx)[0]
        return row


def choose_weights(
    blend: Blend,
    train: Events,
    valid: Events,
    *,
    k: int = 10,
    steps: int = 5,
    max_users: int = 2000,
    seed: int = 0,
) -> WeightSearch:
    """Set ``blend``'s weights to the grid point with the best validation NDCG@k; return it.

    Up to ``max_users`` validation users (a seeded sample) are ranked over the whole
    catalogue with their ``train`` items masked, the validation items being relevant.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import ItemKNN, MostPopular
    >>> events = checkerboard_events()
    >>> train, valid = events[:150], events[150:]
    >>> models = {"knn": ItemKNN().fit(train), "pop": MostPopular().fit(train)}
    >>> blend = Blend(models).fit(train)
    >>> search = choose_weights(blend, train, valid, steps=4)
    >>> search.score >= max(search.single("knn"), search.single("pop"))
    True
    """
    batch = blend.encode(as_batch(valid))
    user_idx, item_idx = batch.indices()
    keep = (user_idx >= 0) & (item_idx >= 0) & (batch.value >= blend.threshold)
    users = np.unique(user_idx[keep])
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    chosen = keep & np.isin(user_idx, users)
    relevant = _binary(np.searchsorted(users, user_idx[chosen]), item_idx[chosen], users, blend)
    seen_batch = blend.encode(as_batch(train))
    seen_users, seen_items = seen_batch.indices()
    mask = np.isin(seen_users, users) & (seen_items >= 0)
    rows = np.searchsorted(users, seen_users[mask])
    components = blend.component_scores(users)
    for scores in components.values():
        scores[rows, seen_items[mask]] = -np.inf
    search = search_weights(components, ranking_objective(relevant, k), steps=steps)
    blend.set_params(weights=search.weight_map())
    return search


def _binary(rows: np.ndarray, cols: np.ndarray, users: np.ndarray, blend: Blend) -> sp.csr_matrix:
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), blend.n_items)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def fit_models(
    models: Mapping[str, RecommenderBase],
    train: EventBatch,
    valid: EventBatch | None,
    *,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    on_fit: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Fit each model on ``train`` (early stopping on ``valid``); return ``fit_s.<name>`` times.

    ``inputs[name]`` holds extra keyword arguments of that model's ``fit`` (side tables, a
    ``"train"`` batch that replaces ``train``); ``on_fit(name)`` is called after each fit.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models import ItemKNN
    >>> sorted(fit_models({"knn": ItemKNN()}, checkerboard_events(), None))
    ['fit_s.knn']
    """
    timing: dict[str, float] = {}
    for name, model in models.items():
        kwargs = dict((inputs or {}).get(name, {}))
        events = kwargs.pop("train", train)
        start = time.perf_counter()
        model.fit(events, valid=valid, **kwargs)
        timing[f"fit_s.{name}"] = time.perf_counter() - start
        if on_fit is not None:
            on_fit(name)
    return timing


def evaluate_models(
    models: Mapping[str, RecommenderBase],
    split: Split,
    *,
    metrics: Sequence[str] = ("hit", "ndcg"),
    k: int = 10,
    on_step: Callable[[str], None] | None = None,
) -> list[ResultRow]:
    """Rows of every model on ``split.test``: full ranking, train and valid items masked.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.data.splits import leave_last_out
    >>> from freshrec.models import ItemKNN
    >>> split = leave_last_out(checkerboard_events())
    >>> rows = evaluate_models({"knn": ItemKNN().fit(split.train)}, split)
    >>> [row.metric for row in rows][:2]
    ['hit@10', 'ndcg@10']
    """
    rows: list[ResultRow] = []
    exclude = [split.valid] if split.valid is not None else []
    for name, model in models.items():
        result = evaluate_ranking(
            model, split.train, split.test, k=k, exclude=exclude, metrics=metrics
        )
        rows += rows_from_seeds(name, [result])
        if on_step is not None:
            on_step(name)
    return rows


def write_case(
    results: Results,
    out: str | Path,
    searches: Mapping[str, WeightSearch],
    notes: Sequence[str] = (),
    objective: str = "validation NDCG@10",
    about: str = "",
    metric: str = "ndcg@10",
) -> list[Path]:
    """Write ``results.json``, ``report.md`` (with the chosen weights and ``notes``),
    ``comparison.png`` and ``weights.png`` into ``out``; return the paths.

    ``objective`` names what the searches maximised (the chart's axis label) and ``metric``
    the test row that measures the same thing: a blend below one of its components on it is
    flagged (:func:`blend_warnings`) at the top of ``report.md`` and under
    ``extra["blends"]``. ``about`` (e.g. the case module's docstring) becomes the report's
    "About this case" section.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.evaluation.results import ResultRow
    >>> results = Results("case", "toy", "loo-full", seeds=[0],
    ...                   rows=[ResultRow("a", "ndcg@10", 0.2, (0.2, 0.2), (0.2,))])
    >>> search = WeightSearch(("a", "b"), (1.0, 0.0), 0.2, (((1.0, 0.0), 0.2), ((0.0, 1.0), 0.1)))
    >>> [p.name for p in write_case(results, tempfile.mkdtemp(), {"a+b": search})]
    ['results.json', 'report.md', 'comparison.png', 'weights.png']
    """
    folder = Path(out)
    results.extra["blends"] = {
        name: {
            "weights": s.weight_map(),
            "valid_score": s.score,
            "grid_points": len(s.tried),
            "test_metric": metric,
            "beaten_on_test_by": _beaten_by(results, name, s.names, metric),
        }
        for name, s in searches.items()
    }
    written = results.write(folder)
    lines: list[str] = []
    warnings = blend_warnings(results)
    if warnings:
        lines += ["", "## Blends that lose on test to one of their components", ""]
        lines += [f"- **Warning:** {line}" for line in warnings]
    if notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in notes]]
    lines += ["", "## Blend weights (chosen on validation)", ""]
    lines += [
        "| blend | weights | validation score | best component alone |",
        "|---|---|---:|---:|",
    ]
    for name, s in searches.items():
        weights = ", ".join(f"{n} {w:.2f}" for n, w in s.weight_map().items())
        best_single = max(s.single(n) for n in s.names)
        lines.append(f"| {name} | {weights} | {s.score:.4f} | {best_single:.4f} |")
    lines += ["", "![weights](weights.png)"]
    markdown = results.to_markdown(lines)
    if about:
        markdown += "\n## About this case\n\n" + _markdown(about) + "\n"
    atomic_write_text(folder / "report.md", markdown)
    atomic_write_bytes(folder / "weights.png", _plot_searches(objective, searches))
    return [*written, folder / "weights.png"]


def blend_warnings(results: Results) -> list[str]:
    """One sentence per blend that :func:`write_case` found below a component on test.

    Examples
    --------
    >>> rows = [ResultRow(m, "auc", v, (v, v)) for m, v in [("a", 0.53), ("b", 0.5), ("ab", 0.51)]]
    >>> results = Results("case", "toy", "impressions", rows=rows)
    >>> results.extra["blends"] = {"ab": {"test_metric": "auc", "beaten_on_test_by": {"a": 0.53}}}
    >>> blend_warnings(results)  # doctest: +NORMALIZE_WHITESPACE
    ['ab, with weights chosen on validation, scores 0.5100 auc on test, below a alone
      (0.5300): the validation choice did not carry over to test.']
    """
    lines = []
    for name, blend in results.extra.get("blends", {}).items():
        beaten = blend.get("beaten_on_test_by") or {}
        row = results.row(name, blend.get("test_metric", ""))
        if not beaten or row is None:
            continue
        others = " and ".join(f"{c} alone ({v:.4f})" for c, v in beaten.items())
        lines.append(
            f"{name}, with weights chosen on validation, scores {row.value:.4f} "
            f"{row.metric} on test, below {others}: the validation choice did not carry over "
            "to test."
        )
    return lines


def _beaten_by(
    results: Results, blend: str, components: Sequence[str], metric: str
) -> dict[str, float]:
    """The components whose test ``metric`` beats ``blend``'s, best first."""
    row = results.row(blend, metric)
    if row is None or not np.isfinite(row.value):
        return {}
    better = [
        (c, other.value)
        for c in components
        if (other := results.row(c, metric)) is not None and other.value > row.value
    ]
    return dict(sorted(better, key=lambda pair: -pair[1]))


def _markdown(text: str) -> str:
    """reST roles of a docstring as Markdown code: ``:class:`~a.b.C``` -> ```C```."""
    text = re.sub(r":\w+:`~?([\w.]*?)([\w]+)`", r"`\2`", text.strip())
    return text.replace("``", "`")


def _plot_searches(objective: str, searches: Mapping[str, WeightSearch]) -> bytes:
    """One panel per blend: each component alone and the chosen blend, on validation."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(len(searches), 1)
    fig = Figure(figsize=(max(3.4 * n + 1.0, 5.0), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    order = list(dict.fromkeys(c for search in searches.values() for c in search.names))
    for ax, (name, search) in zip(axes, searches.items(), strict=False):
        labels = [*search.names, "blend"]
        values = [search.single(c) for c in search.names] + [search.score]
        colors = [f"C{order.index(c) % 10}" for c in search.names] + ["0.35"]
        ax.bar(range(len(labels)), values, color=colors)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(objective, fontsize=9)
    fig.suptitle("each component alone and the chosen blend", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def case_table(results: Results, metrics: Sequence[str] | None = None) -> Table:
    """A rich table of the results: one row per model, one column per metric.

    ``metrics`` picks the columns (``None``: all). :func:`~freshrec.jobs.report.rich_table`
    puts models in columns; a case has more models than metrics.

    Examples
    --------
    >>> from freshrec.evaluation.results import ResultRow
    >>> rows = [ResultRow("pop", "auc", 0.5, (0.5, 0.5), (0.5,))]
    >>> table = case_table(Results("case news", "toy", "impressions", rows=rows))
    >>> [c.header for c in table.columns]
    ['model', 'auc']
    """
    shown = list(metrics or results.metrics)
    seconds = sum(results.timing.values())
    caption = f"{results.protocol}; seed {list(results.seeds)}; {seconds:.0f} s"
    if len(shown) < len(results.metrics):
        caption += "; more metrics in report.md"
    rows = []
    for model in results.models:
        cells = [results.row(model, metric) for metric in shown]
        rows.append([model, *["–" if c is None else f"{c.value:.4f}" for c in cells]])
    return figures_table(
        f"freshrec {results.command}: {results.dataset}", ["model", *shown], rows, caption=caption
    )


def print_case(console: Console, results: Results, metrics: Sequence[str] | None = None) -> None:
    """Print :func:`case_table` and then, in bold, each of :func:`blend_warnings`.

    Examples
    --------
    >>> rows = [ResultRow(m, "auc", v, (v, v)) for m, v in [("a", 0.53), ("ab", 0.51)]]
    >>> results = Results("case", "toy", "impressions", rows=rows)
    >>> results.extra["blends"] = {"ab": {"test_metric": "auc", "beaten_on_test_by": {"a": 0.53}}}
    >>> console = Console(width=200, record=True, file=__import__("io").StringIO())
    >>> print_case(console, results)
    >>> console.export_text().splitlines()[-1].startswith("warning: ab, with weights")
    True
    """
    console.print(case_table(results, metrics))
    for line in blend_warnings(results):
        console.print(f"[bold yellow]warning:[/bold yellow] {escape(line)}")


def missing_data(name: str, data_dir: str | Path) -> Path | None:
    """The dataset folder case ``name`` needs when it is absent from ``data_dir``, else ``None``.

    Examples
    --------
    >>> missing_data("news", "/nonexistent").name
    'mind-small-sample'
    """
    folder = Path(data_dir) / _case(name)[1]
    return None if folder.is_dir() else folder


def run_case(
    name: str,
    out: str | Path,
    *,
    data_dir: str | Path,
    seed: int = 0,
    quick: bool = False,
    cache_dir: str | Path | None = None,
    console: Console | None = None,
) -> tuple[Results, list[Path]]:
    """Run case study ``name`` (see :data:`CASES`) and write its report into ``out``.

    ``quick`` runs a small subset with few epochs (seconds; for tests); ``cache_dir`` is the
    parsed-dataset cache (``None``: the default). Progress and the final table go to
    ``console`` (``None``: nothing is printed). Returns the results and the written files.

    Examples
    --------
    >>> run_case("films", "/tmp/x", data_dir="/tmp")
    Traceback (most recent call last):
    ...
    ValueError: unknown case 'films'; choose one of ecommerce, news, social
    """
    module = importlib.import_module(_case(name)[0])
    run: Callable[..., tuple[Results, list[Path]]] = module.run
    return run(
        Path(data_dir),
        Path(out),
        seed=seed,
        quick=quick,
        cache_dir=None if cache_dir is None else Path(cache_dir),
        console=console or Console(quiet=True),
    )


def sample_events(
    events: EventBatch, *, n_users: int, n_items: int | None = None, seed: int = 0
) -> EventBatch:
    """A small subset for quick runs: the events of the ``n_items`` most popular items (all
    items when ``None``), then of ``n_users`` users drawn at random (seeded) among theirs.

    Examples
    --------
    >>> from freshrec.checks import checkerboard_events
    >>> subset = sample_events(checkerboard_events(), n_users=3, n_items=4)
    >>> len(np.unique(subset.user)) <= 3, len(np.unique(subset.item)) <= 4
    (True, True)
    """
    if n_items is not None:
        items, counts = np.unique(events.item, return_counts=True)
        popular = items[np.argsort(-counts, kind="stable")[:n_items]]
        events = events.take(_member(events.item, popular))
    users = np.unique(events.user)
    if len(users) > n_users:
        users = np.random.default_rng(seed).choice(users, n_users, replace=False)
    return events.take(_member(events.user, users))


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(values, pool)``, through a set for object (string) ids, where numpy is slow."""
    if values.dtype != object:
        return np.isin(values, pool)
    wanted = set(pool.tolist())
    return np.array([v in wanted for v in values.tolist()], dtype=bool)


def _case(name: str) -> tuple[str, str]:
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; choose one of {', '.join(CASES)}")
    return CASES[name]


def params_of(models: Mapping[str, Any]) -> dict[str, Any]:
    """``get_params()`` of each model (plain values only), for ``Results.params``.

    Examples
    --------
    >>> from freshrec.models import ItemKNN
    >>> params_of({"knn": ItemKNN()})
    {'knn': {'n_neighbors': 100, 'shrink': 10.0, 'threshold': 1.0}}
    """
    out: dict[str, Any] = {}
    for name, model in models.items():
        params = model.get_params() if hasattr(model, "get_params") else {}
        out[name] = {k: v for k, v in params.items() if isinstance(v, (int, float, str, tuple))}
    return out
