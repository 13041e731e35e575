"""A seeded synthetic event stream with new items and shifting popularity."""

from __future__ import annotations

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, SideTable

__all__ = ["START_TIME", "synthetic_stream"]

START_TIME = 1_600_000_000.0
"""Timestamp of the first synthetic event (2020-09-13, Unix seconds)."""

_GENRES = (
    "action",
    "comedy",
    "drama",
    "horror",
    "romance",
    "sci-fi",
    "thriller",
    "documentary",
    "animation",
    "fantasy",
    "mystery",
    "western",
)
_ADJECTIVES = (
    "Quiet",
    "Golden",
    "Broken",
    "Hidden",
    "Last",
    "Bright",
    "Silent",
    "Wild",
    "Lost",
    "Final",
    "Frozen",
    "Distant",
    "Crimson",
    "Endless",
    "Secret",
    "Little",
)
_TASTE_WEIGHT = 2.0  # weight of user-item affinity in the choice utility
_CHUNK = 256  # events drawn per step; availability and popularity are fixed within a step


def synthetic_stream(
    n_users: int = 500,
    n_items: int = 300,
    n_events: int = 30_000,
    n_factors: int = 8,
    n_categories: int = 10,
    span_days: float = 90.0,
    drift: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """A synthetic stream of explicit ratings whose catalogue and popularity change over time.

    The generative process, all drawn from one ``np.random.Generator(seed)``:

    1. **Content.** Each category ``k`` has a centre ``c_k ~ N(0, I)`` in a
       ``n_factors``-dimensional taste space. Item ``i`` gets a category ``k_i`` uniformly and
       factors ``q_i = (c_{k_i} + 0.5 e_i) / sqrt(n_factors)``, ``e_i ~ N(0, I)``, so the
       category (and the title, which names it) tells much about who likes the item.
    2. **Users.** User ``u`` has tastes ``p_u ~ N(0, I)`` and an activity
       ``w_u ~ LogNormal(0, 0.6)``.
    3. **Arrivals.** Item ids follow arrival order. Half the catalogue arrives during the
       quarter-span before the first event; the rest arrives uniformly over the first 90%
       of the span. No event involves an item before its arrival.
    4. **Popularity.** Item ``i`` has an appeal ``a_i ~ N(0, 1.5^2)`` and a life cycle
       ``g(x) = log(0.3 + x exp(1 - x))`` of its age ``x = (t - arrival_i) / tau_i`` (rise to
       a peak at ``tau_i``, then decay), with ``tau_i = span / 5 * LogNormal(0, 0.5)``.
       ``n_items // 10`` trending bursts each lift one item by ``2 exp(-d^2 / 2)`` where
       ``d`` is the distance in time to the burst's centre in units of ``span / 60``.
       The popularity is ``pop_i(t) = a_i + drift * (g(x) + bursts_i(t))``, so ``drift=0``
       keeps popularity fixed (items still arrive).
    5. **Events.** Timestamps are integer seconds from :data:`START_TIME`, strictly
       increasing, about ``span_days`` in all. Events are drawn in steps of 256: the acting
       user is drawn with probability proportional to ``w_u`` among users who still have an
       unseen available item, and the item by a softmax over the available items the user
       has not rated yet, of ``2 p_u . q_i + pop_i(t)`` (the Gumbel-max trick). Within a
       step, availability and popularity are those at the step's first timestamp; a user
       drawn twice for the same item in one step keeps only the first event, and later
       steps fill the gap. So a user rates an item at most once.
    6. **Ratings.** ``value = clip(rint(2.8 + z + n), 1, 5)``, ``n ~ N(0, 0.7^2)``, where
       ``z`` is the affinity ``p_u . q_i`` standardised over all user-item pairs, so both
       explicit models and implicit ones (``value >= 3``, say) can learn from it.

    Parameters
    ----------
    n_users, n_items
        Sizes of the user base and of the whole catalogue (side table rows).
    n_events
        Number of events; at most ``n_users * n_items`` (a pair is rated once).
    n_factors
        Dimension of the latent tastes.
    n_categories
        Number of item categories (named after film genres, then ``genre-<k>``).
    span_days
        Time covered by the events, in days.
    drift
        Strength of the popularity life cycles and bursts; 0 makes popularity stationary.
    seed
        Seed of every random draw; the same arguments give the same data.

    Returns
    -------
    Dataset
        ``name="synthetic"``; events with int user and item ids, values 1-5 and timestamps
        (time-ordered); ``items`` side table with ``title``, ``category`` and ``arrival``.
        Generating holds a dense ``(n_users, n_items)`` boolean table of rated pairs.

    Examples
    --------
    >>> ds = synthetic_stream(n_users=3, n_items=4, n_events=6, n_categories=2)
    >>> len(ds.events), sorted(ds.items.columns)
    (6, ['arrival', 'category', 'title'])
    >>> bool((ds.events.value >= 1).all() and (ds.events.value <= 5).all())
    True
    >>> bool((ds.events.timestamp[1:] > ds.events.timestamp[:-1]).all())
    True
    """
    if min(n_users, n_items, n_factors, n_categories) < 1 or span_days <= 0:
        raise ValueError("n_users, n_items, n_factors, n_categories and span_days must be > 0")
    if not 0 <= n_events <= n_users * n_items:
        raise ValueError(f"n_events must be in [0, n_users * n_items], got {n_events}")
    rng = np.random.default_rng(seed)
    span_s = span_days * 86_400.0

    centres = rng.normal(size=(n_categories, n_factors))
    category = rng.integers(n_categories, size=n_items)
    spread = 0.5 * rng.normal(size=(n_items, n_factors))
    item_factors = (centres[category] + spread) / np.sqrt(n_factors)
    user_factors = rng.normal(size=(n_users, n_factors))
    activity = rng.lognormal(0.0, 0.6, size=n_users)
    arrival = _arrivals(rng, n_items, span_s)
    popularity = _Popularity(rng, arrival, span_s, drift)

    gaps = 1.0 + rng.poisson(max(span_s / max(n_events, 1) - 1.0, 0.0), size=n_events)
    times = START_TIME + np.cumsum(gaps) - gaps[:1].sum()
    users, items = _draw_events(
        rng, times, activity, user_factors, item_factors, arrival, popularity
    )

    affinity = np.einsum("nf,nf->n", user_factors[users], item_factors[items])
    mean, std = _affinity_moments(user_factors, item_factors)
    z = (affinity - mean) / std
    noise = rng.normal(scale=0.7, size=n_events)
    values = np.clip(np.rint(2.8 + z + noise), 1, 5).astype(np.float32)
    events = EventBatch(users, items, values, timestamp=times)
    return Dataset("synthetic", events, items=_item_table(rng, category, arrival))


class _Popularity:
    """Item popularity ``pop_i(t)``: appeal, life cycle by age, trending bursts."""

    def __init__(
        self, rng: np.random.Generator, arrival: np.ndarray, span_s: float, drift: float
    ) -> None:
        n_items = len(arrival)
        self.arrival = arrival
        self.drift = drift
        self.appeal = rng.normal(scale=1.5, size=n_items)
        self.tau = span_s / 5.0 * rng.lognormal(0.0, 0.5, size=n_items)
        n_bursts = n_items // 10
        self.burst_item = rng.integers(n_items, size=n_bursts)
        earliest = np.maximum(arrival[self.burst_item], START_TIME)
        self.burst_centre = rng.uniform(earliest, START_TIME + span_s)
        self.burst_width = span_s / 60.0

    def at(self, t: float) -> np.ndarray:
        """Popularity of every item at time ``t``, shape (n_items,)."""
        x = np.maximum(t - self.arrival, 0.0) / self.tau
        life_cycle = np.log(0.3 + x * np.exp(1.0 - x))
        d = (t - self.burst_centre) / self.burst_width
        bursts = np.bincount(
            self.burst_item, weights=2.0 * np.exp(-0.5 * d**2), minlength=len(self.arrival)
        )
        return self.appeal + self.drift * (life_cycle + bursts)


def _arrivals(rng: np.random.Generator, n_items: int, span_s: float) -> np.ndarray:
    """Sorted arrival times: half in the quarter-span before the start, the rest during it."""
    n_initial = max(1, int(round(0.5 * n_items)))
    initial = START_TIME - rng.uniform(0.0, span_s / 4.0, size=n_initial)
    later = START_TIME + rng.uniform(0.0, 0.9 * span_s, size=n_items - n_initial)
    return np.sort(np.concatenate([initial, later]))


def _draw_events(
    rng: np.random.Generator,
    times: np.ndarray,
    activity: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    arrival: np.ndarray,
    popularity: _Popularity,
) -> tuple[np.ndarray, np.ndarray]:
    """Users and items of the events at ``times``, drawn in steps (see ``synthetic_stream``)."""
    n_users, n_items = len(user_factors), len(item_factors)
    n_events = len(times)
    users = np.empty(n_events, dtype=np.int64)
    items = np.empty(n_events, dtype=np.int64)
    seen = np.zeros((n_users, n_items), dtype=bool)
    n_seen = np.zeros(n_users, dtype=np.int64)
    pos = 0
    while pos < n_events:
        t = times[pos]
        n_available = int(np.searchsorted(arrival, t, side="right"))
        weight = activity * (n_seen < n_available)
        if weight.sum() == 0:
            raise ValueError("every user has rated every available item; ask for fewer events")
        m = min(_CHUNK, n_events - pos)
        who = rng.choice(n_users, size=m, p=weight / weight.sum())
        # einsum, not BLAS: with so few factors, BLAS threads cost more than they save
        affinity = np.einsum("uf,if->ui", user_factors[who], item_factors[:n_available])
        utility = _TASTE_WEIGHT * affinity + popularity.at(t)[:n_available]
        gumbel = -np.log(rng.standard_exponential(size=utility.shape))
        noisy = utility + gumbel
        noisy[seen[who, :n_available]] = -np.inf  # after the noise: -inf + inf would be nan
        what = np.argmax(noisy, axis=1)
        _, first = np.unique(who * n_items + what, return_index=True)
        keep = np.sort(first)
        who, what = who[keep], what[keep]
        users[pos : pos + len(keep)] = who
        items[pos : pos + len(keep)] = what
        seen[who, what] = True
        n_seen += np.bincount(who, minlength=n_users)
        pos += len(keep)
    return users, items


def _affinity_moments(user_factors: np.ndarray, item_factors: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of ``p_u . q_i`` over all user-item pairs, without the
    ``(n_users, n_items)`` matrix: ``E[(p . q)^2]`` is the inner product of the two
    second-moment matrices."""
    mean = float(user_factors.mean(axis=0) @ item_factors.mean(axis=0))
    second_users = user_factors.T @ user_factors / len(user_factors)
    second_items = item_factors.T @ item_factors / len(item_factors)
    variance = float((second_users * second_items).sum()) - mean**2
    return mean, float(np.sqrt(max(variance, 1e-12)))


def _item_table(rng: np.random.Generator, category: np.ndarray, arrival: np.ndarray) -> SideTable:
    names = np.array(
        [_GENRES[k] if k < len(_GENRES) else f"genre-{k}" for k in range(category.max() + 1)],
        dtype=object,
    )
    adjectives = rng.choice(np.array(_ADJECTIVES, dtype=object), size=len(category))
    titles = np.array(
        [f"{adjectives[i]} {names[k]} {i}" for i, k in enumerate(category)], dtype=object
    )
    return SideTable(
        np.arange(len(category), dtype=np.int64),
        {"title": titles, "category": names[category], "arrival": arrival},
    )
