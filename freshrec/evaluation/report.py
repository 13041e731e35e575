"""Results of a command: ``results.json``, ``report.md``, ``comparison.png`` and a rich table.

The JSON shape is fixed by DESIGN.md ("Command-line contract")::

    {"command": ..., "dataset": ..., "protocol": ..., "freshrec_version": ..., "seeds": [...],
     "rows": [{"model": ..., "metric": ..., "value": ..., "ci95": [lo, hi],
               "per_seed": [...]}, ...],
     "timing": {...}, "params": {...}, "machine": "..."}

``nan`` values are written as JSON ``null`` so that every reader can parse the file.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from freshrec.evaluation.protocols import summarize_seeds
from freshrec.persist import atomic_write_bytes, atomic_write_text

__all__ = ["ResultRow", "Results", "machine_summary", "rich_table", "rows_from_seeds"]


def machine_summary() -> str:
    """One line describing this machine: OS, CPU, core count and Python version.

    Examples
    --------
    >>> "CPUs" in machine_summary()
    True
    """
    cpu = platform.processor() or platform.machine() or "unknown CPU"
    return (
        f"{platform.system()} {platform.release()} ({platform.machine()}), {cpu}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )


@dataclass(frozen=True)
class ResultRow:
    """One model's value of one metric: the mean over seeds, its 95% CI and each seed's value.

    Examples
    --------
    >>> row = ResultRow.from_seeds("pop", "ndcg@10", [0.1, 0.2, 0.3])
    >>> row.value, row.per_seed
    (0.2, (0.1, 0.2, 0.3))
    >>> [round(v, 3) for v in row.ci95]
    [-0.048, 0.448]
    """

    model: str
    metric: str
    value: float
    ci95: tuple[float, float]
    per_seed: tuple[float, ...] = ()

    @classmethod
    def from_seeds(cls, model: str, metric: str, values: Sequence[float]) -> ResultRow:
        """Summarize one value per seed with :func:`summarize_seeds`."""
        mean, ci95 = summarize_seeds(values)
        return cls(model, metric, mean, ci95, tuple(float(v) for v in values))

    def to_dict(self) -> dict[str, Any]:
        """The row as in ``results.json`` (``nan`` becomes ``None``)."""
        return {
            "model": self.model,
            "metric": self.metric,
            "value": _finite(self.value),
            "ci95": [_finite(self.ci95[0]), _finite(self.ci95[1])],
            "per_seed": [_finite(v) for v in self.per_seed],
        }


def rows_from_seeds(
    model: str,
    per_seed: Sequence[Mapping[str, float | int]],
    *,
    skip: Sequence[str] = ("n_users",),
) -> list[ResultRow]:
    """Rows of one model from one result dict per seed (e.g. of ``evaluate_ranking``).

    Metrics are kept in the order of the first dict; keys in ``skip`` are left out.

    Examples
    --------
    >>> per_seed = [{"hit@10": 0.5, "n_users": 4}, {"hit@10": 0.7, "n_users": 4}]
    >>> rows = rows_from_seeds("pop", per_seed)
    >>> [(r.metric, round(r.value, 2)) for r in rows]
    [('hit@10', 0.6)]
    """
    if not per_seed:
        return []
    names = [name for name in per_seed[0] if name not in skip]
    return [ResultRow.from_seeds(model, name, [float(d[name]) for d in per_seed]) for name in names]


@dataclass
class Results:
    """Everything one command reports; :meth:`write` puts it into an output folder.

    Examples
    --------
    >>> import tempfile
    >>> results = Results("evaluate", "toy", "loo-full", seeds=[0],
    ...                   rows=[ResultRow("pop", "hit@10", 0.5, (0.5, 0.5), (0.5,))],
    ...                   timing={"eval_s": 0.1})
    >>> results.to_dict()["rows"][0]["metric"]
    'hit@10'
    >>> [p.name for p in results.write(tempfile.mkdtemp())]
    ['results.json', 'report.md', 'comparison.png']
    """

    command: str
    dataset: str
    protocol: str
    seeds: Sequence[int] = ()
    rows: list[ResultRow] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    machine: str = field(default_factory=machine_summary)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        """Model names in order of first appearance in ``rows``."""
        return list(dict.fromkeys(row.model for row in self.rows))

    @property
    def metrics(self) -> list[str]:
        """Metric names in order of first appearance in ``rows``."""
        return list(dict.fromkeys(row.metric for row in self.rows))

    def row(self, model: str, metric: str) -> ResultRow | None:
        """The row of ``model`` and ``metric``, or ``None``."""
        for row in self.rows:
            if row.model == model and row.metric == metric:
                return row
        return None

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` content (DESIGN.md's shape; ``extra`` only when non-empty)."""
        from freshrec import __version__

        out: dict[str, Any] = {
            "command": self.command,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "freshrec_version": __version__,
            "seeds": [int(s) for s in self.seeds],
            "rows": [row.to_dict() for row in self.rows],
            "timing": _jsonable(dict(self.timing)),
            "params": _jsonable(dict(self.params)),
            "machine": self.machine,
        }
        if self.extra:
            out["extra"] = _jsonable(dict(self.extra))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        """Rebuild from :meth:`to_dict` output (``null`` values read back as ``nan``)."""
        rows = [
            ResultRow(
                r["model"],
                r["metric"],
                _float(r["value"]),
                (_float(r["ci95"][0]), _float(r["ci95"][1])),
                tuple(_float(v) for v in r.get("per_seed", ())),
            )
            for r in data.get("rows", ())
        ]
        return cls(
            command=data["command"],
            dataset=data["dataset"],
            protocol=data["protocol"],
            seeds=list(data.get("seeds", ())),
            rows=rows,
            timing=dict(data.get("timing", {})),
            params=dict(data.get("params", {})),
            machine=data.get("machine", ""),
            extra=dict(data.get("extra", {})),
        )

    def to_markdown(self) -> str:
        """``report.md``: header, models x metrics table (mean ± CI half-width), timing."""
        from freshrec import __version__

        seeds = ", ".join(str(s) for s in self.seeds) or "-"
        lines = [
            f"# freshrec {self.command}: {self.dataset}",
            "",
            f"- protocol: `{self.protocol}`",
            f"- seeds: {seeds} (values are means; ± is the 95% t-interval half-width)",
            f"- freshrec {__version__}; machine: {self.machine}",
            "",
        ]
        metrics = self.metrics
        if metrics:
            lines.append("| model | " + " | ".join(metrics) + " |")
            lines.append("|---|" + "---:|" * len(metrics))
            for model in self.models:
                cells = [_cell(self.row(model, metric)) for metric in metrics]
                lines.append(f"| {model} | " + " | ".join(cells) + " |")
        else:
            lines.append("_No results._")
        if self.timing:
            lines += ["", "## Timing", "", "| step | seconds |", "|---|---:|"]
            lines += [f"| {name} | {_number(value, 2)} |" for name, value in self.timing.items()]
        if self.rows:
            lines += ["", "![comparison](comparison.png)"]
        if self.params:
            lines += [
                "",
                "## Parameters",
                "",
                "```json",
                json.dumps(_jsonable(self.params), indent=2, sort_keys=True),
                "```",
            ]
        return "\n".join(lines) + "\n"

    def plot(self) -> bytes:
        """PNG bytes of a grouped bar chart: metrics on the x axis, one bar per model.

        Metrics whose values all lie in [0, 1] share one panel; any other metric (e.g.
        novelty in bits) gets its own panel so that scales stay readable.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        groups = _panels(self)
        widths = [max(2.0, 0.9 * len(g) * max(1, len(self.models)) ** 0.5 + 1.0) for g in groups]
        fig = Figure(figsize=(max(6.0, sum(widths) + 1.0), 4.5), layout="constrained")
        FigureCanvasAgg(fig)
        if not groups:
            ax = fig.add_subplot()
            ax.text(0.5, 0.5, "no results", ha="center", va="center")
            ax.set_axis_off()
        else:
            axes = fig.subplots(1, len(groups), squeeze=False, width_ratios=widths)[0]
            for ax, metrics in zip(axes, groups, strict=True):
                _bars(ax, self, metrics)
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(
                handles,
                labels,
                loc="outside lower center",
                ncols=min(len(labels), 6),
                frameon=False,
            )
        fig.suptitle(f"{self.command}: {self.dataset} ({self.protocol})", fontsize=10)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120)
        return buffer.getvalue()

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``results.json``, ``report.md`` and ``comparison.png`` (each atomically).

        Returns the written paths in that order.
        """
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "results.json", folder / "report.md", folder / "comparison.png"]
        atomic_write_text(paths[0], json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        atomic_write_text(paths[1], self.to_markdown())
        atomic_write_bytes(paths[2], self.plot())
        return paths


def rich_table(results: Results) -> Table:
    """A rich table of metrics (rows) x models (columns), mean ± CI half-width.

    Metrics run down the side so that many metrics stay readable in an 80-column terminal.

    Examples
    --------
    >>> rows = [ResultRow.from_seeds("pop", "hit@10", [0.5])]
    >>> table = rich_table(Results("evaluate", "toy", "loo-full", rows=rows))
    >>> [c.header for c in table.columns]
    ['metric', 'pop']
    """
    table = Table(title=f"{results.command}: {results.dataset} ({results.protocol})")
    table.add_column("metric", style="bold", no_wrap=True)
    for model in results.models:
        table.add_column(model, justify="right", no_wrap=True)
    for metric in results.metrics:
        table.add_row(metric, *[_cell(results.row(model, metric)) for model in results.models])
    if results.timing:
        timing = ", ".join(f"{k} {_number(v, 1)}s" for k, v in results.timing.items())
        table.caption = f"seeds: {list(results.seeds)}; {timing}"
    return table


# -- helpers --------------------------------------------------------------------------------
def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _jsonable(value: Any) -> Any:
    """Replace non-finite floats (and numpy scalars) by JSON-safe values, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return _finite(value)
    return value


def _number(value: float, digits: int = 4) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _cell(row: ResultRow | None) -> str:
    if row is None:
        return "–"
    half = (row.ci95[1] - row.ci95[0]) / 2.0
    if len(row.per_seed) < 2 or not math.isfinite(half):
        return _number(row.value)
    return f"{_number(row.value)} ± {half:.4f}"


def _panels(results: Results) -> list[list[str]]:
    """Metric groups for the chart: one group of [0, 1]-valued metrics, the rest alone."""
    unit: list[str] = []
    other: list[str] = []
    for metric in results.metrics:
        values = [r.value for r in results.rows if r.metric == metric and math.isfinite(r.value)]
        if not values:
            continue
        (unit if all(0.0 <= v <= 1.0 for v in values) else other).append(metric)
    return ([unit] if unit else []) + [[m] for m in other]


def _bars(ax: Any, results: Results, metrics: list[str]) -> None:
    models = results.models
    width = 0.8 / max(len(models), 1)
    for j, model in enumerate(models):
        xs, heights, low, high = [], [], [], []
        for i, metric in enumerate(metrics):
            row = results.row(model, metric)
            if row is None or not math.isfinite(row.value):
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            heights.append(row.value)
            low.append(max(row.value - row.ci95[0], 0.0) if math.isfinite(row.ci95[0]) else 0.0)
            high.append(max(row.ci95[1] - row.value, 0.0) if math.isfinite(row.ci95[1]) else 0.0)
        ax.bar(
            xs,
            heights,
            width,
            yerr=[low, high],
            capsize=3,
            label=model,
            color=f"C{j % 10}",
            error_kw={"elinewidth": 1},
        )
    ax.set_xticks(
        range(len(metrics)),
        metrics,
        rotation=30 if len(metrics) > 3 else 0,
        ha="right" if len(metrics) > 3 else "center",
        fontsize=9,
    )
    ax.set_xlim(-0.6, len(metrics) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
