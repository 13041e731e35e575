"""Recommender models, one per file, and the one explicit registry of their short names.

Examples
--------
>>> "popular" in REGISTRY
True
>>> make_model("popular", half_life_s=3600.0)
MostPopular(half_life_s=3600.0, threshold=1.0)
"""

from __future__ import annotations

from typing import Any

from freshrec.base import RecommenderBase
from freshrec.models.als import ALS
from freshrec.models.biased_mf import BiasedMF
from freshrec.models.bpr import BPR
from freshrec.models.content import ContentKNN
from freshrec.models.item_knn import ItemKNN
from freshrec.models.popular import MostPopular
from freshrec.models.user_knn import UserKNN

__all__ = [
    "ALS",
    "BPR",
    "REGISTRY",
    "BiasedMF",
    "ContentKNN",
    "ItemKNN",
    "MostPopular",
    "UserKNN",
    "make_model",
]

REGISTRY: dict[str, type[RecommenderBase]] = {
    "popular": MostPopular,
    "biased-mf": BiasedMF,
    "item-knn": ItemKNN,
    "user-knn": UserKNN,
    "bpr": BPR,
    "als": ALS,
    "content": ContentKNN,
}


def make_model(name: str, **params: Any) -> RecommenderBase:
    """Build a registered model by short name, or by dotted path ``package.module.Class``.

    Examples
    --------
    >>> make_model("freshrec.models.popular.MostPopular")
    MostPopular(half_life_s=None, threshold=1.0)
    """
    if name in REGISTRY:
        return REGISTRY[name](**params)
    if "." in name:
        import importlib

        module, _, cls_name = name.rpartition(".")
        return getattr(importlib.import_module(module), cls_name)(**params)  # type: ignore[no-any-return]
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(REGISTRY)} or a dotted path")
