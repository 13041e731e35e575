"""Keeping fitted models up to date: initial vectors for new items (:mod:`.item_init`)."""

from __future__ import annotations

from freshrec.update.item_init import (
    ContentProjection,
    add_items,
    category_average_rows,
    mean_rows,
    set_item_rows,
)

__all__ = ["ContentProjection", "add_items", "category_average_rows", "mean_rows", "set_item_rows"]
