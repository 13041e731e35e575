"""Events, id maps, datasets, loaders, splits and stream replay."""

from __future__ import annotations

from freshrec.data.amazon import (
    load_amazon_2018,
    load_amazon_cdr_domain,
    load_amazon_cross_domain,
    load_amazon_reviews,
    load_amazon_sequences,
)
from freshrec.data.batch import EventBatch, Events, as_batch
from freshrec.data.cleaning import clean, dedupe, drop_missing_ids, filter_min_value, k_core
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.events import Event
from freshrec.data.idmap import IdMap
from freshrec.data.interactions import InteractionLog
from freshrec.data.lastfm import load_lastfm, load_lastfm_friends, load_lastfm_tags
from freshrec.data.mind import load_mind
from freshrec.data.movielens import load_movielens_1m, load_movielens_100k
from freshrec.data.recbole import load_recbole
from freshrec.data.registry import (
    DatasetInfo,
    dataset_info,
    download_dataset,
    list_datasets,
    load_dataset,
    summarize,
)
from freshrec.data.splits import (
    PROTOCOLS,
    Split,
    leave_last_out,
    random_split,
    split_by_name,
    temporal_global_split,
    temporal_user_split,
)
from freshrec.data.stream import (
    WarmStart,
    Window,
    iter_micro_batches,
    iter_windows,
    time_ordered,
    warm_start_split,
)
from freshrec.data.synthetic import synthetic_stream
from freshrec.data.tabular import load_table

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
    "DatasetInfo",
    "clean",
    "dataset_info",
    "dedupe",
    "download_dataset",
    "drop_missing_ids",
    "filter_min_value",
    "k_core",
    "list_datasets",
    "load_dataset",
    "load_movielens_100k",
    "load_movielens_1m",
    "load_recbole",
    "load_table",
    "summarize",
    "PROTOCOLS",
    "Split",
    "leave_last_out",
    "random_split",
    "split_by_name",
    "temporal_global_split",
    "temporal_user_split",
    "WarmStart",
    "Window",
    "iter_micro_batches",
    "iter_windows",
    "time_ordered",
    "warm_start_split",
    "synthetic_stream",
    "load_amazon_2018",
    "load_amazon_cdr_domain",
    "load_amazon_cross_domain",
    "load_amazon_reviews",
    "load_amazon_sequences",
    "load_lastfm",
    "load_lastfm_friends",
    "load_lastfm_tags",
    "load_mind",
]
