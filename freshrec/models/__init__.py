"""Recommender models, one per file, and the one explicit registry of their short names.

Examples
--------
>>> "popular" in REGISTRY
True
>>> make_model("popular", half_life_s=3600.0)
MostPopular(half_life_s=3600.0, threshold=1.0)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
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
    "Registry",
    "ContentKNN",
    "ItemKNN",
    "MostPopular",
    "UserKNN",
    "make_model",
]


class Registry(Mapping[str, type[RecommenderBase]]):
    """Short model names -> classes; a class given as a dotted path is imported on first use.

    Dotted paths keep ``import freshrec.models`` light: torch models load only when asked for.

    Examples
    --------
    >>> registry = Registry({"pop": MostPopular, "knn": "freshrec.models.item_knn.ItemKNN"})
    >>> sorted(registry), registry["knn"].__name__
    (['knn', 'pop'], 'ItemKNN')
    """

    def __init__(self, entries: Mapping[str, type[RecommenderBase] | str]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> type[RecommenderBase]:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, cls_name = entry.rpartition(".")
            entry = getattr(importlib.import_module(module), cls_name)
            self._entries[name] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


REGISTRY = Registry(
    {
        "popular": MostPopular,
        "biased-mf": BiasedMF,
        "item-knn": ItemKNN,
        "user-knn": UserKNN,
        "bpr": BPR,
        "als": ALS,
        "content": ContentKNN,
        "neumf": "freshrec.models.neumf.NeuMF",
        "sasrec": "freshrec.models.sasrec.SASRec",
        "hstu": "freshrec.models.hstu.HSTU",
        "gru4rec": "freshrec.models.gru4rec.GRU4Rec",
        "caser": "freshrec.models.caser.Caser",
        "fm": "freshrec.models.deepfm.FM",
        "deepfm": "freshrec.models.deepfm.DeepFM",
        "cfgan": "freshrec.models.cfgan.CFGAN",
        "irgan": "freshrec.models.irgan.IRGAN",
        "two-tower": "freshrec.models.two_tower.TwoTower",
    }
)


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
        module, _, cls_name = name.rpartition(".")
        return getattr(importlib.import_module(module), cls_name)(**params)  # type: ignore[no-any-return]
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(REGISTRY)} or a dotted path")
