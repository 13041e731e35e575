"""Social case: Last.fm artists for a user from a GAN, a CNN and the friends' histories.

- **cfgan** (GAN user model): :class:`~freshrec.models.cfgan.CFGAN`, a generator that turns
  a user's listening vector into scores, trained against a discriminator;
- **caser** (CNN): :class:`~freshrec.models.caser.Caser` over each user's artists in time
  order. Listening has no timestamps, so the clock is the tag assignments: an artist the
  user tagged takes the date of the user's first tag on it; artists never tagged by the
  user come first, fewest plays first, so the latest positions hold the dated ones;
- **friends**: :class:`FriendsHistory`, the share of the user's friends who listen to each
  artist (their training histories);
- **bpr**: the baseline.

Blends (:class:`~freshrec.cases.common.Blend`, weights by validation NDCG@10 on a simplex
grid): ``cfgan+friends`` and ``caser+friends`` (the model's z-scores plus ``beta`` times the
friends' z-scores, ``beta = w_friends / w_model``), ``cfgan+caser`` (no friends) and
``hybrid`` (all three).

**Protocol.** The 5-core of the listening pairs (71,355 pairs, 1,859 users, 2,823 artists:
the tail heard by fewer than 5 users cannot be evaluated fairly and makes the vector-wise
CFGAN 6x slower), then a per-user random 8:1:1 split
(:func:`~freshrec.data.splits.random_split`, seeded by ``--seed``): listening has no
timestamps, and tag dates cover about a fifth of the pairs, so a temporal split would test
on a biased fifth. Each pair is a positive whatever its play count. Models stop early on the
validation NDCG@10; test ranks every artist, the user's train and validation ones masked.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from rich.console import Console

from freshrec.base import RecommenderBase
from freshrec.cases.common import (
    Blend,
    WeightSearch,
    choose_weights,
    evaluate_models,
    fit_models,
    params_of,
    print_case,
    sample_events,
    write_case,
)
from freshrec.data.batch import EventBatch, Events
from freshrec.data.dataset import LoadReport
from freshrec.data.lastfm import load_lastfm_friends
from freshrec.data.parsing import Field, parse_delimited
from freshrec.data.registry import dataset_info, load_dataset
from freshrec.data.splits import Split, five_core, random_split
from freshrec.jobs.report import Results
from freshrec.models.bpr import BPR
from freshrec.models.profiles import PositivesModel
from freshrec.progress import step_progress

__all__ = ["DATASET", "FriendsHistory", "run"]

DATASET = "lastfm-2k"
"""The catalogue dataset this case reads."""

# BPR's validation NDCG@10 sits at the popularity level for ~20 epochs before it climbs
# (best epoch ~140 of 200 with lr 0.03 decaying): hence the long patience
_CASER = {"dim": 50, "max_len": 50, "loss": "sampled-softmax", "lr": 0.005, "patience": 3}
_CFGAN = {"lr": 3e-4, "batch_size": 64, "alpha": 0.1, "patience": 10}
_FULL: dict[str, Any] = {
    "bpr": {"n_epochs": 200, "patience": 20},
    "cfgan": {**_CFGAN, "n_epochs": 40},
    "caser": {**_CASER, "n_epochs": 30},
    "grid_steps": 10,
}
_QUICK: dict[str, Any] = {
    "bpr": {"n_epochs": 5},
    "cfgan": {**_CFGAN, "n_epochs": 2},
    "caser": {**_CASER, "n_epochs": 2},
    "grid_steps": 4,
    "subset": {"n_users": 400, "n_items": 1000},
}
_BLENDS = {
    "cfgan+friends": ("cfgan", "friends"),
    "caser+friends": ("caser", "friends"),
    "cfgan+caser": ("cfgan", "caser"),
    "hybrid": ("cfgan", "caser", "friends"),
}


class FriendsHistory(PositivesModel):
    """Scores an item by the share of the user's friends who have it among their positives.

    ``score(u, i) = |{f in F(u) : x_fi = 1}| / |F(u)|``, where ``F(u)`` are ``u``'s friends
    known to the model and ``x_f`` a friend's learned positives (``value >= threshold``).
    A user without known friends scores 0 everywhere; unknown users get item popularity.
    The friend graph is data: give it as ``fit(events, friends=edges)`` or later with
    :meth:`set_friends`; ``edges`` is an array (n_edges, 2) of external user ids, each row
    ``(user, friend)`` read in that direction only (Last.fm lists both directions).

    Parameters
    ----------
    threshold
        Events with ``value >= threshold`` count as positives.

    Examples
    --------
    >>> from freshrec.data import Event
    >>> events = [Event("ann", "a"), Event("bob", "b"), Event("cy", "b"), Event("cy", "c")]
    >>> friends = np.array([["ann", "bob"], ["ann", "cy"]], dtype=object)
    >>> model = FriendsHistory().fit(events, friends=friends)
    >>> model.score("ann", ["a", "b", "c"]).tolist()
    [0.0, 1.0, 0.5]
    """

    _state_arrays = ("friend_pairs_",)
    friend_pairs_: np.ndarray

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold

    def fit(
        self, events: Events, *, valid: EventBatch | None = None, friends: np.ndarray | None = None
    ) -> Self:
        """Forget everything, then learn ``events`` and the friend graph ``friends``."""
        self.reset()
        return self.partial_fit(events, valid=valid, friends=friends)

    def partial_fit(
        self,
        events: Events,
        *,
        valid: EventBatch | None = None,
        replay: Events | None = None,
        friends: np.ndarray | None = None,
    ) -> Self:
        """Learn ``events``; ``friends`` (when given) replaces the friend graph."""
        super().partial_fit(events, valid=valid, replay=replay)
        if friends is not None:
            self.set_friends(friends)
        return self

    def set_friends(self, friends: np.ndarray) -> Self:
        """Replace the friend graph; edges with a user the model does not know are dropped.

        Examples
        --------
        >>> from freshrec.data import Event
        >>> model = FriendsHistory().fit([Event(1, "a"), Event(2, "a")])
        >>> model.set_friends(np.array([[1, 2], [1, 99]])).friend_pairs_.tolist()
        [[0, 1]]
        """
        self._check_fitted()
        edges = np.asarray(friends).reshape(-1, 2)
        pairs = np.stack(
            [self.user_map_.encode(edges[:, 0]), self.user_map_.encode(edges[:, 1])], axis=1
        )
        self.friend_pairs_ = pairs[(pairs >= 0).all(axis=1)].astype(np.int64)
        return self

    def _grow(self, n_users: int, n_items: int) -> None:
        super()._grow(n_users, n_items)
        if not hasattr(self, "friend_pairs_"):
            self.friend_pairs_ = np.zeros((0, 2), dtype=np.int64)

    def _learn(self, batch: EventBatch, valid: EventBatch | None) -> None:
        self._learn_positives(batch)

    def _score(self, user_idx: np.ndarray, item_idx: np.ndarray | None) -> np.ndarray:
        pairs, shape = self.friend_pairs_, (self.n_users, self.n_users)
        graph = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=shape)
        rows = (graph[user_idx] > 0).astype(np.float64)  # a repeated edge counts once
        degree = np.maximum(np.asarray(rows.sum(axis=1)).ravel(), 1.0)
        scores: np.ndarray = np.asarray((rows @ self.positives_).todense()) / degree[:, None]
        return scores if item_idx is None else scores[:, item_idx]


def _tag_dates(folder: Path, users: np.ndarray) -> dict[tuple[int, int], float]:
    """(user, artist) -> Unix seconds of the user's first tag on the artist."""
    fields = [Field(name, "int") for name in ("user", "item", "tag", "day", "month", "year")]
    path = folder / "user_taggedartists.dat"
    data = path.read_bytes()
    body = data[data.find(b"\n") + 1 :]
    cols = parse_delimited(
        body, fields, sep="\t", file=str(path), mode="lenient", report=LoadReport(), first_line=2
    )
    months = (cols["year"] - 1970) * 12 + np.clip(cols["month"], 1, 12) - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]") + np.clip(cols["day"], 1, 31) - 1
    seconds = days.astype("datetime64[s]").astype(np.float64)
    keep = np.isin(cols["user"], users)
    order = np.argsort(seconds[keep], kind="stable")
    pairs = np.stack([cols["user"][keep], cols["item"][keep]], axis=1)[order]
    unique, first = np.unique(pairs, axis=0, return_index=True)  # each pair's earliest tag
    times = seconds[keep][order][first]
    return {(u, i): t for (u, i), t in zip(unique.tolist(), times.tolist(), strict=True)}


def _in_time_order(split: Split, dates: dict[tuple[int, int], float]) -> EventBatch:
    """The training events with tag dates as timestamps; undated pairs first, fewest plays
    first."""
    train = split.train
    stamp = np.array(
        [dates.get((int(u), int(i)), np.nan) for u, i in zip(train.user, train.item, strict=True)]
    )
    dated = ~np.isnan(stamp)
    stamp[~dated] = (stamp[dated].min() if dated.any() else 0.0) - 1.0
    order = np.lexsort((train.value, stamp))  # by date, then by plays
    return train.take(order).with_columns(timestamp=stamp[order])


def _models(settings: dict[str, Any], seed: int) -> dict[str, RecommenderBase]:
    from freshrec.models.caser import Caser
    from freshrec.models.cfgan import CFGAN

    return {
        "bpr": BPR(**settings["bpr"], seed=seed),
        "cfgan": CFGAN(**settings["cfgan"], seed=seed),
        "caser": Caser(**settings["caser"], seed=seed),
        "friends": FriendsHistory(),
    }


def run(
    data_dir: Path,
    out: Path,
    *,
    seed: int = 0,
    quick: bool = False,
    cache_dir: Path | None = None,
    console: Console | None = None,
) -> tuple[Results, list[Path]]:
    """Run the social case on ``data_dir``'s Last.fm 2K and write the report to ``out``.

    ``quick`` keeps the 2,000 most played artists and 300 random users, and trains 2
    epochs. Returns the results and the written files.

    Examples
    --------
    >>> from freshrec.cases import run_case
    >>> results, written = run_case("social", "case-social", data_dir="../shared/data",
    ...                             quick=True)  # doctest: +SKIP
    >>> results.models  # doctest: +SKIP
    ['bpr', 'cfgan', 'caser', 'friends', 'cfgan+friends', 'caser+friends', 'cfgan+caser', 'hybrid']

    (Skipped here: it needs the dataset; ``tests/cases/test_cases.py`` runs it.)
    """
    console = console or Console(quiet=True)
    settings = _QUICK if quick else _FULL
    folder = Path(data_dir) / dataset_info(DATASET).folder
    with step_progress(console, "social", 1 + 2 * (4 + len(_BLENDS))) as advance:
        events = load_dataset(DATASET, data_dir, cache_dir=cache_dir).events
        if quick:
            events = sample_events(events, seed=seed, **settings["subset"])
        split = random_split(five_core(events), seed=seed)
        assert split.valid is not None
        friends = load_lastfm_friends(folder)
        dates = _tag_dates(folder, np.unique(events.user))
        pairs = zip(split.train.user.tolist(), split.train.item.tolist(), strict=True)
        n_dated = sum(pair in dates for pair in pairs)
        advance(f"{len(split.train):,} train events, {len(friends):,} friend edges")
        models = _models(settings, seed)
        inputs: dict[str, dict[str, Any]] = {
            "friends": {"friends": friends},
            "caser": {"train": _in_time_order(split, dates)},
        }
        timing = fit_models(models, split.train, split.valid, inputs=inputs, on_fit=advance)
        ranked: dict[str, RecommenderBase] = dict(models)
        searches: dict[str, WeightSearch] = {}
        start = time.perf_counter()
        for blend_name, names in _BLENDS.items():
            ranked[blend_name] = blend = Blend({n: models[n] for n in names}).fit(split.train)
            searches[blend_name] = choose_weights(
                blend, split.train, split.valid, steps=settings["grid_steps"], seed=seed
            )
            advance(f"weights of {blend_name}")
        timing["weights_s"] = time.perf_counter() - start
        start = time.perf_counter()
        rows = evaluate_models(ranked, split, metrics=("recall", "ndcg", "hit"), on_step=advance)
        timing["eval_s"] = time.perf_counter() - start
    betas = {  # friends' weight relative to the model's; inf: friends alone won
        name: s.weights[1] / s.weights[0] if s.weights[0] > 0 else float("inf")
        for name, s in searches.items()
        if s.names[1:] == ("friends",)
    }
    results = Results(
        command="case social",
        dataset=DATASET + (" (quick subset)" if quick else ""),
        protocol="random 8:1:1 per user",
        seeds=[seed],
        rows=rows,
        timing=timing,
        params=params_of(models),
        extra={
            "split": {p: len(getattr(split, p)) for p in ("train", "valid", "test")},
            "friend_edges": len(friends),
            "dated_train_pairs": n_dated,
            "beta": betas,
        },
    )
    notes = [
        "beta = w_friends / w_model of each two-part blend: "
        + ", ".join(f"{name} {beta:.2f}" for name, beta in betas.items()),
        f"{n_dated:,} of the {len(split.train):,} training pairs carry a tag date (Caser's clock).",
    ]
    written = write_case(results, out, searches, notes, about=__doc__ or "")
    print_case(console, results, ("recall@10", "ndcg@10", "hit@10", "coverage@10"))
    return results, written
