"""The arena's report: ``results.json``, ``report.md`` and two plots, from one run per seed.

``results.json`` has the shape of every command (DESIGN.md), one row per (strategy,
measure) with the mean over windows of each seed, plus ``windows`` (every record of every
seed) and ``counts``. ``report.md`` adds each strategy's quality and compute relative to
``full`` and ``frozen`` when they ran. ``quality_over_time.png`` draws NDCG@k per window;
``quality_vs_compute.png`` mean NDCG@k against total training seconds.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.evaluation.arena import ArenaRun
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results
from freshrec.persist import atomic_write_bytes, atomic_write_text

__all__ = ["arena_results", "measures", "relative_table", "write_arena"]


def measures(k: int = 10) -> list[str]:
    """The per-window measures summarized for each strategy, in report order.

    Examples
    --------
    >>> measures(5)[:2]
    ['ndcg@5', 'recall@5']
    """
    return [
        f"ndcg@{k}",
        f"recall@{k}",
        f"ndcg@{k} returning",
        f"recall@{k} returning",
        f"ndcg@{k} warm",
        f"ndcg@{k} earlier",
        f"ndcg@{k} new",
        "new_item_share",
        "compute_s",
        f"churn@{k}",
        "forgetting",
        "lag_h",
        "model_mb",
    ]


def arena_results(
    runs: Sequence[ArenaRun],
    seeds: Sequence[int],
    *,
    dataset: str,
    params: dict[str, Any],
    k: int = 10,
    command: str = "arena",
) -> Results:
    """One :class:`Results` row per (strategy, measure): the per-seed means over windows.

    Examples
    --------
    >>> from freshrec.evaluation.arena import WindowRecord
    >>> run = ArenaRun(windows=[WindowRecord(0, "frozen", {"ndcg@10": 0.2})])
    >>> results = arena_results([run], [0], dataset="toy", params={})
    >>> results.row("frozen", "ndcg@10").value
    0.2
    """
    rows: list[ResultRow] = []
    for strategy in runs[0].strategies() if runs else []:
        for measure in measures(k):
            values = [run.mean(strategy, measure) for run in runs]
            if not all(np.isnan(values)):
                rows.append(ResultRow.from_seeds(strategy, measure, values))
    timing = {"warm_start_s": float(np.mean([run.warm_s for run in runs]))} if runs else {}
    return Results(command, dataset, "arena", list(seeds), rows, timing, params)


def relative_table(results: Results) -> list[str]:
    """Markdown lines: each strategy's mean NDCG@10 and compute relative to full and frozen.

    Examples
    --------
    >>> rows = [ResultRow("full", "ndcg@10", 0.2, (0.2, 0.2)),
    ...         ResultRow("full", "compute_s", 10.0, (10.0, 10.0)),
    ...         ResultRow("streaming", "ndcg@10", 0.19, (0.19, 0.19)),
    ...         ResultRow("streaming", "compute_s", 0.5, (0.5, 0.5))]
    >>> relative_table(Results("arena", "toy", "arena", rows=rows))[-1]
    '| streaming | 0.1900 | 95.0% | 5.0% | - |'
    """

    def value(strategy: str, measure: str) -> float:
        row = results.row(strategy, measure)
        return row.value if row is not None else float("nan")

    def percent(x: float) -> str:
        return "-" if not np.isfinite(x) else f"{100 * x:.1f}%"

    lines = [
        "| strategy | NDCG@10 | of full's NDCG@10 | of full's compute | gain over frozen |",
        "|---|---:|---:|---:|---:|",
    ]
    full_ndcg, full_compute = value("full", "ndcg@10"), value("full", "compute_s")
    frozen = value("frozen", "ndcg@10")
    for strategy in results.models:
        ndcg = value(strategy, "ndcg@10")
        compute = value(strategy, "compute_s")
        cells = [
            f"{ndcg:.4f}",
            percent(ndcg / full_ndcg) if full_ndcg else "-",
            percent(compute / full_compute) if full_compute else "-",
            percent(ndcg / frozen - 1.0) if strategy != "frozen" and frozen else "-",
        ]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return lines


def action_table(runs: Sequence[ArenaRun]) -> list[str]:
    """Markdown lines: how often each choosing strategy took each action (all seeds).

    Empty when no strategy reports actions (only ``adaptive`` does).

    Examples
    --------
    >>> from freshrec.evaluation.arena import WindowRecord
    >>> run = ArenaRun(windows=[WindowRecord(0, "adaptive", action="streaming"),
    ...                         WindowRecord(1, "adaptive", action="noop"),
    ...                         WindowRecord(0, "full")])
    >>> action_table([run])[-1]
    '| adaptive | streaming | 1 |'
    """
    counts: dict[tuple[str, str], int] = {}
    for run in runs:
        for record in run.windows:
            if record.action is not None:
                key = (record.strategy, record.action)
                counts[key] = counts.get(key, 0) + 1
    if not counts:
        return []
    lines = ["| strategy | action | windows |", "|---|---|---:|"]
    lines += [f"| {s} | {a} | {n} |" for (s, a), n in sorted(counts.items())]
    return lines


def write_arena(
    out_dir: str | os.PathLike[str], results: Results, runs: Sequence[ArenaRun]
) -> list[Path]:
    """Write ``results.json``, ``report.md``, ``quality_over_time.png`` and
    ``quality_vs_compute.png`` into ``out_dir`` (each atomically); return their paths.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.evaluation.arena import WindowRecord
    >>> run = ArenaRun(windows=[WindowRecord(0, "frozen", {"ndcg@10": 0.2}, compute_s=0.0)])
    >>> results = arena_results([run], [0], dataset="toy", params={})
    >>> [p.name for p in write_arena(tempfile.mkdtemp(), results, [run])]
    ['results.json', 'report.md', 'quality_over_time.png', 'quality_vs_compute.png']
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = results.to_dict()
    data["counts"] = runs[0].counts.to_dict() if runs else {}
    data["windows"] = [
        {"seed": seed, **_jsonable(record.to_dict())}
        for seed, run in zip(results.seeds, runs, strict=True)
        for record in run.windows
    ]
    markdown = results.to_markdown().replace("![comparison](comparison.png)", "")
    markdown += "\n## Relative to full retraining and to the frozen model\n\n"
    markdown += "\n".join(relative_table(results)) + "\n"
    chosen = action_table(runs)
    if chosen:
        markdown += "\n## Actions chosen per window\n\n" + "\n".join(chosen) + "\n"
    markdown += "\n![quality over time](quality_over_time.png)\n"
    markdown += "\n![quality vs compute](quality_vs_compute.png)\n"
    paths = [folder / name for name in ("results.json", "report.md")]
    paths += [folder / "quality_over_time.png", folder / "quality_vs_compute.png"]
    atomic_write_text(paths[0], json.dumps(data, indent=2, allow_nan=False) + "\n")
    atomic_write_text(paths[1], markdown)
    atomic_write_bytes(paths[2], _plot_over_time(results, runs))
    atomic_write_bytes(paths[3], _plot_quality_vs_compute(results))
    return paths


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, float | np.floating):
            out[key] = float(value) if np.isfinite(value) else None
        elif isinstance(value, np.integer):
            out[key] = int(value)
        else:
            out[key] = value
    return out


def _figure(width: float = 7.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def _plot_over_time(results: Results, runs: Sequence[ArenaRun], measure: str = "ndcg@10") -> bytes:
    fig = _figure()
    ax = fig.add_subplot()
    for strategy in results.models:
        per_seed = [
            [r.measure(measure) for r in run.windows if r.strategy == strategy] for run in runs
        ]
        curve = np.nanmean(np.array(per_seed, dtype=float), axis=0)
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", markersize=3, label=strategy)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("window")
    ax.set_ylabel(f"{measure.upper()} (before learning the window)")
    ax.set_title(f"arena: {results.dataset}, mean of {len(runs)} seed(s)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _plot_quality_vs_compute(results: Results) -> bytes:
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    for strategy in results.models:
        ndcg, compute = results.row(strategy, "ndcg@10"), results.row(strategy, "compute_s")
        if ndcg is None or compute is None:
            continue
        x = max(compute.value, 1e-3)  # frozen trains for 0 s: drawn at the axis floor
        ax.scatter([x], [ndcg.value], s=40)
        ax.annotate(strategy, (x, ndcg.value), textcoords="offset points", xytext=(5, 4))
    ax.set_xscale("log")
    ax.margins(x=0.2, y=0.1)  # room for the labels
    ax.set_xlabel("training seconds per window (log; frozen drawn at 0.001)")
    ax.set_ylabel("mean NDCG@10")
    ax.set_title(f"arena: {results.dataset}, quality vs compute", fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)
