"""The built-in dataset catalogue and ``load_dataset``, the one call that loads a dataset by name.

To add a dataset, write its loader (``path, *, mode -> Dataset``) and add one
:class:`DatasetInfo` row to ``CATALOGUE`` below.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.data.amazon import load_amazon_2018, load_amazon_cdr_domain, load_amazon_sequences
from freshrec.data.cache import cached_load
from freshrec.data.cleaning import dedupe as drop_duplicates
from freshrec.data.cleaning import filter_min_value, k_core
from freshrec.data.dataset import Dataset, LoadReport
from freshrec.data.lastfm import load_lastfm
from freshrec.data.mind import load_mind
from freshrec.data.movielens import load_movielens_1m, load_movielens_100k
from freshrec.data.obd import OBD_CAMPAIGNS, OBD_POLICIES, load_open_bandit
from freshrec.data.parsing import Mode, check_mode
from freshrec.data.recbole import load_recbole
from freshrec.data.synthetic import synthetic_stream

SYNTHETIC = "synthetic"

__all__ = [
    "SYNTHETIC",
    "CATALOGUE",
    "DatasetInfo",
    "clean_dataset",
    "dataset_info",
    "download_dataset",
    "list_datasets",
    "load_dataset",
    "summarize",
]

_GROUPLENS_TERMS = (
    "GroupLens terms (README in the archive): research use only, no redistribution or "
    "commercial use without permission; cite Harper and Konstan (2015)."
)
_AMAZON_TERMS = (
    "Amazon review data (McAuley et al.): distributed by its authors for research use only; "
    "cite the paper of the release."
)
_AMAZON_2018_TERMS = _AMAZON_TERMS.replace(
    "the paper of the release", "Ni, Li and McAuley (EMNLP 2019)"
)
_MIND_TERMS = (
    "Microsoft Research terms: non-commercial research only, provided as is; cite Wu et al., "
    "MIND (ACL 2020)."
)
_LASTFM_TERMS = (
    "HetRec 2011 Last.fm 2K: non-commercial use only (readme.txt); cite the HetRec 2011 "
    "workshop (Cantador, Brusilovsky, Kuflik, RecSys 2011)."
)


_OBD_TERMS = (
    "Open Bandit Dataset (ZOZO, Inc.), shipped in the Apache-2.0 obp package; cite Saito, "
    "Aihara, Matsutani and Narita (NeurIPS Datasets and Benchmarks 2021)."
)
_OBD_SHA256 = {
    "bts/all/all.csv": ("0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106"),
    "bts/all/item_context.csv": (
        "5d4359ba1cfa3ae88f0f1bae66bd633859fe6323817183632ee57b83539d9153"
    ),
    "bts/men/item_context.csv": (
        "3b411ed6b0471316321a6b93f4f756bb25888eac6218cd71d0b603d41d85732d"
    ),
    "bts/men/men.csv": ("db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527"),
    "bts/women/item_context.csv": (
        "a56295bad066a558eb783055afd9279f5f4e209a4776eafc22151c53f0ac89d4"
    ),
    "bts/women/women.csv": ("e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8"),
    "random/all/all.csv": ("7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1"),
    "random/all/item_context.csv": (
        "eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358"
    ),
    "random/men/item_context.csv": (
        "6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09"
    ),
    "random/men/men.csv": ("ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb"),
    "random/women/item_context.csv": (
        "b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147"
    ),
    "random/women/women.csv": ("e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry.

    Parameters
    ----------
    name
        The name used by :func:`load_dataset` and the CLI.
    folder
        Folder of the files under a data directory.
    loader
        ``loader(path, *, mode) -> Dataset``.
    files
        The files the loader reads (relative to ``folder``) and their sha256. They make the
        cache key and are checked after a download.
    url
        Public download URL of the original archive, or ``None`` when there is none.
    archive_sha256
        sha256 of the archive when known; otherwise only ``files`` are checked.
    archive_folder
        Folder inside the archive that holds the files.
    description, license
        One line each, shown by ``freshrec datasets list``.

    Examples
    --------
    >>> info = dataset_info("ml-100k")
    >>> info.folder, sorted(info.files)
    ('ml-100k', ['u.data', 'u.item', 'u.user'])
    """

    name: str
    folder: str
    loader: Callable[..., Dataset]
    files: Mapping[str, str]
    url: str | None
    archive_sha256: str | None
    archive_folder: str | None
    description: str
    license: str


def _obd_info(policy: str, campaign: str) -> DatasetInfo:
    files = [f"{policy}/{campaign}/{campaign}.csv", f"{policy}/{campaign}/item_context.csv"]
    logging = "uniform random" if policy == "random" else "Bernoulli Thompson sampling"
    return DatasetInfo(
        name=f"obd-{policy}-{campaign}",
        folder="open-bandit-dataset",
        loader=partial(load_open_bandit, policy=policy, campaign=campaign),
        files={name: _OBD_SHA256[name] for name in files},
        url=None,
        archive_sha256=None,
        archive_folder=None,
        description=f"Open Bandit Dataset (small), {campaign} campaign logged by {logging}: "
        "10,000 rounds with clicks, propensities, positions, user and item features.",
        license=_OBD_TERMS,
    )


CATALOGUE: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="ml-100k",
            folder="ml-100k",
            loader=load_movielens_100k,
            files={
                "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
                "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
                "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
            },
            url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            archive_sha256=None,
            archive_folder="ml-100k",
            description="MovieLens 100K: 100,000 ratings (1-5) with timestamps by 943 users on "
            "1,682 movies, 1997-1998; movie titles, genres, user demographics.",
            license=_GROUPLENS_TERMS,
        ),
        DatasetInfo(
            name="ml-1m",
            folder="ml-1m",
            loader=load_movielens_1m,
            files={
                "ratings.dat": "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f",
                "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
                "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
            },
            url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
            archive_sha256=None,
            archive_folder="ml-1m",
            description="MovieLens 1M: 1,000,209 ratings (1-5) with timestamps by 6,040 users "
            "on 3,706 movies, 2000-2003; movie titles, genres, user demographics.",
            license=_GROUPLENS_TERMS,
        ),
        DatasetInfo(
            name="ml-100k-recbole",
            folder="ml-100k-recbole",
            loader=partial(load_recbole, name="ml-100k"),
            files={
                "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
                "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="MovieLens 100K as RecBole atomic files (same rows and order as "
            "ml-100k u.data; ids are string tokens). Shipped inside the recbole package "
            "(recbole/dataset_example/ml-100k), with no download of its own.",
            license=_GROUPLENS_TERMS + " The recbole package itself is MIT.",
        ),
        DatasetInfo(
            name="amazon-2018-fashion",
            folder="amazon-2018-small",
            loader=partial(load_amazon_2018, category="AMAZON_FASHION"),
            files={
                "AMAZON_FASHION_5.json.gz": (
                    "5c73b65d0a5cc5dcd905b75a87086c37513ff0d023b02b381e729ab8a9541cb6"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon Review Data 2018, AMAZON_FASHION 5-core (raw JSON lines): "
            "3,176 reviews by 406 users on 31 items, 2009-2018.",
            license=_AMAZON_2018_TERMS,
        ),
        DatasetInfo(
            name="amazon-2018-all-beauty",
            folder="amazon-2018-small",
            loader=partial(load_amazon_2018, category="All_Beauty"),
            files={
                "All_Beauty_5.json.gz": (
                    "4a6b1eb40c4f58328f3f34181a6ef00f8e3423d801128617cc408a83c9bd0027"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon Review Data 2018, All_Beauty 5-core (raw JSON lines): "
            "5,269 reviews by 991 users on 85 items, 2004-2018.",
            license=_AMAZON_2018_TERMS,
        ),
        DatasetInfo(
            name="amazon-2018-appliances",
            folder="amazon-2018-small",
            loader=partial(load_amazon_2018, category="Appliances"),
            files={
                "Appliances_5.json.gz": (
                    "19f1f164e7c41e5bc43c1826ddbd1ae702511be9d2870c0fa04052407ac41fa3"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon Review Data 2018, Appliances 5-core (raw JSON lines): "
            "2,277 reviews by 47 users on 48 items, 2008-2018 (mostly repeats).",
            license=_AMAZON_2018_TERMS,
        ),
        DatasetInfo(
            name="amazon-2018-gift-cards",
            folder="amazon-2018-small",
            loader=partial(load_amazon_2018, category="Gift_Cards"),
            files={
                "Gift_Cards_5.json.gz": (
                    "41e1f0e50d3c1c9d7d949fb6315944c8bde51ea6b7429a29fdd0d02cbc07ef25"
                ),
                "meta_Gift_Cards.json.gz": (
                    "24ac90af3eb47d9c04458a61a44a76a882419190e027c6ec14ee0a993549c34a"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon Review Data 2018, Gift_Cards 5-core (raw JSON lines): "
            "2,972 reviews by 458 users on 148 items, 2012-2018; titles, categories.",
            license=_AMAZON_2018_TERMS,
        ),
        DatasetInfo(
            name="amazon-2018-magazine-subscriptions",
            folder="amazon-2018-small",
            loader=partial(load_amazon_2018, category="Magazine_Subscriptions"),
            files={
                "Magazine_Subscriptions_5.json.gz": (
                    "95c124603d62d6acdfd1bd62284934fb6c513db836ea64c2e8176c14256426f2"
                ),
                "meta_Magazine_Subscriptions.json.gz": (
                    "147cb78dac0f9ce04849b196e2e13cad6a504bff45d53500b7a1fe8121d91595"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon Review Data 2018, Magazine_Subscriptions 5-core (raw JSON lines): "
            "2,375 reviews by 348 users on 157 items, 2001-2018; titles, categories.",
            license=_AMAZON_2018_TERMS,
        ),
        DatasetInfo(
            name="amazon-beauty",
            folder="amazon-seq-tiicsrec",
            loader=partial(load_amazon_sequences, name="Beauty"),
            files={
                "Beauty_item.txt": (
                    "efe2ef6743cc1e5c9cd1cd326616f4f7278fd1c2e63859773ff3bc169de07354"
                ),
                "Beauty_time.txt": (
                    "312b07846b3e758be80a90a97b9324b64363761a8627e508f8482d1cecbf6da2"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon 2014 Beauty 5-core as per-user sequences with timestamps "
            "(day resolution; re-indexed ids): 198,502 events by 22,363 users on 12,101 "
            "items, 2002-2014.",
            license=_AMAZON_TERMS,
        ),
        DatasetInfo(
            name="amazon-sports",
            folder="amazon-seq-tiicsrec",
            loader=partial(load_amazon_sequences, name="Sports"),
            files={
                "Sports_item.txt": (
                    "b073d25dfaa27af850e416ca876da15abae9ae58bbefa2d736975b968e226e5a"
                ),
                "Sports_time.txt": (
                    "c97b8548574e0f7683928ab02f398935fb61ccb4c820606d2a85d97777e209bc"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="Amazon 2014 Sports 5-core as per-user sequences with timestamps "
            "(day resolution; re-indexed ids): 296,337 events by 35,598 users on 18,357 "
            "items, 2002-2014.",
            license=_AMAZON_TERMS,
        ),
        DatasetInfo(
            name="amazon-cdr-sports",
            folder="amazon-cdr-disencdr",
            loader=partial(load_amazon_cdr_domain, domain="sports"),
            files={
                "sport_cloth/train.txt": (
                    "45c517a6fc7721f168411b69eb3f6e6ef896bbe06f599f6f7b4a5844ff925629"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="DisenCDR Amazon Sports x Clothing pair, sports domain (training "
            "split; users shared with the other domain, no timestamps): 92,612 train events, "
            "9,928 users, 30,796 items.",
            license=_AMAZON_TERMS,
        ),
        DatasetInfo(
            name="amazon-cdr-clothing",
            folder="amazon-cdr-disencdr",
            loader=partial(load_amazon_cdr_domain, domain="clothing"),
            files={
                "cloth_sport/train.txt": (
                    "3e039ec9baff975cb47722c4704f7d2103c2bbf2a3c30ed2d264e17b69d4fd0a"
                ),
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="DisenCDR Amazon Sports x Clothing pair, clothing domain (training "
            "split; users shared with the other domain, no timestamps): 87,829 train events, "
            "9,928 users, 39,008 items.",
            license=_AMAZON_TERMS,
        ),
        DatasetInfo(
            name="mind-small-sample",
            folder="mind-small-sample",
            loader=load_mind,
            files={
                "behaviors.tsv": "2a101e15ce197ba488abffb91d337bd069823011838de14dacc46a26c91484a5",
                "news.tsv": "317a322c7b70518fb91ca08d937d1ec77a8b12fb9e28db5fc90374af16b354bf",
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="MIND-small train, random sample: 5,000 impressions by 4,637 users "
            "(189,359 shown news, 7,542 clicked), Nov 2019; 2,000 news rows (partial cover).",
            license=_MIND_TERMS,
        ),
        DatasetInfo(
            name="lastfm-2k",
            folder="lastfm-hetrec2011-2k",
            loader=load_lastfm,
            files={
                "user_artists.dat": (
                    "254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416"
                ),
                "artists.dat": "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648",
            },
            url=None,
            archive_sha256=None,
            archive_folder=None,
            description="HetRec 2011 Last.fm 2K: 92,834 listening counts by 1,892 users on "
            "17,632 artists (no timestamps); artist names; friend graph and tags beside.",
            license=_LASTFM_TERMS,
        ),
        *(_obd_info(policy, campaign) for policy in OBD_POLICIES for campaign in OBD_CAMPAIGNS),
    )
}


def list_datasets() -> list[DatasetInfo]:
    """The catalogue, in its order.

    Examples
    --------
    >>> [info.name for info in list_datasets()][:4]
    ['ml-100k', 'ml-1m', 'ml-100k-recbole', 'amazon-2018-fashion']
    """
    return list(CATALOGUE.values())


def dataset_info(name: str) -> DatasetInfo:
    """The catalogue entry of ``name``; ``ValueError`` naming the known datasets otherwise.

    Examples
    --------
    >>> dataset_info("ml-1m").url
    'https://files.grouplens.org/datasets/movielens/ml-1m.zip'
    """
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(CATALOGUE)
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}") from None


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str],
    *,
    mode: Mode = "strict",
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    dedupe: bool = False,
    min_rating: float | None = None,
    k_core: int = 0,
) -> Dataset:
    """Load a catalogue dataset from ``data_dir / info.folder``, cached, then cleaned.

    ``name="synthetic"`` gives the built-in seeded stream
    (:func:`freshrec.data.synthetic.synthetic_stream` with its defaults; no files needed).

    Parameters
    ----------
    name
        A catalogue name (see :func:`list_datasets`).
    data_dir
        The folder that holds the dataset folders (e.g. ``../shared/data``).
    mode
        ``"strict"`` or ``"lenient"`` parsing (see :mod:`freshrec.data.parsing`).
    cache_dir
        Cache folder (``~/.cache/freshrec`` when ``None``); ``use_cache=False`` skips it.
    dedupe
        Drop exact duplicate events (same user, item, value, timestamp).
    min_rating
        Keep only events with ``value >= min_rating``.
    k_core
        Then keep the k-core: every user and item with at least ``k_core`` events.

    The rows removed by cleaning are added to ``dataset.report`` under ``"duplicate"``,
    ``"below min_rating"`` and ``"k-core"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "ml-100k").mkdir()
    >>> _ = (root / "ml-100k" / "u.data").write_text("1\\t10\\t5\\t100\\n1\\t11\\t2\\t101\\n")
    >>> ds = load_dataset("ml-100k", root, min_rating=3, use_cache=False)
    >>> len(ds.events), dict(ds.report.skipped)
    (1, {'below min_rating': 1})
    """
    if name == SYNTHETIC:
        return clean_dataset(synthetic_stream(), dedupe, min_rating, k_core)
    info = dataset_info(name)
    check_mode(mode)
    folder = Path(data_dir) / info.folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist: run `freshrec datasets download {name}` "
            f"or point data_dir at the folder that holds {info.folder}/"
        )

    def build() -> Dataset:
        return info.loader(folder, mode=mode)

    if use_cache:
        files = [folder / f for f in info.files if (folder / f).exists()]
        dataset = cached_load(build, files, loader=name, mode=mode, cache_dir=cache_dir)
    else:
        dataset = build()
    return clean_dataset(replace(dataset, name=name), dedupe, min_rating, k_core)


def download_dataset(
    name: str,
    data_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download catalogue dataset ``name`` into ``data_dir / info.folder`` and verify it.

    Same as :func:`freshrec.data.download.download`; ``url`` replaces the catalogue URL
    (a mirror or a ``file://`` copy) and the files are still checked against ``info.files``.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(work / "mirror.zip", "w") as zf:
    ...     zf.writestr("ml-100k/notes.txt", "not MovieLens")
    >>> download_dataset("ml-100k", work / "data", url=(work / "mirror.zip").as_uri())
    Traceback (most recent call last):
    ...
    freshrec.errors.DataError: file:///...mirror.zip: u.data is missing from the archive
    """
    from freshrec.data.download import download  # imported here: download imports this module

    return download(name, data_dir, url=url, progress=progress)


def summarize(dataset: Dataset) -> dict[str, Any]:
    """Counts and time span of a dataset, as shown by ``freshrec datasets info``.

    Times are ISO 8601 in UTC (``None`` without timestamps).

    Examples
    --------
    >>> from freshrec.data import Event, EventBatch
    >>> ds = Dataset("toy", EventBatch.from_events([Event(1, 2, 4.0, 0.0), Event(2, 2, 3.0, 60.0)]))
    >>> summarize(ds)  # doctest: +NORMALIZE_WHITESPACE
    {'name': 'toy', 'rows': 2, 'users': 2, 'items': 1,
     'start': '1970-01-01T00:00:00Z', 'end': '1970-01-01T00:01:00Z'}
    """
    times = dataset.events.timestamp
    span: list[str | None] = [None, None]
    if times is not None and len(times) > 0:
        span = [_iso(float(np.nanmin(times))), _iso(float(np.nanmax(times)))]
    return {
        "name": dataset.name,
        "rows": len(dataset.events),
        "users": dataset.n_users,
        "items": dataset.n_items,
        "start": span[0],
        "end": span[1],
    }


def clean_dataset(
    dataset: Dataset, dedupe: bool = False, min_rating: float | None = None, k: int = 0
) -> Dataset:
    """``dataset`` less duplicates, values below ``min_rating`` and the non-``k``-core rows.

    The removed rows are counted in the report under ``"duplicate"``, ``"below min_rating"``
    and ``"k-core"``.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> from freshrec.data.batch import EventBatch
    >>> ds = Dataset("toy", EventBatch.from_events([Event("a", "x", 4.0), Event("a", "y", 1.0)]))
    >>> dict(clean_dataset(ds, min_rating=3).report.skipped)
    {'below min_rating': 1}
    """
    events = dataset.events
    removed: Counter[str] = Counter()
    if dedupe:
        events, removed["duplicate"] = drop_duplicates(events)
    if min_rating is not None:
        events, removed["below min_rating"] = filter_min_value(events, min_rating)
    if k > 1:
        events, removed["k-core"] = k_core(events, min_user=k, min_item=k)
    removed = +removed  # drop zero counts
    if not removed:
        return dataset
    old = dataset.report or LoadReport(rows_read=len(dataset.events), rows_kept=len(dataset.events))
    report = LoadReport(
        rows_read=old.rows_read,
        rows_kept=len(events),
        skipped=old.skipped + removed,
        examples=dict(old.examples),
    )
    return replace(dataset, events=events, report=report)


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")
