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

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.table import Table

from freshrec.evaluation.protocols import BEYOND_ACCURACY_METRICS, RANKING_METRICS
from freshrec.evaluation.results import ResultRow
from freshrec.persist import atomic_write_bytes, atomic_write_text

__all__ = [
    "METRIC_FAMILIES",
    "ChartPanel",
    "FiguresTable",
    "Results",
    "chart_panels",
    "figures_table",
    "is_count",
    "machine_summary",
    "rich_table",
]


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
        return cls(
            command=data["command"],
            dataset=data["dataset"],
            protocol=data["protocol"],
            seeds=list(data.get("seeds", ())),
            rows=[ResultRow.from_dict(row) for row in data.get("rows", ())],
            timing=dict(data.get("timing", {})),
            params=dict(data.get("params", {})),
            machine=data.get("machine", ""),
            extra=dict(data.get("extra", {})),
        )

    def to_markdown(self, after_table: Sequence[str] = ()) -> str:
        """``report.md``: header, models x metrics table (mean ± CI half-width), timing.

        ``after_table``: Markdown lines put right after the table, where a reader looks
        first (what a command found: warnings, notes).
        """
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
        lines += after_table
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

    def figure(self) -> Any:
        """A matplotlib figure of the results: one panel per family of metrics.

        Ranking accuracy (NDCG, recall, ...), beyond accuracy (coverage, Gini, ...) and
        rating error (RMSE, MAE) each get their own axis, with one bar per model that has
        the metric; a metric in a unit of its own (novelty in bits) gets its own axis beside
        its family. Metrics marked ``↓`` are better when lower.

        Examples
        --------
        >>> rows = [ResultRow("pop", "recall@10", 0.2, (0.2, 0.2)),
        ...         ResultRow("mf", "recall@10", 0.3, (0.3, 0.3)),
        ...         ResultRow("mf", "rmse", 0.9, (0.9, 0.9))]
        >>> fig = Results("evaluate", "toy", "random", rows=rows).figure()
        >>> [" ".join(ax.get_title().split()) for ax in fig.axes]
        ['ranking accuracy', 'rating error (mf only)']
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        panels = chart_panels(self)
        rows = _pack(panels, self)
        widest = max((sum(max(p.bars(self) + 2, 5) for p in row) for row in rows), default=0)
        width = min(max(4.0 + 0.2 * widest, 6.5), 12.0)
        fig = Figure(figsize=(width, 1.0 + 3.3 * max(len(rows), 1)), layout="constrained")
        FigureCanvasAgg(fig)
        if not panels:
            ax = fig.add_subplot()
            ax.text(0.5, 0.5, "no results", ha="center", va="center")
            ax.set_axis_off()
        else:
            figures = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
            for sub, row in zip(figures, rows, strict=True):
                ratios = [max(p.bars(self) + 2, 5) for p in row]
                axes = sub.subplots(1, len(row), squeeze=False, width_ratios=ratios)[0]
                for ax, panel in zip(axes, row, strict=True):
                    _bars(ax, self, panel)
            handles = [Rectangle((0, 0), 1, 1, color=_color(self, model)) for model in self.models]
            fig.legend(
                handles,
                self.models,
                loc="outside lower center",
                ncols=min(len(self.models), 6),
                frameon=False,
            )
        note = "; ↓ lower is better" if any(_lower_is_better(m) for m in self.metrics) else ""
        fig.suptitle(f"{self.command}: {self.dataset} ({self.protocol}){note}", fontsize=10)
        return fig

    def plot(self) -> bytes:
        """PNG bytes of :meth:`figure`."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=110)
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

    Metrics run down the side so that many metrics stay readable in an 80-column terminal;
    in a narrow console the cells wrap at spaces but never cut a figure
    (:func:`figures_table`).

    Examples
    --------
    >>> rows = [ResultRow.from_seeds("pop", "hit@10", [0.5])]
    >>> table = rich_table(Results("evaluate", "toy", "loo-full", rows=rows))
    >>> [c.header for c in table.columns]
    ['metric', 'pop']
    """
    caption = None
    if results.timing:
        timing = ", ".join(f"{k} {_number(v, 1)}s" for k, v in results.timing.items())
        caption = f"seeds: {list(results.seeds)}; {timing}"
    return figures_table(
        f"{results.command}: {results.dataset} ({results.protocol})",
        ["metric", *results.models],
        [
            [metric, *[_cell(results.row(model, metric)) for model in results.models]]
            for metric in results.metrics
        ],
        caption=caption,
    )


def figures_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    caption: str | None = None,
) -> FiguresTable:
    """A rich table of plain-text cells that never cuts a figure short (:class:`FiguresTable`).

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> table = figures_table("toy", ["metric", "a-very-long-model-name"],
    ...                       [["ndcg@10", "0.1234 ± 0.0056"], ["note [online]", "12345.6789"]])
    >>> console = Console(file=io.StringIO(), width=26)
    >>> console.print(table)
    >>> text = console.file.getvalue()
    >>> all(s in text for s in ("0.1234", "0.0056", "12345.6789", "[online]")), "…" in text
    (True, False)
    """
    return FiguresTable(title, header, rows, caption=caption)


class FiguresTable(Table):
    """A :class:`rich.table.Table` of plain-text cells laid out so that no figure is cut.

    The first column holds labels, the others figures (right-aligned). Printed, each column
    gets its natural width when the console is wide enough; otherwise at least its longest
    word, cells wrapping at spaces (a longer header folds) instead of ending in an
    ellipsis. When even those widths do not fit, the columns are printed in several tables,
    each repeating the label column. So every number is printed whole, even in an 80-column
    console piped to a file. Text is taken literally: square brackets are not rich markup.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> table = FiguresTable("toy", ["model", *"abcdef"], [["pop", *["0.1234"] * 6]])
    >>> console = Console(file=io.StringIO(), width=40)
    >>> console.print(table)  # too wide for 40 columns: printed as two tables
    >>> text = console.file.getvalue()
    >>> text.count("pop"), text.count("0.1234"), "…" in text
    (2, 6, False)
    """

    def __init__(
        self,
        title: str,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        caption: str | None = None,
    ) -> None:
        super().__init__(title=escape(title), caption=None if caption is None else escape(caption))
        self.texts = [list(header), *[list(row) for row in rows]]
        for j, name in enumerate(header):
            self.add_column(escape(name), **self._style(j))
        for row in rows:
            self.add_row(*map(escape, row))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        header, *rows = self.texts
        columns = range(len(header))
        natural = [max(cell_len(row[j]) for row in self.texts) for j in columns]
        least = [max([cell_len(w) for row in rows for w in row[j].split()] or [1]) for j in columns]
        whole = [max(least[j], *map(cell_len, header[j].split() or [""])) for j in columns]
        groups = _column_groups(least, options.max_width)
        for part, group in enumerate(groups):
            budget = options.max_width - 3 * len(group) - 1  # padding and borders
            floors = [
                [whole[j] for j in group],
                [least[j] for j in group],
            ]  # headers whole, if room
            widths = _fit([natural[j] for j in group], floors, budget)
            table = Table(
                title=self.title if part == 0 else None,
                caption=self.caption if part == len(groups) - 1 else None,
            )
            for j, width in zip(group, widths, strict=True):
                table.add_column(escape(header[j]), width=width, **self._style(j))
            for row in rows:
                table.add_row(*[escape(row[j]) for j in group])
            yield table

    @staticmethod
    def _style(j: int) -> dict[str, Any]:
        return {
            "style": "bold" if j == 0 else None,
            "justify": "left" if j == 0 else "right",
            "overflow": "fold",
        }


def _column_groups(least: Sequence[int], max_width: int) -> list[list[int]]:
    """Columns in groups that fit ``max_width`` at their least widths, each with column 0."""
    groups: list[list[int]] = []
    used = max_width
    for j in range(1, len(least)):
        if used + least[j] + 3 > max_width:
            groups.append([0])
            used = 1 + least[0] + 3
        groups[-1].append(j)
        used += least[j] + 3
    return groups or [[0]]


def _fit(natural: list[int], floors: Sequence[list[int]], budget: int) -> list[int]:
    """Column widths within ``budget``: the natural ones when they fit, else the first of
    ``floors`` that fits plus the room left, shared in proportion to what each column lacks
    (the last floor when none fits)."""
    if sum(natural) <= budget:
        return natural
    floor = next((f for f in floors if sum(f) <= budget), floors[-1])
    spare = max(budget - sum(floor), 0)
    lacking = [n - m for n, m in zip(natural, floor, strict=True)]
    total = sum(lacking) or 1
    return [m + spare * lack // total for m, lack in zip(floor, lacking, strict=True)]


@dataclass(frozen=True)
class ChartPanel:
    """One axis of :meth:`Results.figure`: a family of metrics on one scale.

    Examples
    --------
    >>> ChartPanel("rating error", ("rmse", "mae")).metrics
    ('rmse', 'mae')
    """

    title: str
    metrics: tuple[str, ...]

    def models(self, results: Results) -> list[str]:
        """The models of ``results`` with a finite value of some metric of this panel."""
        return [
            model
            for model in results.models
            if any(_finite_row(results.row(model, metric)) for metric in self.metrics)
        ]

    def bars(self, results: Results) -> int:
        """How many bar slots the panel draws (metrics x models that have them)."""
        return len(self.metrics) * len(self.models(results))


METRIC_FAMILIES: dict[str, frozenset[str]] = {
    "ranking accuracy": frozenset({*RANKING_METRICS, "auc", "gauc"}),
    "beyond accuracy": frozenset(BEYOND_ACCURACY_METRICS),
    "rating error": frozenset({"rmse", "mae", "mse"}),
}
"""Chart panels by family: metric names without their ``@k`` cut-off."""

_OWN_UNIT = {"novelty": "bits"}  # drawn on an axis of their own beside their family
_LOWER_IS_BETTER = frozenset({"gini", "rmse", "mae", "mse"})


def chart_panels(results: Results) -> list[ChartPanel]:
    """The panels of :meth:`Results.figure`, in :data:`METRIC_FAMILIES` order.

    A metric with a unit of its own follows its family's panel on an axis of its own; a
    metric outside the families goes to an ``other`` panel when its values lie in [0, 1],
    else to a panel of its own.

    Examples
    --------
    >>> rows = [ResultRow("m", name, v, (v, v)) for name, v in
    ...         [("gini@10", 0.9), ("ndcg@10", 0.2), ("novelty@10", 9.5), ("rmse", 0.9)]]
    >>> [(p.title, p.metrics) for p in chart_panels(Results("demo", "toy", "random", rows=rows))]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('ranking accuracy', ('ndcg@10',)), ('beyond accuracy', ('gini@10',)),
     ('novelty (bits)', ('novelty@10',)), ('rating error', ('rmse',))]
    """
    families = list(METRIC_FAMILIES)
    groups: dict[tuple[int, bool, str], list[str]] = {}
    for metric in results.metrics:
        values = [r.value for r in results.rows if r.metric == metric and _finite_row(r)]
        if not values:
            continue
        base = _base(metric)
        family = next((i for i, f in enumerate(families) if base in METRIC_FAMILIES[f]), None)
        where = len(families) if family is None else family
        if base in _OWN_UNIT:
            key = (where, True, f"{base} ({_OWN_UNIT[base]})")
        elif family is not None:
            key = (where, False, families[family])
        elif all(0.0 <= v <= 1.0 for v in values):
            key = (len(families), False, "other")
        else:
            key = (len(families), True, metric)
        groups.setdefault(key, []).append(metric)
    return [ChartPanel(key[2], tuple(groups[key])) for key in sorted(groups, key=lambda k: k[:2])]


def is_count(metric: str) -> bool:
    """Whether ``metric`` counts things (events, users): shown as a whole number.

    Examples
    --------
    >>> is_count("convergence_events"), is_count("n_users"), is_count("ndcg@10")
    (True, True, False)
    """
    return metric.endswith("_events") or metric.startswith("n_")


# -- helpers --------------------------------------------------------------------------------
def _base(metric: str) -> str:
    """``"ndcg@10"`` -> ``"ndcg"``; ``"ndcg@10 returning"`` -> ``"ndcg"``."""
    return metric.split("@")[0].split()[0] if metric.strip() else metric


def _lower_is_better(metric: str) -> bool:
    return _base(metric) in _LOWER_IS_BETTER


def _finite_row(row: ResultRow | None) -> bool:
    return row is not None and math.isfinite(row.value)


def _pack(panels: list[ChartPanel], results: Results, capacity: int = 40) -> list[list[ChartPanel]]:
    """Panels in rows of at most ``capacity`` bar slots (a bigger panel fills a row alone)."""
    rows: list[list[ChartPanel]] = []
    used = capacity
    for panel in panels:
        bars = panel.bars(results) + 2
        if used + bars > capacity:
            rows.append([])
            used = 0
        rows[-1].append(panel)
        used += bars
    return rows


def _color(results: Results, model: str) -> str:
    return f"C{results.models.index(model) % 10}"


def _bars(ax: Any, results: Results, panel: ChartPanel) -> None:
    """Grouped bars: the panel's metrics on the x axis, one bar per model that has them."""
    models = panel.models(results)
    width = min(0.8 / max(len(models), 1), 0.5)
    labelled = panel.bars(results) <= 8
    for j, model in enumerate(models):
        xs, heights, low, high = [], [], [], []
        for i, metric in enumerate(panel.metrics):
            row = results.row(model, metric)
            if row is None or not math.isfinite(row.value):
                continue
            xs.append(i + width * (j - (len(models) - 1) / 2))
            heights.append(row.value)
            spread = all(map(math.isfinite, row.ci95)) and row.ci95[1] > row.ci95[0]
            low.append(max(row.value - row.ci95[0], 0.0) if spread else 0.0)
            high.append(max(row.ci95[1] - row.value, 0.0) if spread else 0.0)
        bars = ax.bar(
            xs,
            heights,
            width,
            yerr=[low, high] if any(low) or any(high) else None,
            capsize=2,
            color=_color(results, model),
            error_kw={"elinewidth": 1},
        )
        if labelled:
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
    labels = [f"{m} ↓" if _lower_is_better(m) else m for m in panel.metrics]
    rotate = len(panel.metrics) > 6
    ax.set_xticks(
        range(len(panel.metrics)),
        labels,
        rotation=25 if rotate else 0,
        ha="right" if rotate else "center",
        fontsize=8,
    )
    ax.set_xlim(-0.6, len(panel.metrics) - 0.4)
    ax.margins(y=0.12)
    ax.tick_params(axis="y", labelsize=8)
    only = f"\n({', '.join(models)} only)" if len(models) < min(len(results.models), 3) else ""
    ax.set_title(panel.title + only, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


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
    """``"mean ± half-width"`` (the mean alone with one seed, unless the row carries an
    interval of its own, such as a bootstrap's); counts as whole numbers."""
    if row is None:
        return "–"
    count = is_count(row.metric)
    half = (row.ci95[1] - row.ci95[0]) / 2.0
    if not math.isfinite(half) or (len(row.per_seed) < 2 and half <= 0.0):
        return _figure(row.value, count)
    return f"{_figure(row.value, count)} ± {_figure(half, count)}"


def _figure(value: float, count: bool) -> str:
    if count and math.isfinite(value):
        return f"{value:,.0f}"
    return _number(value)
