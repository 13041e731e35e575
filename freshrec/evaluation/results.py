"""Summaries over seeds: one :class:`ResultRow` per (model, metric).

A row's JSON form is the ``rows`` entry of every command's ``results.json`` (DESIGN.md,
"Command-line contract"); ``nan`` is written as ``null`` so that every reader can parse it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from freshrec.evaluation.protocols import summarize_seeds

__all__ = ["ResultRow", "rows_from_seeds"]


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
    >>> ResultRow.from_dict(row.to_dict()) == row
    True
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultRow:
        """Rebuild from :meth:`to_dict` output (``null`` values read back as ``nan``)."""
        return cls(
            data["model"],
            data["metric"],
            _float(data["value"]),
            (_float(data["ci95"][0]), _float(data["ci95"][1])),
            tuple(_float(v) for v in data.get("per_seed", ())),
        )


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


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
