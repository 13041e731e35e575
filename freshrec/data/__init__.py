"""Events, id maps, datasets, loaders, splits and stream replay."""

from __future__ import annotations

from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.events import Event
from freshrec.data.idmap import IdMap
from freshrec.data.interactions import InteractionLog

__all__ = [
    "Dataset",
    "Event",
    "EventBatch",
    "Events",
    "IdMap",
    "InteractionLog",
    "LoadReport",
    "SideTable",
    "as_batch",
]
