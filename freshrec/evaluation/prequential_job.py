"""``freshrec prequential``: build the model by name, run the stream, write the report.

``results.json`` has the shape of every command (one row per headline figure) plus
``windows`` (position, windowed and fading metric, churn); ``report.md`` explains the
figures; ``prequential.png`` draws them over the stream.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freshrec.config import model_params
from freshrec.data.dataset import Dataset
from freshrec.evaluation.prequential import PrequentialResult, run_prequential
from freshrec.evaluation.report import ResultRow, Results
from freshrec.persist import atomic_write_bytes, atomic_write_text

__all__ = ["run_prequential_job", "write_prequential"]

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
        ResultRow.from_seeds(model, name, [float("nan") if value is None else float(value)])
        for name, value in run.summary().items()
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
    if run.summary()["convergence_events"] is None:
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
    atomic_write_bytes(paths[2], run.plot())
    return paths


def _seeded(model: str, seed: int) -> dict[str, Any]:
    import inspect

    from freshrec.models import REGISTRY

    has_seed = "seed" in inspect.signature(REGISTRY[model]).parameters
    return {"seed": seed} if has_seed else {}


def _finite(value: float) -> float | None:
    return float(value) if value is not None and value == value else None
