"""Rows for items a served model does not know yet, from their catalogue text.

A ridge projection (:class:`~freshrec.update.item_init.ContentProjection`) from the texts'
embeddings to the model's item vectors, fitted on the known items that have a text, gives each
new item a vector, so it is recommendable as soon as it is put in the catalogue; with fewer
than ``min_known`` such items it gets the mean of the known vectors instead. Only models with
item tables (:class:`~freshrec.capabilities.HasItemRows`) take rows this way; the learner learns
the item's real row from its events as they come, and the next version brings it.

Examples
--------
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models import BPR
>>> model = BPR(n_factors=4, seed=0).fit(checkerboard_events())
>>> rows = ContentRows(encoder=lambda texts: np.ones((len(texts), 3)), min_known=2)
>>> rows.add(model, {"i0": "zero", "i1": "one", "brand-new": "new"})
['brand-new']
>>> model.item_map_.encode_one("brand-new") >= 0
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import HasItemRows
from freshrec.data.batch import ids_array
from freshrec.update.item_init import ContentProjection, add_items, mean_rows, set_item_rows

__all__ = ["ContentRows"]

Encoder = Callable[[Sequence[str]], np.ndarray]


class ContentRows:
    """Writes rows for unknown items from their texts (see the module docstring).

    Parameters
    ----------
    encoder
        Texts to vectors, shape (n, dim); default: :class:`freshrec.text.TextEncoder`
        (all-MiniLM-L6-v2, extra ``text``), loaded on first use.
    min_known
        Known items with a text needed to fit the projection.

    Examples
    --------
    >>> ContentRows(min_known=5).min_known
    5
    """

    def __init__(self, encoder: Encoder | None = None, min_known: int = 10) -> None:
        self._encoder = encoder
        self.min_known = min_known

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' vectors."""
        if self._encoder is None:
            from freshrec.text import TextEncoder

            self._encoder = TextEncoder().encode
        return np.asarray(self._encoder(list(texts)), dtype=np.float64)

    def add(self, model: RecommenderBase, texts: Mapping[Any, str]) -> list[Any]:
        """Give ``model`` a row for each item of ``texts`` it does not know; those items."""
        if not isinstance(model, HasItemRows) or not texts:
            return []
        items = list(texts)
        idx = model.item_map_.encode(ids_array(items))
        new = [item for item, i in zip(items, idx, strict=True) if i < 0]
        if not new:
            return []
        table = next(iter(model.item_tables()))
        vectors = model.item_rows(table)
        known = idx[idx >= 0]
        if len(known) >= self.min_known:
            known_texts = [texts[item] for item, i in zip(items, idx, strict=True) if i >= 0]
            projection = ContentProjection().fit(self.encode(known_texts), vectors[known])
            rows = projection.transform(self.encode([texts[item] for item in new]))
        else:
            active = np.ones(len(vectors), dtype=bool)
            active[model.item_map_.free_slots] = False  # evicted slots hold no item
            rows = mean_rows(vectors[active], n_rows=len(new))
        set_item_rows(model, add_items(model, new), rows.astype(vectors.dtype), table=table)
        return new
