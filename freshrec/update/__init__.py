"""Keeping fitted models up to date.

- :mod:`.strategies`: update strategies (frozen, full retrain, fine-tune with or without
  replay, EWC or distillation, streaming, hybrid, on-drift) and :func:`~.strategies.make_strategy`;
- :mod:`.adaptive`: the controller that picks an update action per window (a bandit) and
  rolls back a version that got worse;
- :mod:`.replay`: the retained history (all or a sliding window) and the reservoir replay buffer;
- :mod:`.forgetting`: EWC and self-distillation;
- :mod:`.ids`: id admission, eviction under a row budget and reuse of freed rows;
- :mod:`.structure`: quantization, pruning, widening and migration of trained models;
- :mod:`.transfer`: fine-tuning a target-domain model from a source-domain one;
- :mod:`.item_init`: initial vectors for new items (mean, category average, content).
"""

from __future__ import annotations

from freshrec.update.item_init import (
    ContentProjection,
    add_items,
    category_average_rows,
    mean_rows,
    set_item_rows,
)

__all__ = ["ContentProjection", "add_items", "category_average_rows", "mean_rows", "set_item_rows"]
