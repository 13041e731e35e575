"""Dataset: events plus side tables plus the cleaning report of a load."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freshrec.data.batch import EventBatch

__all__ = ["Dataset", "LoadReport", "SideTable"]


@dataclass(frozen=True, eq=False)
class SideTable:
    """Attributes of items or users (titles, categories, numeric attributes).

    Parameters
    ----------
    ids
        External ids, shape (n,).
    columns
        Column name -> array of shape (n,). Multi-valued fields (genres) hold tuples.

    Examples
    --------
    >>> items = SideTable(np.array([1, 2]), {"title": np.array(["Heat", "Up"], dtype=object)})
    >>> items.row(2)
    {'title': 'Up'}
    """

    ids: np.ndarray
    columns: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, external_id: Any) -> dict[str, Any]:
        """All attributes of one id."""
        hits = np.flatnonzero(self.ids == external_id)
        if len(hits) == 0:
            raise KeyError(external_id)
        i = hits[0]
        return {name: _plain(column[i]) for name, column in self.columns.items()}


@dataclass
class LoadReport:
    """What a load kept and skipped, counted by reason.

    Examples
    --------
    >>> report = LoadReport(rows_read=3, rows_kept=2)
    >>> report.skip("timestamp: not a number")
    >>> report.skipped
    Counter({'timestamp: not a number': 1})
    """

    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, where: str | None = None) -> None:
        """Count one skipped row; keep the first location seen for each reason."""
        self.skipped[reason] += 1
        if where is not None:
            self.examples.setdefault(reason, where)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "skipped": dict(self.skipped),
            "examples": self.examples,
        }


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: the events, optional side tables and the load report.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> ds = Dataset("toy", EventBatch.from_events([Event("ann", "a", 1.0, 0.0)]))
    >>> ds.n_users, ds.n_items
    (1, 1)
    """

    name: str
    events: EventBatch
    items: SideTable | None = None
    users: SideTable | None = None
    report: LoadReport | None = None

    @property
    def n_users(self) -> int:
        return len(np.unique(self.events.user))

    @property
    def n_items(self) -> int:
        return len(np.unique(self.events.item))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
