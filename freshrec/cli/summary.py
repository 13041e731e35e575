"""What a command read: events kept and skipped by reason, and the positives each model sees.

Models learn from events whose value reaches their ``threshold`` (1.0 by default). On a rating
scale that starts below it (half stars from 0.5) the lowest ratings silently stop being
positives, so the summary counts them and names the option that changes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from rich.console import Console
from rich.markup import escape

from freshrec.data.dataset import Dataset

__all__ = ["describe_events", "model_thresholds"]


def model_thresholds(
    names: list[str], overrides: Mapping[str, Mapping[str, object]]
) -> dict[str, float]:
    """The positive threshold each named model will use, after ``--set`` overrides.

    Examples
    --------
    >>> model_thresholds(["popular", "bpr"], {"bpr": {"threshold": 4.0}})
    {'popular': 1.0, 'bpr': 4.0}
    """
    from freshrec.config import model_params
    from freshrec.models import REGISTRY

    found = {}
    for name in names:
        if name not in REGISTRY:
            continue  # an unknown name fails later, with the list of models
        thresholds = {k: {p: v[p] for p in v if p == "threshold"} for k, v in overrides.items()}
        params = model_params(name, REGISTRY[name], thresholds)  # the rest: checked by the job
        threshold = getattr(REGISTRY[name](**params), "threshold", None)
        if threshold is not None:
            found[name] = float(threshold)
    return found


def describe_events(console: Console, data: Dataset, thresholds: Mapping[str, float]) -> None:
    """Print events read, kept and skipped (by reason, with the first place), and positives.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.data.batch import EventBatch
    >>> events = [Event("a", "x", 0.5), Event("a", "y", 3.5), Event("b", "x", 2.0)]
    >>> console = Console(width=100, no_color=True)
    >>> describe_events(console, Dataset("mine", EventBatch.from_events(events)), {"bpr": 1.0})
    mine: 3 events read, 3 kept
    no timestamps: events keep the file's order
    positives: 2 of 3 events for bpr (value >= 1)
    note: 1 rating (33.3%) on a 0.5-3.5 scale is below the threshold 1 of bpr and is not a
    positive; --set model.threshold=0.5 counts it
    """
    events = data.events
    report = data.report
    read = report.rows_read if report is not None else len(events)
    line = f"{escape(data.name)}: {read:,} events read, {len(events):,} kept"
    if report is not None and report.n_skipped:
        reasons = "; ".join(
            f"{count:,} {escape(reason)}"
            + (
                f" (first at {escape(report.examples[reason])})"
                if reason in report.examples
                else ""
            )
            for reason, count in report.skipped.most_common()
        )
        line += f", {report.n_skipped:,} skipped: {reasons}"
    console.print(line)
    if events.timestamp is None:
        console.print("no timestamps: events keep the file's order")
    values = np.asarray(events.value, dtype=np.float64)
    for threshold, names in _by_threshold(thresholds).items():
        who = ", ".join(names)
        positives = int((values >= threshold).sum())
        console.print(
            f"positives: {positives:,} of {len(values):,} events for {who} (value >= {threshold:g})"
        )
        below = int((values < threshold).sum())
        if below and _looks_like_ratings(values):
            console.print(
                f"note: {below:,} rating{'s' * (below > 1)} ({below / len(values):.1%}) on a "
                f"{values.min():g}-{values.max():g} scale {'are' if below > 1 else 'is'} below "
                f"the threshold {threshold:g} of {who} and {'are' if below > 1 else 'is'} not "
                f"{'positives' if below > 1 else 'a positive'}; --set "
                f"model.threshold={values.min():g} counts {'them' if below > 1 else 'it'}"
            )


def _by_threshold(thresholds: Mapping[str, float]) -> dict[float, list[str]]:
    grouped: dict[float, list[str]] = {}
    for name, threshold in thresholds.items():
        grouped.setdefault(threshold, []).append(name)
    return grouped


def _looks_like_ratings(values: np.ndarray) -> bool:
    """Explicit ratings: finite, non-negative, at most 10, with more than two distinct values."""
    if len(values) == 0 or not np.isfinite(values).all():
        return False
    return bool(values.min() >= 0 and values.max() <= 10 and len(np.unique(values)) > 2)
