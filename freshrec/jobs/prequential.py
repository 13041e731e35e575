"""``freshrec prequential``: build the model by name, run the stream, write the report.

``results.json`` has the shape of every command (one row per headline figure) plus
``windows`` (position, windowed and fading metric, churn); ``report.md`` explains the
figures; ``prequential.png`` draws them over the stream.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.config import model_params
from freshrec.data.dataset import Dataset
from freshrec.evaluation.prequential import PrequentialResult, convergence_events, run_prequential
from freshrec.evaluation.results import ResultRow
from freshrec.jobs.report import Results
from freshrec.persist import atomic_write_bytes, atomic_write_text

__all__ = ["plot_prequential", "run_prequential_job", "write_prequential"]

_EXPLAINED = {
    "prequential": "mean windowed metric over the stream",
    "prequential_recent": "mean windowed metric of the last windows",
    "fading_final": "exponentially faded metric at the end of the stream",
    "holdout": "metric on the held-out later slice (no learning)",
    "generalization_gap": "held-out minus recent prequential metric",
    "convergence_events": "events seen when the windowed metric settles within 1% of its end "
    "(– when it never does: not converged)",
    "windowed_variance": "variance of the windowed metric, second half of the stream",
    "churn_mean": "share of sampled users' top-10 lists changed per window",
}


def run_prequential_job(
    data: Dataset,
    model: str,
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    window: int = 1000,
    holdout_fraction: float = 0.1,
    delay: int = 0,
    label_delay_s: float | None = None,
    seed: int = 0,
    on_window: Callable[[int, int], None] | None = None,
) -> tuple[Results, PrequentialResult]:
    """Run :func:`~freshrec.evaluation.prequential.run_prequential` for model ``model``.

    Examples
    --------
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> data = synthetic_stream(n_users=60, n_items=40, n_events=2000)
    >>> results, run = run_prequential_job(data, "biased-mf", window=400)
    >>> results.row("biased-mf", "holdout").value > 0
    True
    """
    from freshrec.models import REGISTRY

    if model not in REGISTRY:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(REGISTRY)}")
    params = model_params(model, REGISTRY[model], overrides or {}, base=_seeded(model, seed))
    built = REGISTRY[model](**params)
    run = run_prequential(
        built,
        data.events,
        window=window,
        holdout_fraction=holdout_fraction,
        delay=delay,
        label_delay_s=label_delay_s,
        seed=seed,
        on_window=on_window,
    )
    rows = [
        ResultRow.from_seeds(model, name, [value])
        for name, value in run.summary().figures().items()
    ]
    results = Results(
        "prequential",
        data.name,
        f"prequential ({run.metric}, window {window}, "
        + (f"labels {label_delay_s:g} s late)" if label_delay_s is not None else f"delay {delay})"),
        [seed],
        rows,
        params={
            model: params,
            "window": window,
            "holdout_fraction": holdout_fraction,
            "delay": delay,
            "label_delay_s": label_delay_s,
        },
    )
    return results, run


def write_prequential(
    out_dir: str | os.PathLike[str], results: Results, run: PrequentialResult
) -> list[Path]:
    """Write ``results.json``, ``report.md`` and ``prequential.png`` (atomically).

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.data.synthetic import synthetic_stream
    >>> results, run = run_prequential_job(synthetic_stream(n_users=40, n_items=30,
    ...                                    n_events=1000), "biased-mf", window=200)
    >>> [p.name for p in write_prequential(tempfile.mkdtemp(), results, run)]
    ['results.json', 'report.md', 'prequential.png']
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = results.to_dict()
    data["windows"] = [
        {
            "events": int(position),
            "windowed": _finite(value),
            "fading": _finite(faded),
            "churn": _finite(change),
        }
        for position, value, faded, change in zip(
            run.positions, run.windowed, run.fading, run.churn, strict=True
        )
    ]
    verdict = []
    if run.summary().convergence_events is None:
        verdict = [
            "",
            "**Not converged:** the windowed metric never settled within 1% of its final "
            "value (convergence_events is left empty).",
        ]
    lines = results.to_markdown(verdict).replace("![comparison](comparison.png)", "").rstrip()
    lines += f"\n\n## What the figures mean ({run.metric})\n\n"
    lines += "\n".join(f"- **{name}**: {text}" for name, text in _EXPLAINED.items())
    lines += "\n\n![prequential](prequential.png)\n"
    paths = [folder / "results.json", folder / "report.md", folder / "prequential.png"]
    atomic_write_text(paths[0], json.dumps(data, indent=2, allow_nan=False) + "\n")
    atomic_write_text(paths[1], lines)
    atomic_write_bytes(paths[2], plot_prequential(run))
    return paths


def plot_prequential(run: PrequentialResult) -> bytes:
    """PNG bytes: the windowed and fading metric over the stream, and churn.

    Examples
    --------
    >>> import numpy as np
    >>> run = PrequentialResult("rmse", np.array([100, 200]), np.array([1.0, 0.9]),
    ...                         np.array([1.0, 0.93]), holdout=0.95, churn=np.array([np.nan, 0.1]))
    >>> plot_prequential(run)[:4]
    b'\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = 2 if len(run.churn) else 1
    fig = Figure(figsize=(7.5, 3.2 * panels), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]
    ax = axes[0]
    ax.plot(run.positions, run.windowed, marker="o", markersize=2, label="windowed")
    ax.plot(run.positions, run.fading, label="fading")
    if np.isfinite(run.holdout):
        ax.axhline(run.holdout, color="grey", linestyle="--", label="held-out slice")
    events = convergence_events(run.positions, run.windowed)
    if events is not None:
        ax.axvline(events, color="green", linestyle=":", label="converged (1% band)")
    elif len(run.windowed):
        ax.set_title("not converged: never settled within 1% of its final value", fontsize=9)
    ax.set_ylabel(run.metric.upper())
    ax.set_xlabel("events seen")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    if len(run.churn):
        axes[1].plot(run.positions, run.churn, color="tab:red")
        axes[1].set_ylabel("churn@10 between windows")
        axes[1].set_xlabel("events seen")
        axes[1].grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def _seeded(model: str, seed: int) -> dict[str, Any]:
    import inspect

    from freshrec.models import REGISTRY

    has_seed = "seed" in inspect.signature(REGISTRY[model]).parameters
    return {"seed": seed} if has_seed else {}


def _finite(value: float) -> float | None:
    return float(value) if value is not None and value == value else None
